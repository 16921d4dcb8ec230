/**
 * Recovery share: a guardian's share resealed to the temporary key of one
 * recovery session on the patient's new hub. The new hub makes a temporary
 * identity and hands out its identity record (identity.ts); the guardian
 * opens its guardian share (guardian-share.ts), reseals the share to that
 * record's X25519 key and signs the result with its own ID:
 *   version ‖ set ‖ index ‖ session ‖ enc ‖ ct ‖ sig_guardian
 *   session = the temporary identity's ID
 *   info    = "healthchain/recovery-share/v1\0" ‖ patient ‖ set ID ‖ m ‖ n ‖ i ‖ guardian ID ‖ session
 *   aad     = the set's signature
 * So a recovery share is bound to patient, set, index, guardian and
 * session: one resealed for an earlier session (its temporary key is gone
 * with that session) is refused as a replay, one signed by anyone but the
 * set's guardian i as from the wrong guardian.
 */
import { Reader, Writer, concatBytes, equalBytes, toHex, utf8Bytes } from '../codec.ts'
import { domainTag, ID_BYTES, SIG_BYTES, sign, verify, type Identity } from '../crypto.ts'
import { deriveKeyPair, N_ENC } from '../hpke.ts'
import { openShare, sealShare } from '../share-seal.ts'
import { ShareCommitmentError, StaleRecoverySessionError, UnknownVersionError, WrongGuardianError } from '../errors.ts'
import type { IdentityRecord } from '../identity.ts'
import { signingMessage } from '../tx/common.ts'
import { encodeShareSet, guardianAt, readShareSet, SHARE_BYTES, shareCommitment, shareInfo, type ShareSet } from './share-set.ts'
import { openGuardianShare, SHARE_CT_BYTES, type GuardianShare } from './guardian-share.ts'

export const RECOVERY_SHARE_VERSION = 1
const INFO_TAG = utf8Bytes('healthchain/recovery-share/v1\0')
const TAG = domainTag('recovery-share')

export interface RecoveryShare {
  readonly set: ShareSet
  readonly index: number
  /** The recovery session: the ID of the new hub's temporary identity. */
  readonly session: Uint8Array
  readonly enc: Uint8Array
  readonly ct: Uint8Array
  /** By guardian `index` of the set. */
  readonly sig: Uint8Array
}

function info (set: ShareSet, index: number, session: Uint8Array): Uint8Array {
  return concatBytes(shareInfo(INFO_TAG, set, index, guardianAt(set, index).id), session)
}

function unsigned (s: Omit<RecoveryShare, 'sig'>): Uint8Array {
  const set = encodeShareSet(s.set)
  return new Writer(set.length + 160).u8('version', RECOVERY_SHARE_VERSION).fixed('set', set, set.length)
    .u8('index', s.index).fixed('session', s.session, ID_BYTES).fixed('enc', s.enc, N_ENC).fixed('ct', s.ct, SHARE_CT_BYTES).finish()
}

/**
 * The guardian's step: opens its share (refused unless it is this share's
 * guardian) and reseals it to the session's temporary identity record,
 * which the caller has decoded (its self-signature checked). ikmE: ≥ 32 random bytes.
 */
export function resealShare (guardian: Identity, share: GuardianShare, to: IdentityRecord, ikmE: Uint8Array): RecoveryShare {
  const plain = openGuardianShare(guardian, share)
  try {
    const e = deriveKeyPair(ikmE)
    const body = { set: share.set, index: share.index, session: to.id, enc: e.publicKey, ct: sealShare(e, to.x25519, info(share.set, share.index, to.id), share.set.sig, plain) }
    return { ...body, sig: sign(guardian.signing, signingMessage(TAG, unsigned(body))) }
  } finally {
    plain.fill(0)
  }
}

export function encodeRecoveryShare (s: RecoveryShare): Uint8Array {
  const u = unsigned(s)
  return new Writer(u.length + SIG_BYTES).fixed('body', u, u.length).fixed('sig', s.sig, SIG_BYTES).finish()
}

/** Strict decode: the set's signature, and the guardian's — it must be guardian `index` of the set. */
export function decodeRecoveryShare (bytes: Uint8Array): RecoveryShare {
  const r = new Reader(bytes)
  const v = r.u8('version')
  if (v !== RECOVERY_SHARE_VERSION) throw new UnknownVersionError('version', v)
  const set = readShareSet(r)
  const index = r.u8('index')
  const g = guardianAt(set, index)
  const s = { set, index, session: r.fixed('session', ID_BYTES), enc: r.fixed('enc', N_ENC), ct: r.fixed('ct', SHARE_CT_BYTES), sig: r.fixed('sig', SIG_BYTES) }
  r.end('recovery share')
  if (!verify(g.id, signingMessage(TAG, unsigned(s)), s.sig)) {
    throw new WrongGuardianError('sig', `share ${index} of set ${toHex(set.setId)} is not signed by its guardian ${toHex(g.id).slice(0, 16)}…`)
  }
  return s
}

/** The new hub's step: opens a recovery share with the session's temporary identity; refuses another session's share. */
export function openRecoveryShare (session: Identity, s: RecoveryShare): Uint8Array {
  if (!equalBytes(s.session, session.id)) throw new StaleRecoverySessionError(toHex(s.session), toHex(session.id))
  const share = openShare(session.agreement, s.enc, info(s.set, s.index, session.id), s.set.sig, s.ct, SHARE_BYTES)
  if (!equalBytes(shareCommitment(s.set.setId, s.index, share), guardianAt(s.set, s.index).commitment)) throw new ShareCommitmentError(s.index)
  return share
}
