/**
 * Who may cite a user's tx_IoT as the cause of a diagnosis (paper §IV-B2:
 * accounting nodes check each tx_diag before it is ordered; §IV-B5, Alg. 3–4:
 * a doctor reads a user's data only with the keys the user granted it).
 *
 * A doctor may cite a tx_IoT only if it holds the IoT key of that tx_IoT's
 * key epoch (its keyRef) as Userchain decides it:
 * - an envelope for the doctor in the tx_key that opened that epoch (a
 *   revocation opens a new epoch without one, so the revoked doctor may
 *   still cite what it could already read, never what was sealed later —
 *   README "Revocation");
 * - an envelope in a later tx_key whose Ik reaches back over the epoch (a
 *   `history` grant keeps the Ik; its tx_key's ikFrom says since when, and
 *   Userchain refuses a tx_key whose ikFrom is not true of the chain);
 * - an emergency release of the epoch: the doctors it names go in `emergency`.
 * The first two are one rule, core grantCovering, which the doctor node
 * applies to what it decrypts and the user to which key opens a diagnosis.
 * `doctorMayRead` is what every accounting replica applies before it prepares.
 */
import { equalBytes, grantCovering, type KeyGrant } from '../../core/index.ts'

/**
 * tx_keys after one whose Ik can reach back over an epoch that are read
 * (UserchainView.epochReaders): Userchain lets a tx_key keep the Ik only to
 * name every doctor of the epoch before and one more (store/ledger.ts), so
 * the tx_keys sharing one Ik after the first are at most MAX_ENVELOPES.
 */
export { MAX_ENVELOPES as MAX_LATER_GRANTS } from '../../core/index.ts'

/** What Userchain says about who holds the key of one (user, epoch). */
export interface ReadEvidence {
  /** Doctors with an envelope in the tx_key that opened the epoch. */
  readonly envelopes: readonly Uint8Array[]
  /** Later tx_keys of the user that kept the epoch's Ik (`history` grants): their epoch, ikFrom and doctors. */
  readonly later?: readonly KeyGrant[]
  /** Doctors given this epoch by an emergency release. */
  readonly emergency?: readonly Uint8Array[]
}

/** Whether `doctor` holds the key of the user's `epoch` that `evidence` describes. */
export function doctorMayRead (doctor: Uint8Array, epoch: number, evidence: ReadEvidence): boolean {
  const own: KeyGrant = { epoch, ikFrom: epoch, doctors: evidence.envelopes }
  if (grantCovering(doctor, epoch, [own, ...(evidence.later ?? [])]) !== null) return true
  return evidence.emergency?.some((d) => equalBytes(d, doctor)) ?? false
}
