/**
 * The doctor node (paper §IV-B5 "Disease diagnosis", Alg. 4). It watches
 * Userchain for its patients' transactions:
 * - tx_key → the key tracker updates (grants, revocations);
 * - tx_IoT → if the patient has paid and this doctor holds the epoch's key,
 *   fetch the sealed batch from IPFS, decrypt it with Ik, hand the readings
 *   to the analyzer; the patient's episode (ai/episodes.ts) says whether
 *   the batch changes anything that matters (an episode opened, worsened, a
 *   new finding, resolved): only then an AI doctor seals the diagnosis with
 *   dk_ij, uploads it, builds a tx_diag naming every htxI it used and
 *   submits it, and a human doctor gets it in its review queue — one
 *   diagnosis per change, not one per batch.
 * A revoked doctor holds no key for post-revocation epochs, so it has nothing
 * to decrypt and cannot seal a diagnosis for that data (NotGrantedError).
 * I/O is injected (chain feed, IPFS, PBFT client, payments, clock, rng).
 */
import {
  buildTxDiag, contentDigest, InvalidFieldError, openBatch, sealDiagnosis, toHex, txId,
  type Identity, type Tx, type TxDiag, type TxIoT
} from '../../core/index.ts'
import { analyze, maxSeverity, type Diagnosis, type Severity, type VitalReading } from '../../ai/analyzer.ts'
import { EpisodeTracker, type EpisodeChange, type EpisodeOptions } from '../../ai/episodes.ts'
import { DoctorKeyTracker } from './keys.ts'

export interface DoctorIo {
  /** Fetches content by its digest (HEIoT), verified against it. */
  fetch: (digest: Uint8Array) => Promise<Uint8Array>
  /** Stores content and waits for the storage nodes' acks; returns its digest (HEdm). */
  upload: (bytes: Uint8Array) => Promise<Uint8Array>
  /** Sends a tx_diag to the accounting nodes; resolves when committed (or rejects with the reason). */
  submit: (tx: TxDiag) => Promise<void>
  /** Has this user prepaid enough Healthcoin for another diagnosis? (§IV-B4) */
  hasPaid: (user: Uint8Array) => Promise<boolean>
  now: () => number
  rng: (n: number) => Uint8Array
}

export interface DoctorOptions {
  /** 'ai': diagnose and submit automatically; 'human': queue for review. */
  readonly mode: 'ai' | 'human'
  /** Least severity worth a tx_diag (AI mode; default 'low'): routine batches cost the patient nothing. */
  readonly minSeverity?: Severity
  /** Episode timing (the recovery time before an episode closes). */
  readonly episodes?: EpisodeOptions
  readonly onEvent?: (e: DoctorEvent) => void
}

export type DoctorEvent =
  | { type: 'key', user: string, change: string }
  /** `analysed`: the batch was read and is done with (nothing worth a diagnosis); otherwise it was not read. */
  | { type: 'skipped', htxI: string, reason: string, analysed?: boolean }
  | { type: 'diagnosed', htxI: string, severity: Severity, change: EpisodeChange, episode?: string }
  /** A revoked patient's reviews, dropped from the queue (signed diagnoses stay). */
  | { type: 'dropped', user: string, ids: string[] }
  | { type: 'submitted', htxd: string, causes: string[], severity: Severity }
  | { type: 'queued', htxI: string, severity: Severity }
  | { type: 'error', htxI: string, error: Error }

export interface PendingReview { readonly causes: TxIoT[], readonly diagnosis: Diagnosis }

/**
 * A batch's plaintext: a JSON array of readings, or an object with
 * `readings`; each reading in wire form ({t, v, ts}) or the ingest model's
 * ({type, value, ts}, with the hub's receive time `at` when present).
 */
export function parseBatch (plain: Uint8Array): VitalReading[] {
  let j: unknown
  try { j = JSON.parse(new TextDecoder().decode(plain)) } catch (err) {
    throw new InvalidFieldError('batch', `not JSON: ${(err as Error).message}`)
  }
  const arr: unknown[] = Array.isArray(j) ? j : (j !== null && typeof j === 'object' && Array.isArray((j as { readings?: unknown }).readings) ? (j as { readings: unknown[] }).readings : [])
  return arr.map((x) => {
    const r = (x ?? {}) as Record<string, unknown>
    const at = typeof r.at === 'number' ? r.at : r.ts
    if (r.t !== undefined) return (typeof r.at === 'number' ? { ...r, ts: r.at } : r) as unknown as VitalReading
    return { t: r.type, v: r.value, ts: at, ...(typeof r.device === 'string' ? { d: r.device } : {}) } as VitalReading
  })
}

export class DoctorNode {
  readonly identity: Identity
  readonly keys: DoctorKeyTracker
  private readonly io: DoctorIo
  private readonly opts: DoctorOptions
  readonly reviewQueue: PendingReview[] = []
  readonly episodes: EpisodeTracker
  /** Patients who revoked this doctor: when it learnt of it (seconds, io.now()) and the reviews that were dropped. */
  readonly revocations = new Map<string, { readonly at: number, readonly dropped: number }>()
  /** htxI already handled: a tx seen in the mempool (real-time path) is not diagnosed again when its block arrives. */
  private readonly handled = new Set<string>()

  constructor (identity: Identity, io: DoctorIo, opts: DoctorOptions) {
    this.identity = identity
    this.keys = new DoctorKeyTracker(identity)
    this.io = io
    this.opts = opts
    this.episodes = new EpisodeTracker(opts.episodes)
  }

  private emit (e: DoctorEvent): void { this.opts.onEvent?.(e) }

