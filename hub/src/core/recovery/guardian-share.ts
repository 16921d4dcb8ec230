/**
 * Guardian share: share i of a share set, HPKE-sealed (RFC 9180 base mode,
 * hpke.ts) to guardian i's X25519 key, as the patient hands it over (a file
 * per guardian). Layout: version ‖ set (share-set.ts) ‖ index ‖ enc ‖ ct.
 *   info = "healthchain/guardian-share/v1\0" ‖ patient ‖ set ID ‖ m ‖ n ‖ i ‖ guardian ID
 *   aad  = the set's signature (binds every field the patient signed)
 * Only guardian i opens it; a share of another set, patient or index, or
 * sealed to another guardian, fails to open — and is refused earlier, with
 * the reason, when the header already says so.
 */
import { Reader, Writer, equalBytes, toHex, utf8Bytes } from '../codec.ts'
import type { Identity } from '../crypto.ts'
import { deriveKeyPair, N_ENC } from '../hpke.ts'
import { openShare, sealShare, sealedShareBytes } from '../share-seal.ts'
import { ShareCommitmentError, UnknownVersionError, WrongGuardianError } from '../errors.ts'
import { encodeShareSet, guardianAt, readShareSet, SHARE_BYTES, shareCommitment, shareInfo, type ShareSet } from './share-set.ts'

export const GUARDIAN_SHARE_VERSION = 1
const INFO_TAG = utf8Bytes('healthchain/guardian-share/v1\0')
export const SHARE_CT_BYTES = sealedShareBytes(SHARE_BYTES)

export interface GuardianShare {
  readonly set: ShareSet
  /** 1-based: guardians[index - 1] holds it. */
  readonly index: number
  readonly enc: Uint8Array
  readonly ct: Uint8Array
}

/** Seals share `index` (its bytes must match the set's commitment) to its guardian; ikmE: ≥ 32 random bytes. */
export function sealGuardianShare (set: ShareSet, index: number, share: Uint8Array, ikmE: Uint8Array): GuardianShare {
  const g = guardianAt(set, index)
  if (!equalBytes(shareCommitment(set.setId, index, share), g.commitment)) throw new ShareCommitmentError(index)
  const e = deriveKeyPair(ikmE)
  return { set, index, enc: e.publicKey, ct: sealShare(e, g.x25519, shareInfo(INFO_TAG, set, index, g.id), set.sig, share) }
}

/** Opens the share as `guardian`: refused unless it is the guardian the set names at this index; checked against the commitment. */
export function openGuardianShare (guardian: Identity, s: GuardianShare): Uint8Array {
  const g = guardianAt(s.set, s.index)
  if (!equalBytes(g.id, guardian.id)) {
    const mine = s.set.guardians.findIndex((x) => equalBytes(x.id, guardian.id))
    throw new WrongGuardianError('guardian', `share ${s.index} of set ${toHex(s.set.setId)} is sealed to guardian ${toHex(g.id).slice(0, 16)}…, not to you (${toHex(guardian.id).slice(0, 16)}…)${mine < 0 ? '' : `; yours is share ${mine + 1}`}`)
  }
  const share = openShare(guardian.agreement, s.enc, shareInfo(INFO_TAG, s.set, s.index, g.id), s.set.sig, s.ct, SHARE_BYTES)
  if (!equalBytes(shareCommitment(s.set.setId, s.index, share), g.commitment)) throw new ShareCommitmentError(s.index)
  return share
}

export function encodeGuardianShare (s: GuardianShare): Uint8Array {
  const set = encodeShareSet(s.set)
  return new Writer(set.length + 128).u8('version', GUARDIAN_SHARE_VERSION).fixed('set', set, set.length)
    .u8('index', s.index).fixed('enc', s.enc, N_ENC).fixed('ct', s.ct, SHARE_CT_BYTES).finish()
}

/** Strict decode; the set's signature is checked, the index must name one of its guardians. */
export function decodeGuardianShare (bytes: Uint8Array): GuardianShare {
  const r = new Reader(bytes)
  const v = r.u8('version')
  if (v !== GUARDIAN_SHARE_VERSION) throw new UnknownVersionError('version', v)
  const set = readShareSet(r)
  const index = r.u8('index')
  guardianAt(set, index)
  const s = { set, index, enc: r.fixed('enc', N_ENC), ct: r.fixed('ct', SHARE_CT_BYTES) }
  r.end('guardian share')
  return s
}
