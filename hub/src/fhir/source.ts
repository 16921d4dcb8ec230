/**
 * Where a FHIR API finds its data, the one difference between a hub (the
 * user's own data: every key epoch, paper §IV-B5 — Env_U opens each) and a
 * doctor node (the epochs a tx_key granted it, §IV-B5 Alg. 3; nothing sealed
 * after a revocation, §V-C). Both read the same things: the user's tx_IoT
 * and tx_key on their copy of Userchain, the sealed batch each tx_IoT names
 * (fetched by digest, CID-verified), opened with Ik of its epoch, and the
 * diagnoses (tx_diag) that cite them.
 */
import { fromHex, openBatch, toHex, txId, type Tx, type TxIoT, type TxKey } from '../core/index.ts'
import type { Diagnosis } from '../ai/analyzer.ts'

/** A tx_IoT of a patient: the sealed batch it names and whether this node can open it. */
export interface BatchRef {
  /** htxI (hex) */
  readonly id: string
  readonly patient: string
  readonly epoch: number
  /** the tx_IoT's timestamp (ms) */
  readonly ts: number
  readonly tx: TxIoT
  /** false: sealed under an epoch this node holds no key for */
  readonly readable: boolean
}

/** A committed diagnosis (tx_diag) of a patient, opened. */
export interface DiagnosisRef {
  /** htxd (hex) */
  readonly id: string
  readonly patient: string
  /** the doctor's ID (hex) */
  readonly doctor: string
  /** htxI (hex) of each cause, in the tx_diag's order */
  readonly causes: readonly string[]
  readonly diagnosis: Diagnosis
  /** when it became available (ms): the tx_diag's timestamp */
  readonly issued: number
}

export type Access =
  | { readonly ok: true, readonly revoked?: { readonly epoch: number, readonly at: number } }
  | { readonly ok: false, readonly status: 403 | 404, readonly reason: string }

export interface FhirSource {
  /** 'hub': the user's own data; 'doctor': granted data. */
  readonly kind: 'hub' | 'doctor'
  /** Patients whose data this node may serve (hex IDs). */
  patients: () => Promise<readonly string[]>
  /** May this node serve this patient, and up to when? */
  access: (patient: string) => Promise<Access>
  /** The patient's tx_IoT on this node's Userchain (best chain, then mempool), oldest first. */
  batches: (patient: string) => Promise<readonly BatchRef[]>
  /** The plaintext of a readable batch. */
  open: (b: BatchRef) => Promise<Uint8Array>
  diagnoses: (patient: string) => Promise<readonly DiagnosisRef[]>
}

/** The parts of a core node (roles/core) a source reads: the best chain's user index and the mempool. */
export interface ChainView {
  readonly store: {
    userTxs: (id: Uint8Array) => Promise<Array<{ txid: Uint8Array }>>
    confirmedTx: (id: Uint8Array) => Promise<Tx | undefined>
  }
  readonly mempool: { list: () => Iterable<{ bt: { id: Uint8Array, tx: Tx } }> }
}

export interface UserTxs { readonly iot: readonly TxIoT[], readonly keys: readonly TxKey[] }

/**
 * A user's tx_IoT and tx_key on the best chain, then those still in the
 * mempool. Transactions are immutable, so each is read from its block once
 * (`memo`); a reorg drops it from the index, so from the answer too.
 */
export function userTxsReader (chain: ChainView): (user: string) => Promise<UserTxs> {
  const memo = new Map<string, Tx | null>()
  return async (user) => {
    const u = fromHex('patient', user)
    const iot: TxIoT[] = []
    const keys: TxKey[] = []
    const take = (tx: Tx | null | undefined): void => {
      if (tx?.kind === 'iot' && toHex(tx.user) === user) iot.push(tx)
      if (tx?.kind === 'key' && toHex(tx.user) === user) keys.push(tx)
    }
    const seen = new Set<string>()
    for (const { txid } of await chain.store.userTxs(u)) {
      const k = toHex(txid)
      seen.add(k)
      let tx = memo.get(k)
      if (tx === undefined) { tx = await chain.store.confirmedTx(txid) ?? null; if (tx !== null) memo.set(k, tx) }
      take(tx)
    }
    for (const e of chain.mempool.list()) if (!seen.has(toHex(e.bt.id))) take(e.bt.tx)
    return { iot, keys }
  }
}

export interface ChainSourceOptions {
  readonly kind: 'hub' | 'doctor'
  readonly chain: ChainView
  /** Fetches content by digest (HEIoT, HEdm), verified against it. */
  readonly fetch: (digest: Uint8Array) => Promise<Uint8Array>
  /** Ik of a patient's epoch, or undefined when this node holds none. */
  readonly ik: (patient: string, epoch: number) => Uint8Array | undefined
  readonly patients: () => readonly string[]
  readonly access: (patient: string, txs: UserTxs) => Access
  readonly diagnoses: (patient: string, batches: (patient: string) => Promise<UserTxs>) => Promise<readonly DiagnosisRef[]>
}

/** A source over a Userchain copy, an IPFS fetch and a key lookup: what both the hub and the doctor node are. */
export function chainSource (o: ChainSourceOptions): FhirSource {
  const txs = userTxsReader(o.chain)
  return {
    kind: o.kind,
    patients: async () => o.patients(),
    access: async (p) => o.access(p, await txs(p)),
    batches: async (p) => (await txs(p)).iot.map((tx) => ({
      id: toHex(txId(tx)), patient: p, epoch: tx.epoch, ts: tx.ts * 1000, tx, readable: o.ik(p, tx.epoch) !== undefined
    })),
    open: async (b) => {
      const ik = o.ik(b.patient, b.epoch)
      if (ik === undefined) throw new TypeError(`no key for epoch ${b.epoch}`)
      return openBatch(ik, b.tx.user, b.epoch, await o.fetch(b.tx.heiot))
    },
    diagnoses: async (p) => await o.diagnoses(p, txs)
  }
}