  /** Feed every Userchain transaction (mempool or confirmed), in chain order. */
  async onTx (tx: Tx): Promise<void> {
    if (tx.kind === 'key') {
      const change = this.keys.observe(tx)
      if (change !== 'ignored') this.emit({ type: 'key', user: toHex(tx.user), change })
      const user = toHex(tx.user)
      if (change === 'revoked') {
        // what was not signed yet is dropped: the patient withdrew consent; what was signed stays signed
        const ids = this.reviewQueue.filter((r) => toHex(r.causes[0]!.user) === user).map((r) => toHex(txId(r.causes[0]!)))
        for (let i = this.reviewQueue.length - 1; i >= 0; i--) if (toHex(this.reviewQueue[i]!.causes[0]!.user) === user) this.reviewQueue.splice(i, 1)
        this.episodes.forget(user)
        this.revocations.set(user, { at: this.io.now(), dropped: ids.length })
        this.emit({ type: 'dropped', user, ids })
      }
      if (change === 'granted') this.revocations.delete(user)
      return
    }
    if (tx.kind !== 'iot') return
    const id = toHex(txId(tx))
    if (this.handled.has(id)) return
    if (!this.keys.holds(tx.user, tx.epoch)) {
      // not our patient, or a revoked doctor: nothing to decrypt
      if (this.keys.status(tx.user) !== undefined) this.emit({ type: 'skipped', htxI: id, reason: `no key for epoch ${tx.epoch}` })
      return
    }
    this.handled.add(id)
    try {
      await this.handleIoT([tx])
    } catch (err) {
      // not handled after all: seen again (its block, a retry, a restart) it is tried again
      this.handled.delete(id)
      this.emit({ type: 'error', htxI: id, error: err as Error })
    }
  }

  /** Decrypts the batches of one user's tx_IoTs and returns their readings. */
  async readings (txs: readonly TxIoT[]): Promise<VitalReading[]> {
    const out: VitalReading[] = []
    for (const tx of txs) {
      const { ik } = this.keys.keysFor(tx.user, tx.epoch)
      const sealed = await this.io.fetch(tx.heiot)
      out.push(...parseBatch(openBatch(ik, tx.user, tx.epoch, sealed)))
    }
    return out
  }

  private async handleIoT (txs: TxIoT[]): Promise<void> {
    const first = txs[0]!
    const htxI = toHex(txId(first))
    if (!(await this.io.hasPaid(first.user))) {
      this.emit({ type: 'skipped', htxI, reason: 'the patient has not prepaid Healthcoin' })
      return
    }
    const analysed = analyze(await this.readings(txs))
    const step = this.episodes.step(toHex(first.user), { id: htxI, diagnosis: analysed })
    const diagnosis = step.ref === undefined ? analysed : { ...analysed, episode: step.ref }
    this.emit({ type: 'diagnosed', htxI, severity: diagnosis.severity, change: step.change, ...(step.episode === undefined ? {} : { episode: step.episode.id }) })
    if (!step.matters) {
      this.emit({ type: 'skipped', htxI, reason: step.change === 'normal' ? 'no finding' : `episode ${step.change}: nothing new worth a diagnosis`, analysed: true })
      return
    }
    if (this.opts.mode === 'human') {
      this.reviewQueue.push({ causes: txs, diagnosis })
      this.emit({ type: 'queued', htxI, severity: diagnosis.severity })
      return
    }
    // an episode is diagnosed (and its resolution reported) when it reached the least severity worth it
    const min = this.opts.minSeverity ?? 'low'
    const severity = step.change === 'resolved' ? step.episode!.peak : diagnosis.severity
    if (maxSeverity(severity, min) !== severity) {
      this.emit({ type: 'skipped', htxI, reason: `severity ${severity} is below ${min}`, analysed: true })
      return
    }
    await this.publish(txs, diagnosis)
  }

  /**
   * Alg. 4: seal the diagnosis with dk_ij of the first cause's epoch, upload
   * it, sign a tx_diag citing every cause, submit it and wait for its commit.
   */
  async publish (causes: readonly TxIoT[], diagnosis: Diagnosis): Promise<TxDiag> {
    const first = causes[0]!
    const { dk } = this.keys.keysFor(first.user, first.epoch)
    const ids = causes.map((c) => txId(c))
    const { tx } = await sealDiagnosisTx(this.identity, dk, ids, { ...diagnosis, causes: ids.map(toHex) }, this.io)
    await this.io.submit(tx)
    this.emit({ type: 'submitted', htxd: toHex(txId(tx)), causes: ids.map(toHex), severity: diagnosis.severity })
    return tx
  }
}

/**
 * Alg. 4 lines 1–5, shared by the doctor node and the Node-RED `diagnose`
 * node: seal the diagnosis with dk_ij (AAD: doctor ‖ first htxI), upload it
 * (replicated before the tx names it), and sign tx_diag = {ID_D, ts, [htxI…], HEdm}.
 */
export async function sealDiagnosisTx (
  doctor: Identity, dk: Uint8Array, causes: readonly Uint8Array[], diagnosis: unknown,
  io: Pick<DoctorIo, 'upload' | 'rng' | 'now'>
): Promise<{ tx: TxDiag, sealed: Uint8Array, hedm: Uint8Array }> {
  const sealed = sealDiagnosis(dk, io.rng(12), doctor.id, causes[0]!, new TextEncoder().encode(JSON.stringify(diagnosis)))
  const hedm = await io.upload(sealed)
  if (toHex(hedm) !== toHex(contentDigest(sealed))) throw new InvalidFieldError('hedm', 'the upload returned a digest that is not the content\'s')
  return { tx: buildTxDiag(doctor, { ts: io.now(), causes, hedm }), sealed, hedm }
}
