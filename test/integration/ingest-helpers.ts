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
import type { BatchRecord, PendingReading } from '../../hub/src/ingest/store.ts'

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

/** A socat pseudo-terminal pair: `a` and `b` are symlinks to the two ptys. */
export interface PtyPair { a: string, b: string, stop: () => Promise<void> }

export async function ptyPair (t: Teardown, dir: string, a = 'dev', b = 'hub'): Promise<PtyPair> {
  const { spawn } = await import('node:child_process')
  const { existsSync } = await import('node:fs')
  const pa = join(dir, a)
  const pb = join(dir, b)
  const proc = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${pa}`, `pty,raw,echo=0,link=${pb}`], { stdio: 'ignore' })
  let exited = false
  const exit = new Promise<void>((resolve) => proc.once('exit', () => { exited = true; resolve() }))
  const stop = async (): Promise<void> => { if (!exited) { proc.kill('SIGTERM'); await exit } }
  t.teardown(stop)
  await until(() => exited || (existsSync(pa) && existsSync(pb)), 10_000, 'socat ptys')
  if (exited) throw new Error('socat exited')
  return { a: pa, b: pb, stop }
}

/** Run hub/src/ingest/main.ts as a child process; resolves once it printed "ready". */
export async function startHubProcess (t: Teardown, args: string[]): Promise<import('node:child_process').ChildProcess> {
  const { spawn } = await import('node:child_process')
  const { createInterface } = await import('node:readline')
  const { fileURLToPath } = await import('node:url')
  const main = fileURLToPath(new URL('../../hub/src/ingest/main.ts', import.meta.url))
  const proc = spawn(process.execPath, ['--no-warnings', main, ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL') })
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: proc.stdout! }).once('line', (l) => { if (l.startsWith('ready')) resolve(); else reject(new Error(l)) })
    proc.once('exit', (code) => { reject(new Error(`hub exited with ${code}`)) })
  })
  return proc
}

/** SIGKILL (or another signal) and wait for the exit. */
export async function killAndWait (proc: import('node:child_process').ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return
  const exited = new Promise<void>((resolve) => proc.once('exit', () => { resolve() }))
  proc.kill(signal)
  await exited
}

/**
 * How often each reading ("device/seq") is in an ingest store — pending or in
 * a closed batch — and the closed batches: what the crash tests check every
 * acknowledged reading against.
 */
export async function storedReadings (ing: Ingest): Promise<{ seen: Map<string, number>, batches: BatchRecord[] }> {
  const seen = new Map<string, number>()
  const count = (p: PendingReading): void => { const k = `${p.w.d}/${p.w.s}`; seen.set(k, (seen.get(k) ?? 0) + 1) }
  for await (const [, p] of ing.store.scan<PendingReading>('pend!')) count(p)
  const batches = await ing.batches()
  for (const b of batches) for (const p of b.readings) count(p)
  return { seen, batches }
}
