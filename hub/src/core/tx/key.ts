/**
 * tx_key (paper §IV-B1, Eq. 2; §IV-B5 Alg. 3) = {ID_U, ts, epoch, [Env_ij], Env_U, Sig}.
 *
 * Each key epoch has a fresh IoT key Ik and a per-epoch user secret s; the
 * diagnosis key of doctor D_j is dk_ij = HKDF(s, ID_U ‖ epoch ‖ ID_D) (DESIGN
 * §4), so Env_U carries one secret instead of one key per doctor.
 *   Env_ij = {ID_D, HPKE-Seal(pk_D, Ik ‖ dk_ij)}     (RFC 9180 base mode)
 *   Env_U  =        HPKE-Seal(pk_U, Ik ‖ s)
 * All envelopes of one tx_key share one ephemeral key (one `enc`): each
 * recipient's shared secret binds enc and its own pkR (RFC 9180 §4.1
 * kem_context), so the envelopes stay independent while the transaction
 * saves 32 bytes per doctor. The HPKE info binds user, epoch and recipient.
 *
 * Grants keep Ik (a new doctor reads the current epoch); a revocation is a
 * new epoch with a fresh Ik and envelopes only for the remaining doctors
 * (forward security, §V-C). Envelopes are sorted by doctor ID, which makes
 * the encoding canonical and rejects a doctor named twice.
 */
import type { Reader, Writer } from '../codec.ts'
import { compareBytes, concatBytes, equalBytes, utf8Bytes } from '../codec.ts'
import { AES_KEY_BYTES, hkdfSha256, ID_BYTES, type Identity } from '../crypto.ts'
import { deriveKeyPair, N_ENC, N_T, open, sealWith } from '../hpke.ts'
import { InvalidFieldError, LimitExceededError } from '../errors.ts'
import { MAX_ENVELOPES, MAX_EPOCH, MAX_TIMESTAMP } from '../limits.ts'
import { defaultTag, signBody, type TxCodec } from './common.ts'

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
  /** HPKE enc shared by every envelope of this transaction. */
  readonly enc: Uint8Array
  /** Env_ij, sorted by doctor ID. */
  readonly envelopes: readonly KeyEnvelope[]
  /** Env_U. */
  readonly userEnv: Uint8Array
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

export const txKeyCodec: TxCodec<TxKey> = {
  kind: 'key',
  tag: defaultTag('key'),
  writeBody (w: Writer, tx: TxKey) {
    w.fixed('user', tx.user, ID_BYTES)
      .varint('ts', tx.ts, MAX_TIMESTAMP)
      .varint('epoch', tx.epoch, MAX_EPOCH)
      .fixed('enc', tx.enc, N_ENC)
    checkEpoch(tx.epoch)
    if (!Array.isArray(tx.envelopes)) throw new InvalidFieldError('envelopes', 'must be an array')
    checkEnvelopes(tx.envelopes)
    w.varint('envelopes', tx.envelopes.length, MAX_ENVELOPES)
    tx.envelopes.forEach((e, i) => {
      w.fixed(`envelopes[${i}].doctor`, e.doctor, ID_BYTES).fixed(`envelopes[${i}].ct`, e.ct, KEY_ENVELOPE_CT_BYTES)
    })
    w.fixed('userEnv', tx.userEnv, KEY_ENVELOPE_CT_BYTES)
  },
  readBody (r: Reader) {
    const user = r.fixed('user', ID_BYTES)
    const ts = r.varint('ts', MAX_TIMESTAMP)
    const epoch = r.varint('epoch', MAX_EPOCH)
    checkEpoch(epoch)
    const enc = r.fixed('enc', N_ENC)
    const n = r.varint('envelopes', MAX_ENVELOPES)
    const envelopes: KeyEnvelope[] = []
    for (let i = 0; i < n; i++) {
      envelopes.push({ doctor: r.fixed(`envelopes[${i}].doctor`, ID_BYTES), ct: r.fixed(`envelopes[${i}].ct`, KEY_ENVELOPE_CT_BYTES) })
    }
    checkEnvelopes(envelopes)
    const userEnv = r.fixed('userEnv', KEY_ENVELOPE_CT_BYTES)
    return { kind: 'key', user, ts, epoch, enc, envelopes, userEnv }
  },
  signer: (tx) => tx.user
}

const ENV_INFO = utf8Bytes('healthchain/tx_key/v1\0')
const DK_INFO = utf8Bytes('healthchain/dk/v1\0')
const NO_AAD = new Uint8Array(0)

function epochBytes (epoch: number): Uint8Array {
  return Uint8Array.of(epoch >>> 24, (epoch >>> 16) & 0xff, (epoch >>> 8) & 0xff, epoch & 0xff)
}

/** HPKE info of one envelope: binds it to user, epoch and recipient. */
function envelopeInfo (user: Uint8Array, epoch: number, recipient: Uint8Array): Uint8Array {
  return concatBytes(ENV_INFO, user, epochBytes(epoch), recipient)
}

/** dk_ij = HKDF-SHA256(s, info = ID_U ‖ epoch ‖ ID_D). */
export function deriveDiagnosisKey (epochSecret: Uint8Array, user: Uint8Array, epoch: number, doctor: Uint8Array): Uint8Array {
  return hkdfSha256(epochSecret, undefined, concatBytes(DK_INFO, user, epochBytes(epoch), doctor), AES_KEY_BYTES)
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
  /** Ik: the epoch's IoT key (32 random bytes). */
  readonly ik: Uint8Array
  /** s: the epoch's user secret (32 random bytes). */
  readonly epochSecret: Uint8Array
  readonly doctors: readonly DoctorKey[]
  /** ≥ 32 random bytes for the HPKE ephemeral key. */
  readonly ikmE: Uint8Array
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
  return signBody(txKeyCodec, { kind: 'key', user: user.id, ts: f.ts, epoch: f.epoch, enc: e.publicKey, envelopes, userEnv }, user.signing)
}

/** What a doctor learns from a tx_key that names it. */
export interface DoctorEpochKeys { readonly ik: Uint8Array, readonly dk: Uint8Array }

/** Opens Env_ij as doctor D_j; null when the transaction does not name the doctor. */
export function openAsDoctor (tx: TxKey, doctor: Identity): DoctorEpochKeys | null {
  const i = tx.envelopes.findIndex((e) => equalBytes(e.doctor, doctor.id))
  if (i < 0) return null
  const pt = open(doctor.agreement, tx.enc, envelopeInfo(tx.user, tx.epoch, doctor.id), NO_AAD, tx.envelopes[i]!.ct, `envelopes[${i}]`)
  return { ik: pt.slice(0, 32), dk: pt.slice(32) }
}

/** What the user recovers from Env_U: everything of the epoch, from the chain alone. */
export interface UserEpochKeys { readonly ik: Uint8Array, readonly epochSecret: Uint8Array }

export function openAsUser (tx: TxKey, user: Identity): UserEpochKeys {
  if (!equalBytes(tx.user, user.id)) throw new InvalidFieldError('user', 'this tx_key belongs to another user')
  const pt = open(user.agreement, tx.enc, envelopeInfo(tx.user, tx.epoch, user.id), NO_AAD, tx.userEnv, 'userEnv')
  return { ik: pt.slice(0, 32), epochSecret: pt.slice(32) }
}
