/**
 * Typed errors of the durable batch lifecycle (batches.ts). Kept apart from
 * errors.ts, whose classes are the reasons the ingest path drops a line (each
 * explained on the patient page): these concern batches, not device lines.
 */
import { HealthchainError } from '../core/index.ts'

/** A batch id names no open batch (confirmed already, or never closed). */
export class UnknownBatchError extends HealthchainError {
  constructor (id: string) { super('ERR_UNKNOWN_BATCH', 'batch', `no open batch ${id} (confirmed already, or never closed)`) }
}

/** A batch step ran before the one it depends on (uploaded before sealed, tx_IoT before uploaded). */
export class BatchStageError extends HealthchainError {
  constructor (id: string, want: string, got: string) { super('ERR_BATCH_STAGE', 'batch', `batch ${id} is ${got}: ${want} first`) }
}

/** The core node refused a batch's tx_IoT; the batch is kept and the tx retried on the next block. */
export class BatchTxRefusedError extends HealthchainError {
  constructor (txid: string, code: string, reason: string) { super(code, 'tx', `${txid} rejected: ${reason} (the batch is kept and its tx_IoT retried on the next block)`) }
}
