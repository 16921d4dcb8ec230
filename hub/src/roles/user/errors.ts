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
