/**
 * Runtimes for the Node-RED tests and the flow bench: a user (hub) or
 * doctor runtime built from the core, the real UserKeys / DoctorKeyTracker
 * and the in-process parts of test/helpers/nodered-memory.ts.
 */
import { randomBytes } from 'node:crypto'
import { toHex, type DoctorKey, type Identity } from '../../hub/src/core/index.ts'
import { UserKeys } from '../../hub/src/roles/user/keys.ts'
import { DoctorKeyTracker } from '../../hub/src/roles/doctor/keys.ts'
import { MemoryChain, MemoryDocchain, MemoryIpfs, PushReadings } from './nodered-memory.ts'
import type { HealthchainRuntime, SensorReading } from '../../hub/src/nodered/runtime.ts'
import { formatLine, readingToWire, parseLine } from '../../hub/src/ingest/line.ts'
import { who } from './core.ts'

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

export function reading (t: string, v: number | number[], s: number, d = 'ox-1'): SensorReading {
  return readingToWire(parseLine(formatLine({ d, b: 7, s, t: t as never, v, ts: 1000 + s })))
}
