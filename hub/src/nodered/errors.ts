/**
 * Typed errors of the Node-RED layer (DESIGN §8). Nodes hand them to
 * `node.error(err, msg)` (through `done(err)`), so a Catch node sees the
 * code and field as for any other Healthchain error.
 */
import { HealthchainError } from '../core/index.ts'

/** A Healthchain node has no healthchain-runtime config node, or the config names no injected runtime. */
export class NoRuntimeError extends HealthchainError {
  constructor (why: string) { super('ERR_NO_RUNTIME', 'runtime', why) }
}

/** The runtime lacks a part this node needs (e.g. a doctor hub has no miner). */
export class MissingCapabilityError extends HealthchainError {
  readonly capability: string
  constructor (capability: string, role: string) {
    super('ERR_MISSING_CAPABILITY', capability, `this ${role} runtime has no ${capability}`)
    this.capability = capability
  }
}

/** A message lacks what the node needs, or carries it in the wrong shape. */
export class BadMessageError extends HealthchainError {
  constructor (field: string, why: string) { super('ERR_BAD_MESSAGE', `msg.${field}`, why) }
}

/** The user has no key epoch yet, so nothing can be sealed (run `keys` with action init first). */
export class NoKeyEpochError extends HealthchainError {
  constructor () { super('ERR_NO_KEY_EPOCH', 'epoch', 'no key epoch yet: publish the first tx_key (keys node, action "init") before sealing data') }
}

/** A submitter (mempool, PBFT) refused a transaction. */
export class TxRejectedError extends HealthchainError {
  readonly reason: string
  constructor (id: string, code: string, reason: string) {
    super(code, 'tx', `${id} rejected: ${reason}`)
    this.reason = reason
  }
}

/** The admin credentials file is unreadable or has loose permissions. */
export class AdminCredentialsError extends HealthchainError {
  constructor (path: string, why: string) { super('ERR_ADMIN_CREDENTIALS', 'adminAuth', `${path}: ${why}`) }
}

/**
 * A batch step names other data than the batch's own: a CID that is not the
 * digest of its stored sealed bytes, or a tx_IoT HEIoT that is not its CID's
 * digest (a custom flow changed msg.payload between the nodes). Recorded, the
 * tx_IoT would name data no key opens as this batch: its readings lost.
 */
export class BatchMismatchError extends HealthchainError {
  constructor (id: string, field: string, why: string) { super('ERR_BATCH_MISMATCH', field, `batch ${id}: ${why}`) }
}
