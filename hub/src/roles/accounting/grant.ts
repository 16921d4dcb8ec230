/**
 * Who may cite a user's tx_IoT as the cause of a diagnosis (paper §IV-B2:
 * accounting nodes check each tx_diag before it is ordered; §IV-B5, Alg. 3–4:
 * a doctor reads a user's data only with the keys the user granted it).
 *
 * A doctor may cite a tx_IoT only if it holds the IoT key of that tx_IoT's
 * key epoch (its keyRef) as Userchain decides it. Today one evidence exists:
 * an envelope for the doctor in the tx_key that opened that epoch (a grant
 * keeps the epoch and adds an envelope; a revocation opens a new epoch
 * without one, so the revoked doctor may still cite what it could already
 * read, never what was sealed later — README "Revocation").
 *
 * The other ways a doctor comes to hold an epoch's key count here and
 * nowhere else — `doctorMayRead` is the one rule every accounting replica
 * applies, so adding one is adding a field to `ReadEvidence`, filling it in
 * `UserchainView.epochReaders`, and one line below:
 * - a `history` grant (a grant whose scope reaches back over earlier epochs):
 *   the doctors it names go in `history` for every epoch it covers;
 * - an emergency release of the epoch: the doctors it names go in `emergency`.
 */
import { equalBytes } from '../../core/index.ts'

/** What Userchain says about who holds the key of one (user, epoch). */
export interface ReadEvidence {
  /** Doctors with an envelope in the tx_key that opened the epoch. */
  readonly envelopes: readonly Uint8Array[]
  /** Doctors granted this epoch afterwards by a `history` grant. */
  readonly history?: readonly Uint8Array[]
  /** Doctors given this epoch by an emergency release. */
  readonly emergency?: readonly Uint8Array[]
}

/** Whether `doctor` holds the key of the epoch `evidence` describes. */
export function doctorMayRead (doctor: Uint8Array, evidence: ReadEvidence): boolean {
  const named = (ids: readonly Uint8Array[] | undefined): boolean => ids?.some((d) => equalBytes(d, doctor)) ?? false
  return named(evidence.envelopes) || named(evidence.history) || named(evidence.emergency)
}
