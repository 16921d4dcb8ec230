/**
 * The doctor node's journal (paper §IV-B5, Alg. 4; a doctor that restarts
 * resumes where it was): what it did with each of its patients' batches and
 * each tx_diag it signed, in LevelDB under its data dir. Every write is
 * synced (fdatasync) before it resolves, so a batch counts as done only once
 * that is on disk:
 * - `b:<htxI>`: a batch analysed — below the severity worth a diagnosis,
 *   queued for review, or cited by a signed tx_diag (never analysed again);
 * - `q:<htxI>`: a review-queue item (its causes' canonical bytes and the
 *   analysis), until the doctor signs it;
 * - `d:<htxd>`: a signed tx_diag's canonical bytes, written before it is
 *   first sent, then its verified receipt or the reason it was refused. One
 *   still pending after a restart is sent again with the same bytes (the
 *   accounting nodes answer a tx already on Docchain with its receipt).
 * The journal is small (one doctor's patients): it is read whole at open.
 */
import { mkdir } from 'node:fs/promises'
import { ClassicLevel } from 'classic-level'
import { openVersioned, recordFormatStep, utf8LevelFormat, type FormatSpec } from './format.ts'
import { InvalidFieldError } from '../core/index.ts'
import type { Diagnosis, Severity } from '../ai/analyzer.ts'

const SYNC = { sync: true } as const

export interface BatchRecord {
  /** htxI (hex) */
  readonly htxI: string
  /** the patient (hex) */
  readonly user: string
  readonly outcome: 'below' | 'queued' | 'submitted'
  readonly severity: Severity
  /** the tx_diag citing it (outcome 'submitted') */
  readonly htxd?: string
  /** ms since the epoch */
  readonly at: number
}

export interface QueuedRecord {
  /** htxI (hex) of the first cause: the review's id */
  readonly id: string
  readonly user: string
  /** the causes' canonical tx_IoT bytes (hex), in order */
  readonly causes: readonly string[]
  readonly diagnosis: Diagnosis
  readonly at: number
}

/** A commit receipt the doctor verified (diag-protocol.ts verifyReceipt), kept as JSON. */
export interface ReceiptRecord {
  readonly height: number
  /** hash of the Dblock header (hex) */
  readonly dblock: string
  readonly view: number
  /** the tx's position among the Dblock's txs and their number */
  readonly index: number
  readonly size: number
  /** Merkle branch under the header's diagroot (hex) */
  readonly proof: readonly string[]
  /** commit signatures in the certificate */
  readonly signatures: number
  /** the accounting node that answered (ID hex) */
  readonly from: string
  readonly at: number
}

export interface DiagRecord {
  /** htxd (hex) */
  readonly htxd: string
  /** canonical tx_diag bytes (hex): what is sent, and sent again */
  readonly tx: string
  /** htxI (hex) of each cause */
  readonly causes: readonly string[]
  readonly user: string
  readonly severity: Severity
  readonly status: 'pending' | 'committed' | 'rejected'
  readonly signedAt: number
  /** submissions sent (across restarts) */
  readonly sent: number
  readonly receipt?: ReceiptRecord
  readonly code?: string
  readonly reason?: string
}

/**
 * The journal's formats (store/format.ts): 1, the releases up to 870ff94,
 * recorded none; 2 records it under `f:format`, rows unchanged.
 */
export const JOURNAL_FORMAT: FormatSpec<ClassicLevel<string, string>> = {
  name: 'doctor journal',
  current: 2,
  unversioned: 1,
  ...utf8LevelFormat('f:format'),
  migrations: [recordFormatStep('f:format')]
}

export class DoctorJournal {
  private readonly db: ClassicLevel<string, string>
  readonly batches = new Map<string, BatchRecord>()
  readonly queued = new Map<string, QueuedRecord>()
  readonly diags = new Map<string, DiagRecord>()

  private constructor (db: ClassicLevel<string, string>) { this.db = db }

  static async open (dir: string): Promise<DoctorJournal> {
    await mkdir(dir, { recursive: true })
    const { db } = await openVersioned(dir, async () => {
      const db = new ClassicLevel<string, string>(dir, { keyEncoding: 'utf8', valueEncoding: 'utf8' })
      await db.open()
      return db
    }, JOURNAL_FORMAT)
    const j = new DoctorJournal(db)
    for await (const [k, v] of db.iterator()) {
      const rec = JSON.parse(v) as unknown
      if (k.startsWith('b:')) j.batches.set(k.slice(2), rec as BatchRecord)
      else if (k.startsWith('q:')) j.queued.set(k.slice(2), rec as QueuedRecord)
      else if (k.startsWith('d:')) j.diags.set(k.slice(2), rec as DiagRecord)
    }
    return j
  }

  /** A batch analysed and done with (below the least severity worth a diagnosis). */
  async batchDone (b: BatchRecord): Promise<void> {
    await this.db.put(`b:${b.htxI}`, JSON.stringify(b), SYNC)
    this.batches.set(b.htxI, b)
  }

  /** A batch analysed and queued for review; its batch record says so. */
  async queue (q: QueuedRecord, severity: Severity): Promise<void> {
    const b: BatchRecord = { htxI: q.id, user: q.user, outcome: 'queued', severity, at: q.at }
    await this.db.batch([
      { type: 'put', key: `q:${q.id}`, value: JSON.stringify(q) },
      { type: 'put', key: `b:${q.id}`, value: JSON.stringify(b) }
    ], SYNC)
    this.queued.set(q.id, q)
    this.batches.set(q.id, b)
  }

  /** Reviews dropped without a signature (the patient revoked this doctor): gone from the queue, their batches stay done. */
  async unqueue (ids: readonly string[]): Promise<void> {
    const gone = ids.filter((id) => this.queued.has(id))
    if (gone.length === 0) return
    await this.db.batch(gone.map((id) => ({ type: 'del' as const, key: `q:${id}` })), SYNC)
    for (const id of gone) this.queued.delete(id)
  }

  /** A signed tx_diag, before it is first sent: its causes are done, their review item (if any) gone. */
  async signed (d: DiagRecord): Promise<void> {
    const bs: BatchRecord[] = d.causes.map((htxI) => ({ htxI, user: d.user, outcome: 'submitted', severity: d.severity, htxd: d.htxd, at: d.signedAt }))
    await this.db.batch([
      { type: 'put', key: `d:${d.htxd}`, value: JSON.stringify(d) },
      ...bs.map((b) => ({ type: 'put' as const, key: `b:${b.htxI}`, value: JSON.stringify(b) })),
      ...d.causes.filter((c) => this.queued.has(c)).map((c) => ({ type: 'del' as const, key: `q:${c}` }))
    ], SYNC)
    this.diags.set(d.htxd, d)
    for (const b of bs) { this.batches.set(b.htxI, b); this.queued.delete(b.htxI) }
  }

  /** Updates a tx_diag's record (a send counted, its receipt, or its refusal). */
  async updateDiag (htxd: string, change: Partial<Pick<DiagRecord, 'status' | 'sent' | 'receipt' | 'code' | 'reason'>>): Promise<DiagRecord> {
    const had = this.diags.get(htxd)
    if (had === undefined) throw new InvalidFieldError('htxd', `no tx_diag ${htxd} in the journal`)
    const d: DiagRecord = { ...had, ...change }
    await this.db.put(`d:${htxd}`, JSON.stringify(d), SYNC)
    this.diags.set(htxd, d)
    return d
  }

  async close (): Promise<void> { await this.db.close() }
}
