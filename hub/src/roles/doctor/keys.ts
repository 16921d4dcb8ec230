/**
 * The doctor's key tracker (paper §IV-B5 Disease diagnosis: "if the
 * transaction is a tx_key, the doctor updates the user key in time"). It
 * watches every tx_key on Userchain; for each user it keeps the epochs it was
 * granted (Ik to read batches, dk_ij to seal diagnoses) and notices when a
 * later tx_key no longer names it (revocation, §V-C). Which epochs' batches
 * those keys open — a `history` grant's Ik reaches back to its ikFrom — is
 * decided by grantCovering (core tx/key.ts), the rule the accounting nodes
 * apply to this doctor's diagnoses.
 */
import { grantCovering, openAsDoctor, toHex, type Identity, type KeyGrant, type TxKey, type DoctorEpochKeys } from '../../core/index.ts'
import { NotGrantedError } from '../user/errors.ts'

export interface PatientStatus {
  readonly user: Uint8Array
  /** Epochs whose tx_key names this doctor, oldest first (a `history` grant's Ik also opens earlier ones: holds()). */
  readonly epochs: number[]
  /** Latest epoch seen from this user. */
  readonly latestEpoch: number
  /** True when the user's latest tx_key names this doctor. */
  readonly granted: boolean
  /** The epoch that revoked this doctor, if the latest revoked it. */
  readonly revokedAt?: number
}

interface Grant extends KeyGrant { readonly keys: DoctorEpochKeys }

interface Patient {
  user: Uint8Array
  keys: Map<number, Grant>
  latestEpoch: number
  revokedAt?: number
}

export type Observation = 'granted' | 'revoked' | 'unchanged' | 'ignored'

export class DoctorKeyTracker {
  readonly doctor: Identity
  private readonly patients = new Map<string, Patient>()

  constructor (doctor: Identity) { this.doctor = doctor }

  /** Feed every tx_key seen on the chain, in chain order. */
  observe (tx: TxKey): Observation {
    const k = toHex(tx.user)
    const p = this.patients.get(k)
    const keys = openAsDoctor(tx, this.doctor)
    if (keys === null) {
      if (p === undefined) return 'ignored'
      if (tx.epoch <= p.latestEpoch) return 'unchanged'
      const wasGranted = p.revokedAt === undefined && p.keys.has(p.latestEpoch)
      p.latestEpoch = tx.epoch
      if (wasGranted) { p.revokedAt = tx.epoch; return 'revoked' }
      return 'unchanged'
    }
    const patient: Patient = p ?? { user: tx.user, keys: new Map(), latestEpoch: 0 }
    this.patients.set(k, patient)
    patient.keys.set(tx.epoch, { epoch: tx.epoch, ikFrom: tx.ikFrom, doctors: [this.doctor.id], keys })
    if (tx.epoch >= patient.latestEpoch) {
      patient.latestEpoch = tx.epoch
      const was = patient.revokedAt
      delete patient.revokedAt
      return p === undefined || was !== undefined ? 'granted' : 'unchanged'
    }
    return 'unchanged'
  }

  /**
   * Ik (opens the batches of `epoch`) and dk_ij (seals a diagnosis of them)
   * from the tx_key through which this doctor holds the epoch's key
   * (grantCovering); NotGrantedError when it holds none.
   */
  keysFor (user: Uint8Array, epoch: number): DoctorEpochKeys {
    const p = this.patients.get(toHex(user))
    const g = p === undefined ? null : grantCovering(this.doctor.id, epoch, p.keys.values())
    if (g === null) throw new NotGrantedError(this.doctor.id, epoch)
    return p!.keys.get(g)!.keys
  }

  status (user: Uint8Array): PatientStatus | undefined {
    const p = this.patients.get(toHex(user))
    if (p === undefined) return undefined
    const epochs = [...p.keys.keys()].sort((a, b) => a - b)
    return { user: p.user, epochs, latestEpoch: p.latestEpoch, granted: p.revokedAt === undefined && p.keys.has(p.latestEpoch), ...(p.revokedAt === undefined ? {} : { revokedAt: p.revokedAt }) }
  }

  /** Users whose latest tx_key names this doctor. */
  /** Users whose latest tx_key revoked this doctor. */
  patientsRevoked (): Uint8Array[] {
    return [...this.patients.values()].filter((p) => p.revokedAt !== undefined).map((p) => p.user)
  }

  patientsGranted (): Uint8Array[] {
    return [...this.patients.values()].filter((p) => p.revokedAt === undefined && p.keys.has(p.latestEpoch)).map((p) => p.user)
  }

  /** Users who granted this doctor at least one epoch, revoked since or not. */
  patientsEverGranted (): Uint8Array[] {
    return [...this.patients.values()].filter((p) => p.keys.size > 0).map((p) => p.user)
  }

  /** Whether this doctor holds the key of the user's epoch (grantCovering, as the accounting nodes decide it). */
  holds (user: Uint8Array, epoch: number): boolean {
    const p = this.patients.get(toHex(user))
    return p !== undefined && grantCovering(this.doctor.id, epoch, p.keys.values()) !== null
  }
}
