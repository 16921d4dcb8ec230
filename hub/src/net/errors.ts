/**
 * Typed errors of the peer-to-peer layer (paper §IV-B2 network layer;
 * DESIGN §6). One class per failure, each a core HealthchainError, so callers
 * can count them by `code` and say exactly what a peer did wrong.
 */
import { HealthchainError } from '../core/index.ts'

/** A request/response exchange took longer than its timeout. */
export class RequestTimeoutError extends HealthchainError {
  constructor (protocol: string, peer: string, ms: number) { super('ERR_NET_TIMEOUT', protocol, `no answer from ${peer} within ${ms} ms`) }
}

/** The remote peer refused a request (status other than OK), with its reason. */
export class RemoteError extends HealthchainError {
  readonly status: string
  constructor (protocol: string, peer: string, status: string, reason: string) {
    super('ERR_NET_REMOTE', protocol, `${peer} answered ${status}${reason === '' ? '' : `: ${reason}`}`)
    this.status = status
  }
}

/** A peer sent more requests than its rate allows. */
export class RateLimitedError extends HealthchainError {
  constructor (protocol: string, peer: string) { super('ERR_NET_RATE', protocol, `${peer} exceeded its request rate`) }
}

/** A frame or message above the protocol's size limit (refused from its length prefix, before it is read). */
export class FrameTooLargeError extends HealthchainError {
  constructor (field: string, limit: number, got?: number) { super('ERR_NET_TOO_LARGE', field, `frame${got === undefined ? '' : ` of ${got} bytes`} exceeds the limit of ${limit}`) }
}

/** A peer's answer breaks the protocol (bad linkage, wrong count, undecodable). */
export class BadResponseError extends HealthchainError {
  constructor (field: string, why: string) { super('ERR_NET_BAD_RESPONSE', field, why) }
}

/** A core node served a transaction proof that does not verify against our header chain (paper §III-A: a core node cannot forge). */
export class ForgedProofError extends HealthchainError {
  readonly peer: string
  constructor (peer: string, field: string, why: string) { super('ERR_FORGED_PROOF', field, `${peer}: ${why}`); this.peer = peer }
}

/** A core node left out a transaction of ours that is proven to be on the chain it claims to follow. */
export class OmittedTxError extends HealthchainError {
  readonly peer: string
  constructor (peer: string, txid: string, why: string) { super('ERR_OMITTED_TX', 'txs', `${peer} omitted ${txid}: ${why}`); this.peer = peer }
}

/** No connected peer could serve what sync needs. */
export class NoPeersError extends HealthchainError {
  constructor (what: string) { super('ERR_NET_NO_PEERS', what, 'no connected peer can serve it') }
}

/** A peer's validation queue (fair-queue.ts) is full: what it sent is dropped unread. */
export class QueueFullError extends HealthchainError {
  constructor (peer: string, why: string) { super('ERR_NET_QUEUE_FULL', 'peer', `${peer.slice(0, 16)}…: ${why}`) }
}

/** The validation queue closed (its node is stopping) before this peer's message was reached. */
export class QueueClosedError extends HealthchainError {
  constructor () { super('ERR_NET_CLOSED', 'queue', 'the node stopped before validating it') }
}

/** The peer was banned while its message waited for validation: dropped unread. */
export class PeerBannedError extends HealthchainError {
  constructor (peer: string) { super('ERR_NET_BANNED', 'peer', `${peer.slice(0, 16)}… was banned while its message waited`) }
}
