/**
 * The doctor daemon's emergency access (README "Emergency access"; paper
 * §III-A doctor node, §IV-B5 key management): a doctor the consortium
 * registered with the emergency role asks for a patient's escrowed epochs
 * with a reason (a tx_emergency, committed on Docchain through the
 * accounting nodes like a tx_diag); the accounting nodes' releases arrive in
 * the Dblocks this daemon follows; with t of them (roles/doctor/emergency.ts)
 * it opens those epochs and reads the patient's batches of them — fetched
 * from IPFS, decrypted, analysed as a granted doctor's are — but signs no
 * tx_diag: the escrow holds Ik only, no diagnosis key dk, so the accounting
 * nodes would refuse one.
 *
 * What it asked is kept in `<dataDir>/emergency.json` (the request bytes,
 * nothing secret); the Dblocks holding its requests and releases are kept by
 * the Docchain follower, so after a restart the releases are opened again
 * with the doctor's key: no Ik is ever written to disk.
 */
import { readFile, rename, writeFile } from 'node:fs/promises'
import {
  buildTxEmergency, decodeTx, encodeTx, fromHex, MAX_EMERGENCY_EPOCHS, openBatch, toHex, txId,
  NoEscrowError, NotEmergencyDoctorError, HealthchainError,
  type Dblock, type Identity, type TxEmergency, type TxIoT, type TxKey, type TxRelease
} from '../core/index.ts'
import type { DoctorRegistry } from '../core/pbft/registry.ts'
import { analyze, type VitalReading } from '../ai/analyzer.ts'
import type { DoctorEmergencyView } from '../web/model.ts'
import { EmergencyKeys } from '../roles/doctor/emergency.ts'
import { parseBatch } from '../roles/doctor/doctor.ts'
import { NotEnoughReleasesError, UnknownPatientError } from '../roles/doctor/errors.ts'
import { MalformedEmergencyError, UnopenedEpochError } from '../roles/accounting/errors.ts'

/** One emergency access as the doctor's API and page list it. */
export type DoctorEmergencyInfo = DoctorEmergencyView

export interface DoctorEmergencyDeps {
  readonly identity: Identity
  /** The file the requests are kept in. */
  readonly file: string
  /** The registry folded from Docchain (this doctor's role). */
  readonly registry: () => DoctorRegistry
  /** The tx_key that opened the patient's epoch on the best chain, or null. */
  readonly keyTx: (patient: Uint8Array, epoch: number) => Promise<TxKey | null>
  /** The patient's tx_IoT of these epochs on this node's Userchain copy. */
  readonly iots: (patient: Uint8Array, epochs: ReadonlySet<number>) => Promise<TxIoT[]>
  /** The sealed batch named by a digest, from IPFS. */
  readonly fetch: (digest: Uint8Array) => Promise<Uint8Array>
  /** Sends the request to the accounting nodes; resolves once one answered that it committed, throws the refusal. */
  readonly submit: (bytes: Uint8Array) => Promise<void>
  readonly now: () => number
  readonly log: (line: string) => void
}

interface Access {
  readonly request: TxEmergency
  readonly id: string
  keys: EmergencyKeys
  committed: boolean
  iks: Map<number, Uint8Array> | null
  readonly read: Map<string, { epoch: number, readings: VitalReading[] }>
  problem?: string
}

export class DoctorEmergency {
  private readonly d: DoctorEmergencyDeps
  private readonly accesses = new Map<string, Access>()

  private constructor (d: DoctorEmergencyDeps) { this.d = d }

  /** Loads the requests asked before (their tx_keys from Userchain); `kept`: the Dblocks kept for them, replayed. */
  static async open (d: DoctorEmergencyDeps): Promise<DoctorEmergency> {
    const self = new DoctorEmergency(d)
    const text = await readFile(d.file, 'utf8').catch((err: NodeJS.ErrnoException) => { if (err.code === 'ENOENT') return null; throw err })
    for (const hex of text === null ? [] : JSON.parse(text) as string[]) {
      const tx = decodeTx(fromHex('emergency.json', hex))
      if (tx.kind === 'emergency') await self.track(tx)
    }
    return self
  }

  /**
   * Asks for `epochs` of `patient`: checks what this node can check itself
   * (its emergency role, the patient, each epoch opened with an escrow),
   * signs the tx_emergency, keeps it, and sends it to the accounting nodes.
   */
  async request (patientHex: string, epochs: readonly number[], reason: string): Promise<DoctorEmergencyInfo> {
    const me = this.d.identity
    if (!this.d.registry().isEmergency(me.id)) throw new NotEmergencyDoctorError(toHex(me.id))
    const patient = fromHex('patient', patientHex)
    const sorted = [...new Set(epochs)].sort((a, b) => a - b)
    if (sorted.length === 0 || sorted.length > MAX_EMERGENCY_EPOCHS) throw new MalformedEmergencyError(`epochs: between 1 and ${MAX_EMERGENCY_EPOCHS}`)
    if (await this.d.keyTx(patient, 1) === null) throw new UnknownPatientError(patientHex)
    for (const e of sorted) {
      const k = await this.d.keyTx(patient, e)
      if (k === null) throw new UnopenedEpochError(patientHex, e)
      if (k.escrow == null) throw new NoEscrowError(patientHex, e)
    }
    const tx = buildTxEmergency(me, { ts: this.d.now(), patient, epochs: sorted, reason })
    const a = await this.track(tx)
    await this.save()
    this.d.log(`emergency request ${a.id.slice(0, 12)}… for patient ${patientHex.slice(0, 12)}…, epochs ${sorted.join(', ')}: sent`)
    try { await this.d.submit(encodeTx(tx)) } catch (err) {
      // refused (or no accounting node answered): not an access; the doctor may ask again
      this.accesses.delete(a.id)
      await this.save()
      throw err
    }
    a.committed = true
    this.d.log(`emergency request ${a.id.slice(0, 12)}… committed on Docchain; waiting for the accounting nodes' releases`)
    return this.info(a)
  }

