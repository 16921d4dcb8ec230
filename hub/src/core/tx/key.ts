/**
 * tx_key (paper §IV-B1, Eq. 2; §IV-B5 Alg. 3)
 *   = {ID_U, ts, epoch, ikFrom, C(Ik), [Env_ij], Env_U, Sig}.
 *
 * Each key epoch has an IoT key Ik and a per-epoch user secret s; the
 * diagnosis key of doctor D_j is dk_ij = HKDF(s, ID_U ‖ epoch ‖ ID_D) (DESIGN
 * §4), so Env_U carries one secret instead of one key per doctor.
 *   Env_ij = {ID_D, HPKE-Seal(pk_D, Ik ‖ dk_ij)}     (RFC 9180 base mode)
 *   Env_U  =        HPKE-Seal(pk_U, Ik ‖ s)
 * All envelopes of one tx_key share one ephemeral key (one `enc`): each
 * recipient's shared secret binds enc and its own pkR (RFC 9180 §4.1
 * kem_context), so the envelopes stay independent while the transaction
 * saves 32 bytes per doctor. The HPKE info binds user, epoch and recipient.
 *
 * A revocation, a rotation and a `from-now` grant seal a fresh Ik (forward
 * security, §V-C); a `history` grant keeps the Ik of the epoch before it, so
 * its new doctor also opens what was sealed since that Ik was made. Userchain
 * says so in the clear: `ikFrom` is the first epoch sealed under this epoch's
 * Ik (the epoch itself when the Ik is fresh), and C(Ik) = SHA-256(domain ‖
 * ID_U ‖ Ik) commits to the Ik, so a core node checks a claim against the
 * previous epoch's commitment without seeing a key (store/ledger.ts), and a
 * recipient checks the Ik it opens against it. `grantCovering` below is the
 * one rule that turns this into "doctor D holds the key of epoch E" for the
 * accounting nodes, the doctor node and the user alike.
 *
 * Version 2 carries ikFrom and C(Ik); version 1 (no such fields) is still
 * read, as a tx_key whose Ik reaches back to its own epoch only. Version 3
 * is version 2 with the emergency escrow of a patient who opted in (escrow.ts:
 * Ik split t-of-n among the accounting nodes); without one a tx_key is
 * written as version 2, byte for byte as before.
 * Envelopes are sorted by doctor ID, which makes the encoding canonical and
 * rejects a doctor named twice.
 */
import type { Reader, Writer } from '../codec.ts'
import { compareBytes, concatBytes, equalBytes, utf8Bytes } from '../codec.ts'
import { AES_KEY_BYTES, HASH_BYTES, hkdfSha256, ID_BYTES, sha256, type Identity } from '../crypto.ts'
import { deriveKeyPair, N_ENC, N_T, open, sealWith } from '../hpke.ts'
import { IkCommitmentError, InvalidFieldError, LimitExceededError } from '../errors.ts'
import { MAX_ENVELOPES, MAX_EPOCH, MAX_TIMESTAMP } from '../limits.ts'
import { defaultTag, epochBytes, signBody, type TxCodec } from './common.ts'
import { readEscrow, sealEscrow, writeEscrow, type Escrow, type EscrowSplit } from './escrow.ts'

/** Sealed Ik ‖ (dk_ij or s): two 32-byte keys and the GCM tag. */
export const KEY_ENVELOPE_CT_BYTES = 2 * AES_KEY_BYTES + N_T

export interface KeyEnvelope {
  readonly doctor: Uint8Array
  readonly ct: Uint8Array
}

export interface TxKey {
  readonly kind: 'key'
  readonly user: Uint8Array
  readonly ts: number
  /** The key epoch this transaction opens (≥ 1). */
  readonly epoch: number
  /** The first epoch sealed under this epoch's Ik: `epoch` for a fresh Ik, earlier when a `history` grant kept it. */
  readonly ikFrom: number
  /** C(Ik) (ikCommitment); null only in a version-1 tx_key, which predates it. */
  readonly ikCommit: Uint8Array | null
  /** HPKE enc shared by every envelope of this transaction. */
  readonly enc: Uint8Array
  /** Env_ij, sorted by doctor ID. */
  readonly envelopes: readonly KeyEnvelope[]
  /** Env_U. */
  readonly userEnv: Uint8Array
  /** The emergency escrow of Ik (version 3), when the patient opted in; absent otherwise. */
  readonly escrow?: Escrow | null
  readonly sig: Uint8Array
}

