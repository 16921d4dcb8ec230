/**
 * A Shamir share sealed to its one holder: RFC 9180 base mode (hpke.ts),
 * info naming what the share is of and who holds it, so a share moved to
 * another secret, index or holder does not open. The one sealing every
 * share of the system goes through: a guardian's share of the patient's
 * identity seed (recovery/guardian-share.ts), its resealing to a recovery
 * session (recovery/recovery-share.ts), an accounting node's escrow share of
 * an epoch's IoT key (tx/escrow.ts, paper §IV-B5 key management) and its
 * release to an emergency doctor (tx/release.ts).
 */
import { checkBytes } from './codec.ts'
import type { AgreementKey } from './crypto.ts'
import { N_T, open, sealWith, type HpkeKeyPair } from './hpke.ts'
import { DecryptionError } from './errors.ts'

/** The sealed size of a share of `shareBytes` (the GCM tag added). */
export function sealedShareBytes (shareBytes: number): number { return shareBytes + N_T }

/** Seals `share` to the holder's X25519 key under the ephemeral pair `e` (one pair may seal to several holders). */
export function sealShare (e: HpkeKeyPair, holder: Uint8Array, info: Uint8Array, aad: Uint8Array, share: Uint8Array): Uint8Array {
  return sealWith(e, checkBytes('holder key', holder, 32), info, aad, checkBytes('share', share))
}

/** Opens a sealed share as its holder; any failure (wrong holder, info, aad, altered bytes, wrong length) is a DecryptionError on `share`. */
export function openShare (holder: AgreementKey, enc: Uint8Array, info: Uint8Array, aad: Uint8Array, ct: Uint8Array, shareBytes: number): Uint8Array {
  const share = open(holder, enc, info, aad, ct, 'share')
  if (share.length !== shareBytes) throw new DecryptionError('share')
  return share
}
