/**
 * The patient reads its diagnoses (paper §IV-B5; §V-A: only the user and the
 * authorized doctor can read a diagnosis). For each committed Dblock the
 * user node checks the commit certificate (2f+1 accounting signatures), and
 * for each tx_diag whose first cause is one of its own tx_IoT it fetches
 * HEdm, opens it with dk_ij (derived from Env_U alone) and links it to the
 * readings that caused it. A Dblock fed twice (a reader resuming after a
 * restart) adds nothing twice. A HEdm that cannot be fetched throws (the
 * Dblock is fed again later); one that does not open under dk_ij, or is no
 * diagnosis, is the doctor's fault and counted in `unreadable`, so it does
 * not hold back the diagnoses after it.
 */
import { HealthchainError, openDiagnosis, toHex, txId, verifyCertificate, type Dblock, type TxDiag, type TxIoT } from '../../core/index.ts'
import type { Diagnosis } from '../../ai/analyzer.ts'
import type { UserKeys } from './keys.ts'

export interface PatientIo {
  /** The user's own tx_IoT by htxI, if it is one of theirs. */
  ownIoT: (htxI: Uint8Array) => TxIoT | undefined | Promise<TxIoT | undefined>
  fetch: (digest: Uint8Array) => Promise<Uint8Array>
  /** The accounting set whose certificates are trusted. */
  accountingNodes: () => readonly Uint8Array[]
}

export interface PatientDiagnosis {
  readonly htxd: string
  readonly doctor: string
  readonly dblock: number
  /** the tx_diag's timestamp (seconds) */
  readonly ts: number
  readonly causes: readonly TxIoT[]
  readonly diagnosis: Diagnosis
}

export class PatientReader {
  private readonly keys: UserKeys
  private readonly io: PatientIo
  readonly diagnoses: PatientDiagnosis[] = []
  /**
   * Findings a doctor signed and gossiped before Docchain committed them (the
   * real-time path, net/preliminary.ts), by htxd; dblock 0. One leaves this
   * list when its certified diagnosis is read from a Dblock.
   */
  readonly preliminary = new Map<string, PatientDiagnosis>()
  /** tx_diag of this user whose HEdm did not open or held no diagnosis. */
  unreadable = 0
  private readonly seen = new Set<string>()

  constructor (keys: UserKeys, io: PatientIo) {
    this.keys = keys
    this.io = io
  }

  /** Feed committed Dblocks in order; returns the user's new diagnoses. Throws if the certificate fails. */
  async onDblock (block: Dblock): Promise<PatientDiagnosis[]> {
    verifyCertificate(block, this.io.accountingNodes())
    const found: PatientDiagnosis[] = []
    for (const { tx } of block.txs) {
      if (tx.kind !== 'diag' || this.seen.has(toHex(txId(tx)))) continue
      const d = await this.read(tx, block.header.index)
      if (d !== undefined) { this.seen.add(d.htxd); this.preliminary.delete(d.htxd); this.diagnoses.push(d); found.push(d) }
    }
    return found
  }

  /** A preliminary finding (signature checked by the caller): listed unless already certified; returns it when it is new and opens. */
  async onPreliminary (tx: TxDiag): Promise<PatientDiagnosis | undefined> {
    const htxd = toHex(txId(tx))
    if (this.seen.has(htxd) || this.preliminary.has(htxd)) return undefined
    const d = await this.read(tx, 0)
    if (d !== undefined && !this.seen.has(htxd)) this.preliminary.set(htxd, d)
    return d
  }

  async read (tx: TxDiag, dblock: number): Promise<PatientDiagnosis | undefined> {
    const first = await this.io.ownIoT(tx.causes[0]!)
    if (first === undefined) return undefined
    const hedm = await this.io.fetch(tx.hedm)
    let diagnosis: Diagnosis
    try {
      const dk = this.keys.diagnosisKey(first.epoch, tx.doctor)
      diagnosis = JSON.parse(new TextDecoder().decode(openDiagnosis(dk, tx.doctor, txId(first), hedm))) as Diagnosis
    } catch (err) {
      if (!(err instanceof HealthchainError) && !(err instanceof SyntaxError)) throw err
      this.unreadable++
      return undefined
    }
    const causes = (await Promise.all(tx.causes.map(async (c) => await this.io.ownIoT(c)))).filter((c): c is TxIoT => c !== undefined)
    return { htxd: toHex(txId(tx)), doctor: toHex(tx.doctor), dblock, ts: tx.ts, causes, diagnosis }
  }
}