function checkEnvelopes (envs: readonly KeyEnvelope[]): void {
  if (envs.length > MAX_ENVELOPES) throw new LimitExceededError('envelopes', MAX_ENVELOPES, envs.length)
  for (let i = 1; i < envs.length; i++) {
    const c = compareBytes(envs[i - 1]!.doctor, envs[i]!.doctor)
    if (c === 0) throw new InvalidFieldError(`envelopes[${i}].doctor`, 'doctor named twice')
    if (c > 0) throw new InvalidFieldError(`envelopes[${i}].doctor`, 'envelopes must be sorted by doctor ID')
  }
}

function checkEpoch (epoch: number): void {
  if (epoch < 1) throw new InvalidFieldError('epoch', 'key epochs start at 1')
}

function checkIkFrom (ikFrom: number, epoch: number, committed: boolean): void {
  if (ikFrom < 1 || ikFrom > epoch) throw new InvalidFieldError('ikFrom', `must lie in [1, epoch ${epoch}], got ${ikFrom}`)
  if (!committed && ikFrom !== epoch) throw new InvalidFieldError('ikFrom', 'a version-1 tx_key commits to no Ik, so its Ik reaches back to its own epoch only')
}

/** The wire version: 2 (ikFrom and C(Ik)), or 1 for a tx_key read from before them. */
const LEGACY = 1
const CURRENT = 2
const ESCROWED = 3

export const txKeyCodec: TxCodec<TxKey> = {
  kind: 'key',
  tag: defaultTag('key'),
  versions: [LEGACY, CURRENT, ESCROWED],
  versionOf: (tx) => tx.ikCommit === null ? LEGACY : tx.escrow != null ? ESCROWED : CURRENT,
  writeBody (w: Writer, tx: TxKey) {
    w.fixed('user', tx.user, ID_BYTES)
      .varint('ts', tx.ts, MAX_TIMESTAMP)
      .varint('epoch', tx.epoch, MAX_EPOCH)
    checkEpoch(tx.epoch)
    if (tx.ikCommit !== null) w.varint('ikFrom', tx.ikFrom, MAX_EPOCH).fixed('ikCommit', tx.ikCommit, HASH_BYTES)
    checkIkFrom(tx.ikFrom, tx.epoch, tx.ikCommit !== null)
    w.fixed('enc', tx.enc, N_ENC)
    if (!Array.isArray(tx.envelopes)) throw new InvalidFieldError('envelopes', 'must be an array')
    checkEnvelopes(tx.envelopes)
    w.varint('envelopes', tx.envelopes.length, MAX_ENVELOPES)
    tx.envelopes.forEach((e, i) => {
      w.fixed(`envelopes[${i}].doctor`, e.doctor, ID_BYTES).fixed(`envelopes[${i}].ct`, e.ct, KEY_ENVELOPE_CT_BYTES)
    })
    w.fixed('userEnv', tx.userEnv, KEY_ENVELOPE_CT_BYTES)
    if (tx.escrow != null) {
      if (tx.ikCommit === null) throw new InvalidFieldError('escrow', 'a version-1 tx_key carries no escrow')
      writeEscrow(w, tx.escrow)
    }
  },
  readBody (r: Reader, version: number) {
    const user = r.fixed('user', ID_BYTES)
    const ts = r.varint('ts', MAX_TIMESTAMP)
    const epoch = r.varint('epoch', MAX_EPOCH)
    checkEpoch(epoch)
    const ikFrom = version === LEGACY ? epoch : r.varint('ikFrom', MAX_EPOCH)
    const ikCommit = version === LEGACY ? null : r.fixed('ikCommit', HASH_BYTES)
    checkIkFrom(ikFrom, epoch, ikCommit !== null)
    const enc = r.fixed('enc', N_ENC)
    const n = r.varint('envelopes', MAX_ENVELOPES)
    const envelopes: KeyEnvelope[] = []
    for (let i = 0; i < n; i++) {
      envelopes.push({ doctor: r.fixed(`envelopes[${i}].doctor`, ID_BYTES), ct: r.fixed(`envelopes[${i}].ct`, KEY_ENVELOPE_CT_BYTES) })
    }
    checkEnvelopes(envelopes)
    const userEnv = r.fixed('userEnv', KEY_ENVELOPE_CT_BYTES)
    const body = { kind: 'key' as const, user, ts, epoch, ikFrom, ikCommit, enc, envelopes, userEnv }
    return version === ESCROWED ? { ...body, escrow: readEscrow(r) } : body
  },
  signer: (tx) => tx.user
}