  /** A Dblock this daemon followed: its releases of our requests are opened. Answers whether to keep it (it holds one of ours). */
  async onDblock (b: Dblock): Promise<boolean> {
    let keep = false
    for (const t of b.txs) {
      const tx = t.tx as { kind: string }
      if (tx.kind === 'emergency' && this.accesses.has(toHex(t.id))) { this.accesses.get(toHex(t.id))!.committed = true; keep = true }
      if (tx.kind !== 'release') continue
      const r = tx as TxRelease
      const a = this.accesses.get(toHex(r.request))
      if (a === undefined) continue
      keep = true
      a.committed = true
      try { a.keys.add(r) } catch (err) {
        if (!(err instanceof HealthchainError)) throw err
        this.d.log(`emergency request ${a.id.slice(0, 12)}…: release by ${toHex(r.member).slice(0, 12)}… refused: ${err.message}`)
        continue
      }
      await this.tryOpen(a)
    }
    return keep
  }

  /** A tx_IoT on Userchain: read when it falls in an opened epoch (a batch sealed after the request, until the next rotation). */
  async onIoT (tx: TxIoT): Promise<void> {
    for (const a of this.accesses.values()) {
      if (a.iks?.has(tx.epoch) === true && toHex(a.request.patient) === toHex(tx.user)) await this.read(a, [tx])
    }
  }

  list (): DoctorEmergencyInfo[] {
    return [...this.accesses.values()].sort((x, y) => y.request.ts - x.request.ts).map((a) => this.info(a))
  }

  private async track (tx: TxEmergency): Promise<Access> {
    const id = toHex(txId(tx))
    const have = this.accesses.get(id)
    if (have !== undefined) return have
    const keys: TxKey[] = []
    for (const e of tx.epochs) { const k = await this.d.keyTx(tx.patient, e); if (k !== null) keys.push(k) }
    const a: Access = { request: tx, id, keys: new EmergencyKeys(this.d.identity, tx, keys), committed: false, iks: null, read: new Map() }
    this.accesses.set(id, a)
    return a
  }

  private async tryOpen (a: Access): Promise<void> {
    if (a.iks !== null) return
    try { a.iks = await a.keys.open() } catch (err) {
      if (err instanceof NotEnoughReleasesError) return
      if (!(err instanceof HealthchainError)) throw err
      a.problem = err.message
      this.d.log(`emergency request ${a.id.slice(0, 12)}…: ${err.message}`)
      return
    }
    delete a.problem
    this.d.log(`emergency request ${a.id.slice(0, 12)}…: ${a.keys.released} releases, epochs ${a.request.epochs.join(', ')} opened`)
    await this.read(a, await this.d.iots(a.request.patient, new Set(a.request.epochs)))
  }

  private async read (a: Access, txs: readonly TxIoT[]): Promise<void> {
    for (const tx of txs) {
      const htxI = toHex(txId(tx))
      const ik = a.iks?.get(tx.epoch)
      if (ik === undefined || a.read.has(htxI)) continue
      try {
        const readings = parseBatch(openBatch(ik, tx.user, tx.epoch, await this.d.fetch(tx.heiot)))
        a.read.set(htxI, { epoch: tx.epoch, readings })
      } catch (err) {
        this.d.log(`emergency request ${a.id.slice(0, 12)}…: batch ${htxI.slice(0, 12)}… not read: ${(err as Error).message}`)
      }
    }
  }

  private info (a: Access): DoctorEmergencyInfo {
    const all = [...a.read.values()].flatMap((b) => b.readings)
    const dx = all.length === 0 ? null : analyze(all)
        return {
      id: a.id,
      patient: toHex(a.request.patient),
      epochs: a.request.epochs,
      reason: a.request.reason,
      ts: a.request.ts,
      status: a.iks !== null ? 'open' : a.committed ? 'committed' : 'submitted',
      released: a.keys.members(),
      threshold: a.keys.threshold,
      batches: [...a.read.entries()].map(([htxI, b]) => ({ htxI, epoch: b.epoch, readings: b.readings.length })),
      ...(dx === null ? {} : { analysis: { severity: dx.severity, news2: dx.news2.total, findings: dx.findings.map((f) => f.text), recommendation: dx.recommendation } }),
      ...(a.problem === undefined ? {} : { problem: a.problem })
    }
  }

  private async save (): Promise<void> {
    const tmp = `${this.d.file}.tmp`
    await writeFile(tmp, JSON.stringify([...this.accesses.values()].map((a) => toHex(encodeTx(a.request)))), { mode: 0o600 })
    await rename(tmp, this.d.file)
  }
}
