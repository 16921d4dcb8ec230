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

/** The batch key file is not one (bad magic, cut header): the hub refuses to guess. */
export class BatchKeysFormatError extends HealthchainError {
  constructor (file: string, why: string) { super('ERR_BATCH_KEYS_FORMAT', 'batch-keys', `${file}: ${why}`) }
}

/** The batch key file was made under another identity's secret (a restored or swapped keystore). */
export class BatchKeysWrongSecretError extends HealthchainError {
  constructor (file: string) { super('ERR_BATCH_KEYS_SECRET', 'batch-keys', `${file} was made under another identity: the hub's keystore does not open it`) }
}

/** A key a stored reading or batch needs was destroyed (its batch was confirmed, or the key file lost it). */
export class BatchKeyGoneError extends HealthchainError {
  constructor (id: string) { super('ERR_BATCH_KEY_GONE', 'batch-keys', `batch key ${id} is destroyed: what it encrypted can no longer be read`) }
}

/** A wrapped batch key failed authentication: the key file was altered or damaged. */
export class BatchKeyDamagedError extends HealthchainError {
  constructor (file: string, id: string) { super('ERR_BATCH_KEY_DAMAGED', 'batch-keys', `${file}: batch key ${id} does not authenticate (the file was altered or damaged)`) }
}

/** A stored row does not open under the key it names (altered, or moved from another row). */
export class SealedRowError extends HealthchainError {
  constructor (row: string, why: string) { super('ERR_SEALED_ROW', 'ingest', `ingest row ${row}: ${why}`) }
}

/** The ingest store holds readings encrypted at rest, and it was opened without the hub's batch keys. */
export class IngestLockedError extends HealthchainError {
  constructor (row: string) { super('ERR_INGEST_LOCKED', 'ingest', `the ingest store holds readings encrypted under the hub's batch keys (${row}): open it through the hub, with its keystore`) }
}
