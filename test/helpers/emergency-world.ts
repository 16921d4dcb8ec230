/**
 * A world for emergency access (README "Emergency access"): a devnet
 * Userchain on a core node; a patient who opted in, so each of its tx_keys
 * escrows the epoch's Ik 3-of-4 to the accounting nodes (their identity
 * records published in the registry); four AccountingNodes in this process
 * (memory-consortium.ts) reading that Userchain; an emergency doctor, a
 * plain registered doctor and an unregistered one. `epoch()` opens the next
 * key epoch (escrowed) and seals a batch under it, so a test can tell which
 * epochs an Ik opens.
 */
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import {
  buildTxEmergency, DEVNET, sealBatch, toHex, txId, utf8Bytes, type Dblock, type DocTx, type Identity, type TxEmergency, type TxKey, type TxRelease
} from '../../hub/src/core/index.ts'
import { CoreNode } from '../../hub/src/roles/core/node.ts'
import { UserchainView } from '../../hub/src/roles/accounting/userchain-view.ts'
import { CreditBook } from '../../hub/src/roles/consortium/credit.ts'
import type { AccountingNode, DiagReceipt } from '../../hub/src/roles/accounting/node.ts'
import { UserKeys, type EpochChange } from '../../hub/src/roles/user/keys.ts'
import { who } from './core.ts'
import { mine, until } from './doctor-world.ts'
import { startMemoryConsortium } from './memory-consortium.ts'

interface Teardown { teardown: (fn: () => unknown) => void }

export const patient = who('em-patient')
export const erDoctor = who('em-er-doctor')
export const gp = who('em-gp')
export const stranger = who('em-stranger')
export const consortium = who('em-consortium')
export const members = [0, 1, 2, 3].map((i) => who(`em-accounting-${i}`))
export const THRESHOLD = 3

const rng = (n: number): Uint8Array => new Uint8Array(randomBytes(n))
const now = (): number => Math.floor(Date.now() / 1000) - 5

export interface EmergencyWorld {
  readonly core: CoreNode
  readonly nodes: readonly AccountingNode[]
  readonly keys: UserKeys
  /** The patient's tx_keys by epoch, and a batch sealed under each. */
  readonly txKeys: Map<number, TxKey>
  readonly batches: Map<number, Uint8Array>
  /** Opens the next epoch (escrowed), mines its tx_key and seals a batch under it. */
  epoch: (change: EpochChange) => Promise<TxKey>
  /** The doctor's request for `epochs`, signed by `by` (default the emergency doctor). */
  request: (epochs: number[], by?: Identity) => TxEmergency
  /** Submits to member `i` (default 0). */
  submit: (tx: DocTx | Uint8Array, i?: number) => Promise<DiagReceipt>
  /** The releases of request `id` on member `i`'s Docchain, once at least `count` are there. */
  releases: (request: TxEmergency, count: number, i?: number) => Promise<TxRelease[]>
  /** Every transaction on member `i`'s Docchain. */
  docchain: (i?: number) => Promise<DocTx[]>
}

export async function emergencyWorld (t: Teardown, dir: string, o: { log?: (l: string) => void } = {}): Promise<EmergencyWorld> {
  const core = await CoreNode.open({ dir: join(dir, 'userchain'), params: DEVNET, verifyThreads: 1 })
  t.teardown(async () => { await core.close() })
  const view = new UserchainView(core.store)
  const credit = new CreditBook(core.store, consortium.id)
  const { nodes, registry } = await startMemoryConsortium(t, {
    dir, members, consortium, doctors: [erDoctor, gp], emergency: [erDoctor], view, credit,
    tune: { replica: { batchDelayMs: 5, requestTimeoutMs: 3000, viewChangeTimeoutMs: 3000 }, tickMs: 10, log: o.log ?? (() => {}) }
  })
  const directory = { lookup: (id: Uint8Array) => registry.lookup(id) }
  // opted in: t of the accounting nodes whose identity records the registry publishes
  const keys = new UserKeys(patient, { rng, now, directory, escrow: () => ({ threshold: THRESHOLD, members: registry.accounting().map((r) => ({ id: r.id, x25519: r.x25519 })) }) })
  await mine(core, patient.id)
  const txKeys = new Map<number, TxKey>()
  const batches = new Map<number, Uint8Array>()
  const world: EmergencyWorld = {
    core,
    nodes,
    keys,
    txKeys,
    batches,
    epoch: async (change) => {
      const tx = await keys.prepareEscrowed(change)
      const r = await core.submitTx(tx)
      if (!r.accepted) throw new Error(`Userchain refused the tx_key: ${r.reason}`)
      keys.apply(tx)
      await mine(core, patient.id)
      txKeys.set(tx.epoch, tx)
      batches.set(tx.epoch, sealBatch(keys.current!.ik, rng(12), patient.id, tx.epoch, utf8Bytes(`readings of epoch ${tx.epoch}`)))
      return tx
    },
    request: (epochs, by = erDoctor) => buildTxEmergency(by, { ts: now(), patient: patient.id, epochs, reason: 'found unconscious; suspected hypoglycaemia' }),
    submit: async (tx, i = 0) => await nodes[i]!.submit(tx),
    releases: async (request, count, i = 0) => {
      const id = txId(request)
      return await until(`${count} releases of the request on member ${i}'s Docchain`, async () => {
        const rs = (await world.docchain(i)).filter((x): x is TxRelease => x.kind === 'release' && toHex(x.request) === toHex(id))
        return rs.length >= count ? rs : undefined
      }, 60_000)
    },
    docchain: async (i = 0) => {
      const out: DocTx[] = []
      for (let h = 1; h <= nodes[i]!.height; h++) { const b: Dblock | undefined = await nodes[i]!.block(h); for (const x of b?.txs ?? []) out.push(x.tx as DocTx) }
      return out
    }
  }
  return world
}
