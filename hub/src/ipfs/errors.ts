/**
 * Typed errors of the IPFS layer (paper §IV-B2: encrypted batches live in
 * IPFS, the chains carry only their CIDs). One class per failure, each built
 * on the core HealthchainError so callers can switch on `code`.
 */
import { HealthchainError } from '../core/index.ts'

/** Content does not hash to the CID it was asked for or served under. */
export class CidMismatchError extends HealthchainError {
  readonly cid: string
  readonly source: string
  constructor (cid: string, source: string) {
    super('ERR_CID_MISMATCH', 'block', `content from ${source} does not hash to ${cid}`)
    this.cid = cid
    this.source = source
  }
}

/** A CID that is not CIDv1 / raw / sha2-256 (the only kind Healthchain stores). */
export class UnsupportedCidError extends HealthchainError {
  constructor (cid: string, why: string) {
    super('ERR_UNSUPPORTED_CID', 'cid', `${cid}: ${why}`)
  }
}

/** No provider (local store, named peers, connected peers) delivered the block. */
export class BlockUnavailableError extends HealthchainError {
  readonly cid: string
  /** What each provider answered, in the order they were tried. */
  readonly attempts: ReadonlyArray<{ provider: string, error: Error }>
  constructor (cid: string, attempts: ReadonlyArray<{ provider: string, error: Error }>) {
    const why = attempts.length === 0
      ? 'no provider to ask'
      : attempts.map((a) => `${a.provider}: ${a.error.message}`).join('; ')
    super('ERR_BLOCK_UNAVAILABLE', 'cid', `${cid} unavailable (${why})`)
    this.cid = cid
    this.attempts = attempts
  }
}

/** A peer did not answer within the time allowed. */
export class StoreTimeoutError extends HealthchainError {
  constructor (what: string, ms: number) {
    super('ERR_TIMEOUT', what, `no answer within ${ms} ms`)
  }
}

/** A peer answered a store-protocol request with a failure status. */
export class StoreRequestError extends HealthchainError {
  readonly status: string
  constructor (peer: string, status: string, message: string) {
    super('ERR_STORE_REQUEST', 'response', `${peer} answered ${status}: ${message}`)
    this.status = status
  }
}

/** Fewer storage nodes acknowledged an upload than the replication factor requires. */
export class ReplicationError extends HealthchainError {
  readonly cid: string
  readonly acked: readonly string[]
  readonly failures: ReadonlyArray<{ peer: string, error: Error }>
  constructor (cid: string, need: number, acked: readonly string[], failures: ReadonlyArray<{ peer: string, error: Error }>) {
    const why = failures.map((f) => `${f.peer}: ${f.error.message}`).join('; ')
    super('ERR_REPLICATION', 'replication', `${cid}: ${acked.length} of ${need} required acknowledgement(s)${why === '' ? '' : ` (${why})`}`)
    this.cid = cid
    this.acked = acked
    this.failures = failures
  }
}

/** The IPFS node was used before start() or after stop(). */
export class NodeNotRunningError extends HealthchainError {
  constructor () {
    super('ERR_NOT_RUNNING', 'node', 'the IPFS node is not running')
  }
}

/**
 * A storage node refused an upload (DESIGN §6): unsigned, a bad or stale
 * signature, a signer without an established identity on chain, or over
 * the signer's quota. `reason` is a stable word for machines.
 */
export class UploadRefusedError extends HealthchainError {
  readonly reason: 'unsigned' | 'bad-signature' | 'not-established' | 'quota' | 'withdrawn'
  constructor (reason: UploadRefusedError['reason'], message: string) {
    super('ERR_UPLOAD_REFUSED', 'upload', message)
    this.reason = reason
  }
}

/** A pinning service (IPFS Pinning Service API) answered a request with an error (spec `Failure`). */
export class PinningServiceError extends HealthchainError {
  readonly status: number
  readonly reason: string
  constructor (endpoint: string, status: number, reason: string, details: string | undefined) {
    super('ERR_PINNING_SERVICE', 'pinning', `${endpoint} answered ${status} ${reason}${details === undefined ? '' : `: ${details}`}`)
    this.status = status
    this.reason = reason
  }
}

/** A pinning service reported a pin request `failed`. */
export class PinFailedError extends HealthchainError {
  readonly requestid: string
  constructor (endpoint: string, cid: string, requestid: string, details: string | undefined) {
    super('ERR_PIN_FAILED', 'pinning', `${endpoint} failed to pin ${cid} (request ${requestid})${details === undefined ? '' : `: ${details}`}`)
    this.requestid = requestid
  }
}