const ENV_INFO = utf8Bytes('healthchain/tx_key/v1\0')
const IK_COMMIT = utf8Bytes('healthchain/ik-commit/v1\0')
const DK_INFO = utf8Bytes('healthchain/dk/v1\0')
const NO_AAD = new Uint8Array(0)

/** HPKE info of one envelope: binds it to user, epoch and recipient. */
function envelopeInfo (user: Uint8Array, epoch: number, recipient: Uint8Array): Uint8Array {
  return concatBytes(ENV_INFO, user, epochBytes(epoch), recipient)
}

/** dk_ij = HKDF-SHA256(s, info = ID_U ‖ epoch ‖ ID_D). */
export function deriveDiagnosisKey (epochSecret: Uint8Array, user: Uint8Array, epoch: number, doctor: Uint8Array): Uint8Array {
  return hkdfSha256(epochSecret, undefined, concatBytes(DK_INFO, user, epochBytes(epoch), doctor), AES_KEY_BYTES)
}

/**
 * C(Ik) = SHA-256("healthchain/ik-commit/v1\0" ‖ ID_U ‖ Ik): equal for two
 * epochs exactly when they share their Ik, and (Ik being 32 random bytes)
 * telling nothing of it.
 */
export function ikCommitment (user: Uint8Array, ik: Uint8Array): Uint8Array {
  return sha256(concatBytes(IK_COMMIT, user, ik))
}

export interface DoctorKey {
  /** ID_D, the doctor's Ed25519 public key. */
  readonly id: Uint8Array
  /** pk_D, the doctor's X25519 public key (from its identity record). */
  readonly x25519: Uint8Array
}

export interface TxKeyFields {
  readonly ts: number
  readonly epoch: number
  /** The first epoch sealed under `ik` (default: `epoch`, a fresh Ik). */
  readonly ikFrom?: number
  /** Ik: the epoch's IoT key (32 random bytes). */
  readonly ik: Uint8Array
  /** s: the epoch's user secret (32 random bytes). */
  readonly epochSecret: Uint8Array
  readonly doctors: readonly DoctorKey[]
  /** ≥ 32 random bytes for the HPKE ephemeral key. */
  readonly ikmE: Uint8Array
  /** The Shamir shares of `ik` for the accounting nodes, when the patient opted in to emergency access (or an escrow sealed already, kept as it is). */
  readonly escrow?: EscrowSplit | Escrow
}

/** Alg. 3: seal the epoch's keys to each authorized doctor and to the user, then sign. */
export function buildTxKey (user: Identity, f: TxKeyFields): TxKey {
  if (!Array.isArray(f.doctors)) throw new InvalidFieldError('doctors', 'must be an array')
  if (f.doctors.length > MAX_ENVELOPES) throw new LimitExceededError('envelopes', MAX_ENVELOPES, f.doctors.length)
  const e = deriveKeyPair(f.ikmE)
  const doctors = [...f.doctors].sort((a, b) => compareBytes(a.id, b.id))
  const envelopes = doctors.map((d, i) => {
    if (!(d.id instanceof Uint8Array) || d.id.length !== ID_BYTES) throw new InvalidFieldError(`doctors[${i}].id`, `must be ${ID_BYTES} bytes`)
    const dk = deriveDiagnosisKey(f.epochSecret, user.id, f.epoch, d.id)
    return { doctor: d.id, ct: sealWith(e, d.x25519, envelopeInfo(user.id, f.epoch, d.id), NO_AAD, concatBytes(f.ik, dk)) }
  })
  const userEnv = sealWith(e, user.agreement.publicKey, envelopeInfo(user.id, f.epoch, user.id), NO_AAD, concatBytes(f.ik, f.epochSecret))
  const ikCommit = ikCommitment(user.id, f.ik)
  const escrow = f.escrow === undefined ? {} : { escrow: 'members' in f.escrow ? sealEscrow(user.id, f.epoch, ikCommit, f.escrow) : f.escrow }
  return signBody(txKeyCodec, {
    kind: 'key', user: user.id, ts: f.ts, epoch: f.epoch, ikFrom: f.ikFrom ?? f.epoch, ikCommit, enc: e.publicKey, envelopes, userEnv, ...escrow
  }, user.signing)
}

