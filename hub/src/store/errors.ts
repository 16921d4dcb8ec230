/**
 * Typed errors of the chain store and mempool (paper §IV-B2: core user nodes
 * verify user transactions; §IV-B4 Healthcoin). One class per failure, each a
 * core HealthchainError, so a caller (gossip validator, CLI) can count
 * rejections by `code` and say exactly what was wrong.
 */
import { HealthchainError } from '../core/index.ts'

/** A block whose parent this store does not hold. */
export class OrphanBlockError extends HealthchainError {
  constructor (parent: string) { super('ERR_ORPHAN', 'prehash', `parent ${parent} is unknown`) }
}

/** A block already known to be invalid, or descending from one. */
export class KnownInvalidError extends HealthchainError {
  constructor (hash: string, why: string) { super('ERR_KNOWN_INVALID', 'block', `${hash} is invalid: ${why}`) }
}

/** A transaction already confirmed on the best chain. */
export class AlreadyConfirmedError extends HealthchainError {
  constructor (field: string, id: string) { super('ERR_ALREADY_CONFIRMED', field, `transaction ${id} is already on the chain`) }
}

/** A Healthcoin transfer whose nonce is not the sender's next one (replay or gap). */
export class NonceError extends HealthchainError {
  constructor (field: string, want: number, got: number) { super('ERR_NONCE', field, `nonce ${got}, the account expects ${want}`) }
}

/** A Healthcoin transfer that spends more than the sender holds. */
export class InsufficientFundsError extends HealthchainError {
  constructor (field: string, have: number, need: number) { super('ERR_FUNDS', field, `spends ${need}, the account holds ${have}`) }
}

/** A coinbase paying more than the block reward plus the block's fees. */
export class CoinbaseAmountError extends HealthchainError {
  constructor (max: number, got: number) { super('ERR_COINBASE_AMOUNT', 'txs[0].amount', `${got} exceeds reward + fees ${max}`) }
}

/** A tx_IoT naming a key epoch for which its user has no tx_key on this branch. */
export class UnknownEpochError extends HealthchainError {
  constructor (field: string, epoch: number) { super('ERR_UNKNOWN_EPOCH', field, `no tx_key of this user with epoch ${epoch}`) }
}

/** A tx_key whose epoch is not above the user's previous one. */
export class EpochOrderError extends HealthchainError {
  constructor (field: string, prev: number, got: number) { super('ERR_EPOCH_ORDER', field, `epoch ${got} is not above the previous epoch ${prev}`) }
}

/** A tx_key whose ikFrom is not true of the chain: it claims an Ik kept from epochs whose Ik it does not have, or a fresh Ik it does not have. */
export class IkFromError extends HealthchainError {
  constructor (field: string, why: string) { super('ERR_IK_FROM', field, why) }
}

/** A transaction timestamp outside the window (expired or from the future). */
export class TxTimeError extends HealthchainError {
  constructor (field: string, why: string) { super('ERR_TX_TIME', field, why) }
}

/** A transaction kind that does not go into the Userchain mempool. */
export class WrongKindError extends HealthchainError {
  constructor (kind: string) { super('ERR_WRONG_KIND', 'kind', `a ${kind} transaction is not accepted here`) }
}

/** The mempool is full and the transaction pays no more than what it holds. */
export class MempoolFullError extends HealthchainError {
  constructor (limit: number) { super('ERR_MEMPOOL_FULL', 'mempool', `full (${limit} bytes) and the transaction does not outbid any entry`) }
}

/** A reorganization deeper than the configured limit. */
export class ReorgTooDeepError extends HealthchainError {
  constructor (depth: number, limit: number) { super('ERR_REORG_DEPTH', 'block', `reorg of depth ${depth} exceeds the limit ${limit}`) }
}

/** The store's files are inconsistent (should never happen: every write is one atomic batch). */
export class StoreCorruptError extends HealthchainError {
  constructor (why: string) { super('ERR_STORE_CORRUPT', 'store', why) }
}

/** The data dir is locked by another process (a running node). */
export class StoreLockedError extends HealthchainError {
  constructor (dir: string) { super('ERR_STORE_LOCKED', 'datadir', `${dir} is in use by another process (is a node running?)`) }
}

/** The data dir holds a chain of another network. */
export class NetworkMismatchError extends HealthchainError {
  constructor (want: string, got: string) { super('ERR_NETWORK', 'datadir', `holds a ${got} chain, not ${want}`) }
}

/** The data dir was written by an older, incompatible store format. */
export class StoreFormatError extends HealthchainError {
  constructor (dir: string, why: string) { super('ERR_STORE_FORMAT', 'datadir', `${dir} ${why}`) }
}

/** A backup archive opened with a passphrase other than the one it was written under. */
export class BackupPassphraseError extends HealthchainError {
  constructor (file: string) { super('ERR_BACKUP_PASSPHRASE', 'passphrase', `cannot open ${file}: wrong passphrase (or its header was altered)`) }
}

/** A backup archive whose bytes do not authenticate: altered, truncated, or chunks reordered. */
export class BackupCorruptError extends HealthchainError {
  constructor (file: string, why: string) { super('ERR_BACKUP_CORRUPT', 'archive', `${file} is damaged: ${why}`) }
}

/** A file that is not a backup archive, or one of a format this version does not read. */
export class BackupFormatError extends HealthchainError {
  constructor (file: string, why: string) { super('ERR_BACKUP_FORMAT', 'archive', `${file}: ${why}`) }
}
