/**
 * Typed errors of the protocol core — one class per failure, as helia does.
 * Every error names the field it is about, so a caller (a gossip validator, a
 * CLI, a Node-RED node) can say exactly what was wrong with the input.
 */

export class HealthchainError extends Error {
  readonly code: string
  readonly field: string
  constructor (code: string, field: string, message: string) {
    super(`${field}: ${message}`)
    this.name = new.target.name
    this.code = code
    this.field = field
  }
}

/** Input ended before a field was complete. */
export class TruncatedError extends HealthchainError {
  constructor (field: string, need: number, have: number) {
    super('ERR_TRUNCATED', field, `needs ${need} more byte(s), ${have} left`)
  }
}

/** Bytes remain after a complete value was decoded. */
export class TrailingBytesError extends HealthchainError {
  constructor (field: string, extra: number) {
    super('ERR_TRAILING_BYTES', field, `${extra} trailing byte(s) after the value`)
  }
}

/** The input has a valid meaning but is not in its one canonical form. */
export class NonCanonicalError extends HealthchainError {
  constructor (field: string, why: string) {
    super('ERR_NON_CANONICAL', field, `non-canonical encoding: ${why}`)
  }
}

/** A version or type tag this code does not know. */
export class UnknownVersionError extends HealthchainError {
  constructor (field: string, got: number) {
    super('ERR_UNKNOWN_VERSION', field, `unknown value ${got}`)
  }
}

/** A protocol limit (size, count, range) was exceeded. */
export class LimitExceededError extends HealthchainError {
  readonly limit: number
  readonly actual: number
  constructor (field: string, limit: number, actual: number) {
    super('ERR_LIMIT', field, `${actual} exceeds the limit of ${limit}`)
    this.limit = limit
    this.actual = actual
  }
}

/** A value of the wrong type, length or range was given to a constructor. */
export class InvalidFieldError extends HealthchainError {
  constructor (field: string, why: string) {
    super('ERR_INVALID_FIELD', field, why)
  }
}

/** A signature does not verify under the claimed key. */
export class BadSignatureError extends HealthchainError {
  constructor (field: string) {
    super('ERR_BAD_SIGNATURE', field, 'signature does not verify')
  }
}

/** Authenticated decryption failed: wrong key, or the ciphertext was altered. */
export class DecryptionError extends HealthchainError {
  constructor (field: string) {
    super('ERR_DECRYPT', field, 'cannot decrypt: wrong key or tampered ciphertext')
  }
}

/** A tx_key envelope opens to an Ik other than the one its C(Ik) commits to. */
export class IkCommitmentError extends HealthchainError {
  constructor (field: string) {
    super('ERR_IK_COMMITMENT', field, 'the Ik sealed here is not the one the tx_key commits to')
  }
}

/** A block header hash is not below its target, or the target is wrong. */
export class InsufficientWorkError extends HealthchainError {
  constructor (field: string, why: string) {
    super('ERR_POW', field, why)
  }
}

/** A timestamp is outside its window (median-time-past, future drift, expiry). */
export class TimestampError extends HealthchainError {
  constructor (field: string, why: string) {
    super('ERR_TIMESTAMP', field, why)
  }
}

/** A block's Merkle root does not match its transactions. */
export class MerkleRootMismatchError extends HealthchainError {
  constructor (field: string) {
    super('ERR_MERKLE_ROOT', field, 'Merkle root does not match the transactions')
  }
}

/**
 * Two transactions of a compact block share a short id (BIP 152 §"Short
 * transaction ID calculation"): the block cannot be rebuilt from short ids,
 * the receiver fetches it whole.
 */
export class ShortIdCollisionError extends HealthchainError {
  constructor (field: string, at: number, other: number) {
    super('ERR_SHORT_ID_COLLISION', field, `transactions ${other} and ${at} have the same short id`)
  }
}

/** The same transaction appears twice. */
export class DuplicateTxError extends HealthchainError {
  constructor (field: string, id: string) {
    super('ERR_DUPLICATE_TX', field, `duplicate transaction ${id}`)
  }
}

