/** Errors of key management (paper §IV-B5, Alg. 3). */
import { HealthchainError, toHex } from '../../core/index.ts'

export class AlreadyGrantedError extends HealthchainError {
  constructor (doctor: Uint8Array) { super('ERR_ALREADY_GRANTED', 'doctor', `${toHex(doctor).slice(0, 16)}… is already granted`) }
}

export class NotGrantedError extends HealthchainError {
  constructor (doctor: Uint8Array, epoch?: number) {
    super('ERR_NOT_GRANTED', 'doctor', `${toHex(doctor).slice(0, 16)}… holds no keys${epoch === undefined ? '' : ` for epoch ${epoch}`}`)
  }
}

export class UnknownEpochError extends HealthchainError {
  constructor (epoch: number) { super('ERR_UNKNOWN_EPOCH', 'epoch', `no key epoch ${epoch} is known`) }
}

export class StaleEpochError extends HealthchainError {
  constructor (epoch: number, latest: number) { super('ERR_STALE_EPOCH', 'epoch', `epoch ${epoch} is not after the latest epoch ${latest}`) }
}

export class UnregisteredDoctorError extends HealthchainError {
  constructor (doctor: Uint8Array) { super('ERR_UNREGISTERED_DOCTOR', 'doctor', `${toHex(doctor).slice(0, 16)}… is not a registered doctor`) }
}

/** A share of another patient's set than the one this recovery restores. */
export class WrongPatientError extends HealthchainError {
  constructor (got: Uint8Array, want: Uint8Array) { super('ERR_WRONG_PATIENT', 'patient', `the share belongs to patient ${toHex(got).slice(0, 16)}…, this recovery restores ${toHex(want).slice(0, 16)}…`) }
}

/** A share of another share set than the shares collected so far (Shamir shares of two sets do not combine). */
export class WrongShareSetError extends HealthchainError {
  constructor (got: Uint8Array, want: Uint8Array) { super('ERR_WRONG_SHARE_SET', 'set', `the share is of set ${toHex(got)}, the shares collected so far are of set ${toHex(want)}: collect the shares of one set`) }
}

/** The same share (same set and index) offered again. */
export class ReplayedShareError extends HealthchainError {
  constructor (index: number) { super('ERR_REPLAYED_SHARE', 'share', `share ${index} was already collected in this recovery: a share counts once`) }
}

/** Fewer shares than the set's threshold: they reveal nothing of the seed. */
export class NotEnoughSharesError extends HealthchainError {
  constructor (have: number, need: number, then = '') { super('ERR_NOT_ENOUGH_SHARES', 'shares', `${have} share(s) collected, ${need} needed: fewer than the threshold reveal nothing${then === '' ? '' : `; ${then}`}`) }
}

/** The combined seed is not the patient's identity (a bad share slipped past every check). */
export class RecoveredIdentityMismatchError extends HealthchainError {
  constructor (got: Uint8Array, want: Uint8Array) { super('ERR_RECOVERED_MISMATCH', 'shares', `the shares combine to ${toHex(got).slice(0, 16)}…, not the patient ${toHex(want).slice(0, 16)}…`) }
}

/** The user's core node refused a tx_key: the keys stay those Userchain has. */
export class EpochRefusedError extends HealthchainError {
  readonly reason: string
  constructor (id: string, code: string, reason: string) {
    super(code, 'tx_key', `${id} rejected: ${reason}`)
    this.reason = reason
  }
}

/** The pending tx_keys file is unreadable, readable by others, or not a list. */
export class PendingFileError extends HealthchainError {
  constructor (path: string, why: string) { super('ERR_PENDING_EPOCHS', 'pending-epochs', `${path}: ${why}`) }
}
