/**
 * Fixtures for the Node-RED tests: node-red-node-test-helper (loaded once,
 * typed minimally), our node modules, and a user or doctor runtime built
 * from the core, the real UserKeys/DoctorKeyTracker and the in-process
 * parts of hub/src/nodered/memory.ts.
 */
import { createRequire } from 'node:module'
import { randomBytes } from 'node:crypto'
import { toHex, type DoctorKey, type Identity } from '../../hub/src/core/index.ts'
import { UserKeys } from '../../hub/src/roles/user/keys.ts'
import { DoctorKeyTracker } from '../../hub/src/roles/doctor/keys.ts'
import { MemoryChain, MemoryDocchain, MemoryIpfs, PushReadings } from '../../hub/src/nodered/memory.ts'
import { RUNTIMES_SETTING, type HealthchainRuntime, type SensorReading } from '../../hub/src/nodered/runtime.ts'
import type { Msg, RedApi } from '../../hub/src/nodered/kit.ts'
import { formatLine, readingToWire, parseLine } from '../../hub/src/ingest/line.ts'
import runtimeNode from '../../flows/nodes/lib/runtime.ts'
import { who } from './core.ts'

const require = createRequire(import.meta.url)

export interface TestNode {
  on: (ev: string, cb: (x: any) => void) => void
  once: (ev: string, cb: (x: any) => void) => void
  receive: (msg: Msg) => void
  error: { callCount: number }
}
interface Helper {
  init: (runtimePath: string) => void
  settings: (s: Record<string, unknown>) => void
  load: (nodes: Array<(RED: RedApi) => void>, flow: object[]) => Promise<void>
  unload: () => Promise<void>
  getNode: (id: string) => TestNode
}
export const helper = require('node-red-node-test-helper') as Helper
helper.init(require.resolve('node-red'))

export type NodeModule = (RED: RedApi) => void
export const rng = (n: number): Uint8Array => new Uint8Array(randomBytes(n))

export interface UserParts {
  rt: HealthchainRuntime
  keys: UserKeys
  ipfs: MemoryIpfs
  chain: MemoryChain
  readings: PushReadings
}

export function doctorKey (d: Identity): DoctorKey { return { id: d.id, x25519: d.agreement.publicKey } }

/** A user (hub) runtime; `epoch: false` leaves the user without a key epoch. */
export async function userRuntime (opts: { label?: string, doctors?: Identity[], epoch?: boolean } = {}): Promise<UserParts> {
  const identity = who(opts.label ?? 'nr-user')
  let clock = 1_790_000_000
  const now = (): number => clock++
  const docs = opts.doctors ?? []
  const directory = { lookup: (id: Uint8Array): DoctorKey | undefined => { const d = docs.find((x) => toHex(x.id) === toHex(id)); return d === undefined ? undefined : doctorKey(d) } }
  const keys = new UserKeys(identity, { rng, now, directory })
  const ipfs = new MemoryIpfs()
  const chain = new MemoryChain()
  const readings = new PushReadings()
  if (opts.epoch !== false) await chain.submit(keys.init())
  const rt: HealthchainRuntime = { role: 'user', identity, now, rng, keys, ipfs, txs: chain, miner: chain, readings }
  return { rt, keys, ipfs, chain, readings }
}

/** A doctor runtime sharing the user's IPFS (as the consortium's storage nodes make it). */
export function doctorRuntime (identity: Identity, ipfs: MemoryIpfs, analyze?: HealthchainRuntime['analyze']): { rt: HealthchainRuntime, tracker: DoctorKeyTracker, docchain: MemoryDocchain } {
  const tracker = new DoctorKeyTracker(identity)
  const docchain = new MemoryDocchain()
  let clock = 1_790_100_000
  const rt: HealthchainRuntime = { role: 'doctor', identity, now: () => clock++, rng, ipfs, doctorKeys: tracker, pbft: docchain, ...(analyze === undefined ? {} : { analyze }) }
  return { rt, tracker, docchain }
}

/**
 * Loads `flow` (on tab "f1", with a runtime config node "rt" bound to
 * `runtimes.hub`) with our runtime node plus `nodes`; unloads at teardown.
 */
export async function loadFlow (t: { teardown: (fn: () => unknown) => void }, nodes: NodeModule[], flow: object[], runtimes: Record<string, HealthchainRuntime> | undefined): Promise<void> {
  helper.settings(runtimes === undefined ? {} : { [RUNTIMES_SETTING]: runtimes })
  await helper.load([runtimeNode, ...nodes], [{ id: 'f1', type: 'tab', label: 'test' }, { id: 'rt', type: 'healthchain-runtime', key: 'hub' }, ...flow])
  t.teardown(async () => { await helper.unload() })
}

/** The next message a helper node receives. */
export function next (id: string): Promise<Msg> {
  return new Promise((resolve) => { helper.getNode(id).once('input', resolve) })
}

/** Collects every message a helper node receives. */
export function collect (id: string): Msg[] {
  const out: Msg[] = []
  helper.getNode(id).on('input', (m: Msg) => { out.push(m) })
  return out
}

/** A catch node "c" on tab f1 wired to helper "caught". */
export const CATCH = [{ id: 'c', type: 'catch', z: 'f1', scope: null, uncaught: false, wires: [['caught']] }, { id: 'caught', type: 'helper', z: 'f1' }]

export function reading (t: string, v: number | number[], s: number, d = 'ox-1'): SensorReading {
  return readingToWire(parseLine(formatLine({ d, b: 7, s, t: t as never, v, ts: 1000 + s })))
}