/** Fewer distinct valid signers than a quorum (PBFT 2f+1) requires. */
export class QuorumError extends HealthchainError {
  constructor (field: string, need: number, have: number) {
    super('ERR_QUORUM', field, `${have} valid signer(s), ${need} required`)
  }
}

/** A guardian share handed to, or resealed by, an identity that is not the guardian the share set names at its index. */
export class WrongGuardianError extends HealthchainError {
  constructor (field: string, why: string) {
    super('ERR_WRONG_GUARDIAN', field, why)
  }
}

/** A resealed guardian share made for another recovery session (another temporary key): a replay. */
export class StaleRecoverySessionError extends HealthchainError {
  constructor (got: string, want: string) {
    super('ERR_RECOVERY_SESSION', 'session', `share resealed for recovery session ${got.slice(0, 16)}…, not this session ${want.slice(0, 16)}…: a share from an earlier recovery is refused; ask the guardian to reseal it to this session's record`)
  }
}

/** A decrypted guardian share does not match the commitment the patient signed into the share set. */
export class ShareCommitmentError extends HealthchainError {
  constructor (index: number) {
    super('ERR_SHARE_COMMITMENT', 'share', `share ${index} does not match the share set's commitment: altered or not from this set`)
  }
}

/** An accounting node asked to open an escrow share of an epoch whose escrow names no share for it. */
export class NotEscrowMemberError extends HealthchainError {
  constructor (member: string, user: string, epoch: number) {
    super('ERR_NOT_ESCROW_MEMBER', 'escrow', `the escrow of user ${user.slice(0, 16)}…'s epoch ${epoch} holds no share for accounting node ${member.slice(0, 16)}…`)
  }
}

/** An emergency request for an epoch whose tx_key carries no escrow (the patient did not opt in then). */
export class NoEscrowError extends HealthchainError {
  constructor (user: string, epoch: number) {
    super('ERR_NO_ESCROW', 'epochs', `user ${user.slice(0, 16)}…'s epoch ${epoch} carries no emergency escrow: the patient had not opted in to emergency access when it was opened`)
  }
}

/** An emergency request by a doctor the registry does not give the emergency role. */
export class NotEmergencyDoctorError extends HealthchainError {
  constructor (doctor: string) {
    super('ERR_NOT_EMERGENCY_DOCTOR', 'doctor', `doctor ${doctor} is registered without the emergency role: only doctors the consortium registered for emergencies may request emergency access`)
  }
}

/** A share release naming an emergency request that is not on Docchain. */
export class UnknownEmergencyRequestError extends HealthchainError {
  constructor (request: string) {
    super('ERR_UNKNOWN_EMERGENCY_REQUEST', 'request', `no emergency request ${request} is committed on Docchain`)
  }
}

/** A share release by someone who holds no escrow share: not an accounting node, or not the member the share is from. */
export class WrongReleaseMemberError extends HealthchainError {
  constructor (why: string) {
    super('ERR_WRONG_RELEASE_MEMBER', 'member', why)
  }
}

/** A second release of one emergency request by one accounting node: each member releases its share once. */
/** The patient withdrew consent on Docchain (tx/withdrawal.ts): no emergency access to its data, no release of its escrow shares, no second withdrawal. */
export class ConsentWithdrawnError extends HealthchainError {
  constructor (patient: string, what: string) {
    super('ERR_CONSENT_WITHDRAWN', 'patient', `patient ${patient.slice(0, 16)}… withdrew consent on Docchain: ${what}`)
  }
}

export class ReplayedReleaseError extends HealthchainError {
  constructor (member: string, request: string) {
    super('ERR_REPLAYED_RELEASE', 'request', `accounting node ${member.slice(0, 16)}… already released its shares for emergency request ${request.slice(0, 16)}…`)
  }
}

/** A release whose epochs are not exactly those its emergency request names. */
export class ReleaseEpochsError extends HealthchainError {
  constructor (why: string) {
    super('ERR_RELEASE_EPOCHS', 'shares', why)
  }
}