/** What a doctor learns from a tx_key that names it. */
export interface DoctorEpochKeys { readonly ik: Uint8Array, readonly dk: Uint8Array }

/** Opens Env_ij as doctor D_j; null when the transaction does not name the doctor. */
export function openAsDoctor (tx: TxKey, doctor: Identity): DoctorEpochKeys | null {
  const i = tx.envelopes.findIndex((e) => equalBytes(e.doctor, doctor.id))
  if (i < 0) return null
  const pt = open(doctor.agreement, tx.enc, envelopeInfo(tx.user, tx.epoch, doctor.id), NO_AAD, tx.envelopes[i]!.ct, `envelopes[${i}]`)
  const ik = pt.slice(0, 32)
  checkCommitment(tx, ik, `envelopes[${i}]`)
  return { ik, dk: pt.slice(32) }
}

/** The Ik a recipient opened is the one C(Ik) commits to (else the user sealed another Ik than it published). */
function checkCommitment (tx: TxKey, ik: Uint8Array, field: string): void {
  if (tx.ikCommit !== null && !equalBytes(ikCommitment(tx.user, ik), tx.ikCommit)) throw new IkCommitmentError(field)
}

/** What the user recovers from Env_U: everything of the epoch, from the chain alone. */
export interface UserEpochKeys { readonly ik: Uint8Array, readonly epochSecret: Uint8Array }

export function openAsUser (tx: TxKey, user: Identity): UserEpochKeys {
  if (!equalBytes(tx.user, user.id)) throw new InvalidFieldError('user', 'this tx_key belongs to another user')
  const pt = open(user.agreement, tx.enc, envelopeInfo(tx.user, tx.epoch, user.id), NO_AAD, tx.userEnv, 'userEnv')
  const ik = pt.slice(0, 32)
  checkCommitment(tx, ik, 'userEnv')
  return { ik, epochSecret: pt.slice(32) }
}

/** What the read rule needs of one tx_key: its epoch, how far back its Ik reaches, whom it names. */
export interface KeyGrant {
  readonly epoch: number
  readonly ikFrom: number
  readonly doctors: readonly Uint8Array[]
}

/** A tx_key as a KeyGrant. */
export function keyGrant (tx: TxKey): KeyGrant {
  return { epoch: tx.epoch, ikFrom: tx.ikFrom, doctors: tx.envelopes.map((e) => e.doctor) }
}

/**
 * May `doctor` read what a user sealed under key epoch `epoch`? (§IV-B5
 * Alg. 3–4, §V-C.) A tx_key of epoch G that names the doctor hands it the Ik
 * of every epoch from its ikFrom to G — G alone for a fresh Ik, back to the
 * last fresh Ik after `history` grants — and nothing sealed after G unless a
 * later tx_key names it again. Returns the earliest such G among `grants`
 * (the user's tx_keys as Userchain holds them, any order): its Env_ij gives
 * the Ik, and its dk_ij seals a diagnosis citing data of `epoch`. Null when
 * none covers the epoch.
 * The accounting nodes (admitting a tx_diag), the doctor node (what it
 * decrypts and diagnoses) and the user (which dk_ij opens a diagnosis) all
 * decide with this function.
 */
export function grantCovering (doctor: Uint8Array, epoch: number, grants: Iterable<KeyGrant>): number | null {
  let best: number | null = null
  for (const g of grants) {
    if (g.ikFrom <= epoch && epoch <= g.epoch && (best === null || g.epoch < best) && g.doctors.some((d) => equalBytes(d, doctor))) best = g.epoch
  }
  return best
}
