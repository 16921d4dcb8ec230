/**
 * The patient reads its diagnoses (paper §IV-B5; §V-A: only the user and the
 * authorized doctor can read a diagnosis). For each committed Dblock the
 * user node checks the commit certificate (2f+1 accounting signatures), and
 * for each tx_diag whose first cause is one of its own tx_IoT it fetches
 * HEdm, opens it with dk_ij (derived from Env_U alone) and links it to the
 * readings that caused it.
 */
import { openDiagnosis, toHex, txId, verifyCertificate, type Dblock, type TxDiag, type TxIoT } from '../../core/index.ts'
import type { Diagnosis } from '../../ai/analyzer.ts'
import type { UserKeys } from './keys.ts'

export interface PatientIo {
  /** The user's own tx_IoT by htxI, if it is one of theirs. */
  ownIoT: (htxI: Uint8Array) => TxIoT | undefined
  fetch: (digest: Uint8Array) => Promise<Uint8Array>
  /** The accounting set whose certificates are trusted. */
  accountingNodes: () => readonly Uint8Array[]
}

export interface PatientDiagnosis {
  readonly htxd: string
  readonly doctor: string
  readonly dblock: number
  readonly causes: readonly TxIoT[]
  readonly diagnosis: Diagnosis
}

export class PatientReader {
  private readonly keys: UserKeys
  private readonly io: PatientIo
  readonly diagnoses: PatientDiagnosis[] = []

  constructor (keys: UserKeys, io: PatientIo) {
    this.keys = keys
    this.io = io
  }

  /** Feed committed Dblocks in order; returns the user's new diagnoses. Throws if the certificate fails. */
  async onDblock (block: Dblock): Promise<PatientDiagnosis[]> {
    verifyCertificate(block, this.io.accountingNodes())
    const found: PatientDiagnosis[] = []
    for (const { tx } of block.txs) {
      if (tx.kind !== 'diag') continue
      const d = await this.read(tx, block.header.index)
      if (d !== undefined) { this.diagnoses.push(d); found.push(d) }
    }
    return found
  }

  async read (tx: TxDiag, dblock: number): Promise<PatientDiagnosis | undefined> {
    const first = this.io.ownIoT(tx.causes[0]!)
    if (first === undefined) return undefined
    const dk = this.keys.diagnosisKey(first.epoch, tx.doctor)
    const plain = openDiagnosis(dk, tx.doctor, txId(first), await this.io.fetch(tx.hedm))
    const causes = tx.causes.map((c) => this.io.ownIoT(c)).filter((c): c is TxIoT => c !== undefined)
    return { htxd: toHex(txId(tx)), doctor: toHex(tx.doctor), dblock, causes, diagnosis: JSON.parse(new TextDecoder().decode(plain)) as Diagnosis }
  }
}
