/**
 * Why a doctor's emergency access does not open (paper §III-A doctor node;
 * README "Emergency access"). One class per failure; the message is what
 * the doctor is told.
 */
import { HealthchainError } from '../../core/index.ts'

/** Fewer than t accounting nodes have released their shares of an epoch so far. */
export class NotEnoughReleasesError extends HealthchainError {
  constructor (epoch: number, have: number, need: number) {
    super('ERR_NOT_ENOUGH_RELEASES', 'releases', `epoch ${epoch}: ${have} accounting node(s) released a share, ${need} needed`)
  }
}

/** No t of the released shares of an epoch combine to the Ik its tx_key commits to (a member released a bad share). */
export class EscrowMismatchError extends HealthchainError {
  constructor (epoch: number) {
    super('ERR_ESCROW_MISMATCH', 'releases', `epoch ${epoch}: no t of the released shares combine to the IoT key the patient's tx_key commits to`)
  }
}

/** An emergency request naming a patient Userchain has no tx_key of. */
export class UnknownPatientError extends HealthchainError {
  constructor (patient: string) {
    super('ERR_UNKNOWN_PATIENT', 'patient', `no tx_key of patient ${patient} on this doctor's Userchain copy: unknown patient (or not synced yet)`)
  }
}

/** An emergency request every accounting node refused, or none answered. */
export class EmergencyRefusedError extends HealthchainError {
  constructor (why: string) {
    super('ERR_EMERGENCY_REFUSED', 'request', why)
  }
}
