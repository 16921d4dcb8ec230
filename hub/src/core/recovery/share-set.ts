/**
 * Guardian share set (the patient's m-of-n backup of the identity seed, a
 * feature beyond the paper: §V-A keeps keys safe, but the paper's user has
 * no way back once its only copy is lost). The patient splits the seed with
 * Shamir's scheme into n shares, any m of which rebuild it, and seals share
 * i to guardian i. The set, signed by the patient, names
 *   {patient ID, set ID, m, n, ts, guardians[i] = (ID, X25519 key, commitment_i)}
 * with commitment_i = SHA-256(tag ‖ set ID ‖ i ‖ share_i), so each share can
 * be checked alone (a guardian, or a recovering hub, tells which share is
 * bad) while revealing nothing: a share is 33 uniformly random bytes to
 * anyone holding fewer than m of them. Every guardian's file carries the
 * whole set, so a hub that has lost everything learns it from the shares.
 */
import { Reader, Writer, concatBytes, equalBytes, utf8Bytes, checkBytes } from '../codec.ts'
import { assertSignature, domainTag, HASH_BYTES, ID_BYTES, SEED_BYTES, SIG_BYTES, sha256, sign, type Identity } from '../crypto.ts'
import { InvalidFieldError, LimitExceededError, UnknownVersionError } from '../errors.ts'
import { MAX_TIMESTAMP } from '../limits.ts'
import { signingMessage } from '../tx/common.ts'

export const SHARE_SET_VERSION = 1
/** A Shamir share of the 32-byte seed: 32 y-bytes and the x coordinate (shamir-secret-sharing layout). */
export const SHARE_BYTES = SEED_BYTES + 1
export const SET_ID_BYTES = 16
/** Most guardians one set names. */
export const MAX_GUARDIANS = 16
const TAG = domainTag('guardian-set')
const COMMIT_TAG = utf8Bytes('healthchain/guardian-share-commitment/v1\0')

export interface ShareSetGuardian {
  readonly id: Uint8Array
  readonly x25519: Uint8Array
  readonly commitment: Uint8Array
}

export interface ShareSet {
  readonly patient: Uint8Array
  readonly setId: Uint8Array
  /** m: shares needed to rebuild the seed. */
  readonly threshold: number
  /** guardians[i - 1] holds share i; n = guardians.length. */
  readonly guardians: readonly ShareSetGuardian[]
  readonly ts: number
  readonly sig: Uint8Array
}

/** commitment_i of a share, as the set signs it. */
export function shareCommitment (setId: Uint8Array, index: number, share: Uint8Array): Uint8Array {
  checkBytes('share', share, SHARE_BYTES)
  return sha256(concatBytes(COMMIT_TAG, checkBytes('setId', setId, SET_ID_BYTES), Uint8Array.of(index), share))
}

function checkShape (s: Omit<ShareSet, 'sig'>): void {
  const n = s.guardians.length
  if (n < 2) throw new InvalidFieldError('guardians', 'a share set needs at least 2 guardians')
  if (n > MAX_GUARDIANS) throw new LimitExceededError('guardians', MAX_GUARDIANS, n)
  if (!Number.isInteger(s.threshold) || s.threshold < 2 || s.threshold > n) throw new InvalidFieldError('threshold', `must be between 2 and the number of guardians (${n}), got ${String(s.threshold)}`)
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < i; j++) {
      if (equalBytes(s.guardians[i]!.id, s.guardians[j]!.id)) throw new InvalidFieldError(`guardians[${i}]`, 'guardian named twice: each share must go to a different guardian')
    }
    if (equalBytes(s.guardians[i]!.id, s.patient)) throw new InvalidFieldError(`guardians[${i}]`, 'the patient cannot be its own guardian')
  }
}

function unsigned (s: Omit<ShareSet, 'sig'>): Uint8Array {
  checkShape(s)
  const w = new Writer(64 + s.guardians.length * 96).u8('version', SHARE_SET_VERSION)
    .fixed('patient', s.patient, ID_BYTES).fixed('setId', s.setId, SET_ID_BYTES)
    .u8('threshold', s.threshold).u8('guardians', s.guardians.length).varint('ts', s.ts, MAX_TIMESTAMP)
  s.guardians.forEach((g, i) => {
    w.fixed(`guardians[${i}].id`, g.id, ID_BYTES).fixed(`guardians[${i}].x25519`, g.x25519, 32).fixed(`guardians[${i}].commitment`, g.commitment, HASH_BYTES)
  })
  return w.finish()
}

/** The patient signs the set it has just split (randomness — set ID, shares — comes from the caller). */
export function buildShareSet (patient: Identity, f: Omit<ShareSet, 'sig' | 'patient'>): ShareSet {
  const body = { patient: patient.id, setId: f.setId, threshold: f.threshold, guardians: f.guardians, ts: f.ts }
  return { ...body, sig: sign(patient.signing, signingMessage(TAG, unsigned(body))) }
}

export function encodeShareSet (s: ShareSet): Uint8Array {
  const u = unsigned(s)
  return new Writer(u.length + SIG_BYTES).fixed('body', u, u.length).fixed('sig', s.sig, SIG_BYTES).finish()
}

/** Reads a set from `r` (strict), checks its shape and the patient's signature. */
export function readShareSet (r: Reader): ShareSet {
  const v = r.u8('version')
  if (v !== SHARE_SET_VERSION) throw new UnknownVersionError('version', v)
  const patient = r.fixed('patient', ID_BYTES)
  const setId = r.fixed('setId', SET_ID_BYTES)
  const threshold = r.u8('threshold')
  const n = r.u8('guardians')
  if (n > MAX_GUARDIANS) throw new LimitExceededError('guardians', MAX_GUARDIANS, n)
  const ts = r.varint('ts', MAX_TIMESTAMP)
  const guardians: ShareSetGuardian[] = []
  for (let i = 0; i < n; i++) guardians.push({ id: r.fixed(`guardians[${i}].id`, ID_BYTES), x25519: r.fixed(`guardians[${i}].x25519`, 32), commitment: r.fixed(`guardians[${i}].commitment`, HASH_BYTES) })
  const sig = r.fixed('sig', SIG_BYTES)
  const set = { patient, setId, threshold, guardians, ts, sig }
  assertSignature('set.sig', patient, signingMessage(TAG, unsigned(set)), sig)
  return set
}

export function decodeShareSet (bytes: Uint8Array): ShareSet {
  const r = new Reader(bytes)
  const s = readShareSet(r)
  r.end('share set')
  return s
}

/** The guardian the set gives share `index` (1-based). */
export function guardianAt (set: ShareSet, index: number): ShareSetGuardian {
  const g = set.guardians[index - 1]
  if (!Number.isInteger(index) || index < 1 || g === undefined) throw new InvalidFieldError('index', `share ${index} is not in a set of ${set.guardians.length}`)
  return g
}

/**
 * HPKE info binding a share to its set and holder: tag ‖ patient ‖ set ID ‖
 * m ‖ n ‖ index ‖ holder. A share moved to another set, patient, index or
 * recipient does not open.
 */
export function shareInfo (tag: Uint8Array, set: ShareSet, index: number, holder: Uint8Array): Uint8Array {
  return concatBytes(tag, set.patient, set.setId, Uint8Array.of(set.threshold, set.guardians.length, index), checkBytes('holder', holder, ID_BYTES))
}

/** Two decoded sets are one set (same patient, set ID and signed body). */
export function sameSet (a: ShareSet, b: ShareSet): boolean {
  return equalBytes(a.setId, b.setId) && equalBytes(a.patient, b.patient) && equalBytes(a.sig, b.sig)
}
