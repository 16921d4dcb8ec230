/**
 * Helpers for the ingest tests: temp dirs, free ports, a registered hub.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Ingest } from '../../hub/src/ingest/pipeline.ts'
import type { IngestOptions } from '../../hub/src/ingest/pipeline.ts'
import type { SensorType } from '../../hub/src/ingest/line.ts'

interface Teardown { teardown: (fn: () => unknown) => void }

export async function tempDir (t: Teardown, name: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `hc-ingest-${name}-`))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

/** A port that was free a moment ago (for servers that cannot take port 0). */
export async function freePort (): Promise<number> {
  const srv = createServer()
  await new Promise<void>((resolve, reject) => { srv.once('error', reject); srv.listen(0, '127.0.0.1', resolve) })
  const port = (srv.address() as AddressInfo).port
  await new Promise<void>((resolve) => { srv.close(() => { resolve() }) })
  return port
}

export async function openIngest (t: Teardown, dir: string, opts: IngestOptions = {}): Promise<Ingest> {
  const ing = await Ingest.open(join(dir, 'ingest'), { sync: false, ...opts })
  t.teardown(() => ing.close())
  return ing
}

/** Register devices; returns their secrets. */
export async function addDevices (ing: Ingest, user: string, devices: Array<[string, SensorType]>): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const [id, sensor] of devices) out[id] = (await ing.registry.add(id, { user, sensors: [sensor] })).secret
  return out
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Poll `cond` every 20 ms until true; fails after `ms` (a bound, not a timing assertion). */
export async function until (cond: () => boolean | Promise<boolean>, ms = 20_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}
