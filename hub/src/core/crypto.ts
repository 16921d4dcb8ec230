/**
 * The crypto suite of the data layer (paper §IV-B1, DESIGN §2/§4).
 * - H = SHA-256 (FIPS 180-4), on node:crypto (HKDF/HMAC from @noble/hashes).
 * - Signatures: Ed25519 (RFC 8032) on libsodium or node:crypto (./ed25519.ts); ID = the 32-byte public key.
 * - Key agreement: X25519 (RFC 7748) on node:crypto, for HPKE envelopes.
 * - Symmetric: AES-256-GCM (NIST SP 800-38D) on node:crypto, 96-bit nonce.
 * Pure: randomness (seeds, nonces) is always passed in by the caller.
 */
import { createCipheriv, createDecipheriv, diffieHellman, hash as nodeHash, type KeyObject } from 'node:crypto'
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js'
import { hkdf } from '@noble/hashes/hkdf.js'
import { checkBytes, concatBytes, utf8Bytes } from './codec.ts'
import { BadSignatureError, DecryptionError, InvalidFieldError } from './errors.ts'
import { ed25519Key, ed25519Sign, ed25519Verify, type Ed25519Key } from './ed25519.ts'
import { privateKeyObject, publicKeyObject, rawPublicKey } from './rfc8410.ts'

export const HASH_BYTES = 32
export const ID_BYTES = 32
export const SIG_BYTES = 64
export const SEED_BYTES = 32
export const AES_KEY_BYTES = 32
export const GCM_NONCE_BYTES = 12
export const GCM_TAG_BYTES = 16

/**
 * SHA-256 on node:crypto's one-shot hash(): 1.8× faster than @noble/hashes
 * for 136-byte transactions and 7× for 1 MiB batches (bench/core.ts); block
 * validation and content digests are hash bound. Same FIPS 180-4 vectors.
 * The digest comes out as a latin1 string and is copied into a fresh array:
 * a Buffer result would cost an external ArrayBuffer per call, about twice
 * the hash of a transaction itself (and garbage-collector time after).
 */
export function sha256 (data: Uint8Array): Uint8Array {
  return putLatin1(new Uint8Array(HASH_BYTES), 0, sha256Latin1(checkBytes('data', data)))
}

/** SHA-256 as a 32-character latin1 string, for digests only hashed again (Merkle inner nodes). */
export function sha256Latin1 (data: Uint8Array): string {
  return nodeHash('sha256', data, 'binary') // 'binary' is Node's name for latin1
}

/** Writes the bytes of a latin1 string (e.g. a sha256Latin1 digest) into `out` at `at`; returns `out`. */
export function putLatin1 (out: Uint8Array, at: number, s: string): Uint8Array {
  for (let i = 0; i < s.length; i++) out[at + i] = s.charCodeAt(i)
  return out
}

/** An Ed25519 signing key. The seed is the RFC 8032 32-byte private key. */
export type SigningKey = Ed25519Key

export function signingKeyFromSeed (seed: Uint8Array): SigningKey {
  return ed25519Key(checkBytes('seed', seed, SEED_BYTES))
}

export function sign (sk: SigningKey, message: Uint8Array): Uint8Array {
  return ed25519Sign(sk, checkBytes('message', message))
}

/** True when sig is a valid RFC 8032 signature of message under publicKey (./ed25519.ts: the acceptance rules). */
export function verify (publicKey: Uint8Array, message: Uint8Array, sig: Uint8Array): boolean {
  checkBytes('publicKey', publicKey, ID_BYTES)
  checkBytes('signature', sig, SIG_BYTES)
  return ed25519Verify(publicKey, checkBytes('message', message), sig)
}

export function assertSignature (field: string, publicKey: Uint8Array, message: Uint8Array, sig: Uint8Array): void {
  if (!verify(publicKey, message, sig)) throw new BadSignatureError(field)
}

/** Domain separation: every signed message starts with its own tag. */
export function domainTag (name: string): Uint8Array {
  return utf8Bytes(`healthchain/${name}/v1\0`)
}

// ---- X25519 (RFC 7748) ----

export interface AgreementKey {
  readonly publicKey: Uint8Array
  readonly key: KeyObject
}

export function agreementKeyFromPrivate (sk: Uint8Array): AgreementKey {
  checkBytes('x25519 private key', sk, 32)
  const key = privateKeyObject('x25519', sk)
  return { key, publicKey: rawPublicKey(key) }
}

/** X25519(sk, pk); rejects the all-zero output of a small-order point (RFC 7748 §6.1). */
export function x25519 (sk: AgreementKey, publicKey: Uint8Array): Uint8Array {
  checkBytes('x25519 public key', publicKey, 32)
  let out: Uint8Array
  try {
    const pub = publicKeyObject('x25519', publicKey)
    out = new Uint8Array(diffieHellman({ privateKey: sk.key, publicKey: pub }))
  } catch {
    throw new InvalidFieldError('x25519 public key', 'not a usable X25519 public key')
  }
  if (out.every((b) => b === 0)) throw new InvalidFieldError('x25519 public key', 'small-order point')
  return out
}

/**
 * One identity from one 32-byte seed: the Ed25519 key signs (ID = its public
 * key) and an X25519 key, derived by HKDF from the same seed, opens envelopes.
 * Backing up the seed backs up both.
 */
export interface Identity {
  readonly id: Uint8Array
  readonly signing: SigningKey
  readonly agreement: AgreementKey
}

const X25519_DERIVE_INFO = utf8Bytes('healthchain/x25519-from-seed/v1')

export function identityFromSeed (seed: Uint8Array): Identity {
  const signing = signingKeyFromSeed(seed)
  const agreement = agreementKeyFromPrivate(hkdf(nobleSha256, seed, undefined, X25519_DERIVE_INFO, 32))
  return { id: signing.publicKey, signing, agreement }
}

// ---- AES-256-GCM ----

/**
 * AES-256-GCM: returns ciphertext ‖ tag. The nonce must never repeat under one key.
 * On node:crypto (OpenSSL, AES-NI): a sealed batch of a few hundred KiB is
 * encrypted on the event loop the hub's ingest shares, where a JavaScript AES
 * costs milliseconds per batch (bench/hubflow.ts).
 */
export function aesGcmEncrypt (key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): Uint8Array {
  checkBytes('key', key, AES_KEY_BYTES)
  checkBytes('nonce', nonce, GCM_NONCE_BYTES)
  checkBytes('plaintext', plaintext)
  const c = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: GCM_TAG_BYTES })
  if (aad !== undefined) c.setAAD(aad)
  const out = new Uint8Array(plaintext.length + GCM_TAG_BYTES)
  out.set(c.update(plaintext), 0)
  c.final()
  out.set(c.getAuthTag(), plaintext.length)
  return out
}

export function aesGcmDecrypt (key: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array, aad?: Uint8Array, field = 'ciphertext'): Uint8Array {
  checkBytes('key', key, AES_KEY_BYTES)
  checkBytes('nonce', nonce, GCM_NONCE_BYTES)
  checkBytes(field, ciphertext)
  if (ciphertext.length < GCM_TAG_BYTES) throw new DecryptionError(field)
  const n = ciphertext.length - GCM_TAG_BYTES
  try {
    const d = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: GCM_TAG_BYTES })
    if (aad !== undefined) d.setAAD(aad)
    d.setAuthTag(ciphertext.subarray(n))
    const out = new Uint8Array(n)
    out.set(d.update(ciphertext.subarray(0, n)), 0)
    d.final()
    return out
  } catch {
    throw new DecryptionError(field)
  }
}

/** A sealed box: nonce ‖ AES-256-GCM(key, nonce, aad, plaintext). */
export function sealBox (key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): Uint8Array {
  return concatBytes(nonce, aesGcmEncrypt(key, nonce, plaintext, aad))
}

export function openBox (key: Uint8Array, box: Uint8Array, aad?: Uint8Array): Uint8Array {
  checkBytes('box', box)
  if (box.length < GCM_NONCE_BYTES + GCM_TAG_BYTES) throw new DecryptionError('box')
  return aesGcmDecrypt(key, box.subarray(0, GCM_NONCE_BYTES), box.subarray(GCM_NONCE_BYTES), aad, 'box')
}

/** HKDF-SHA256 (RFC 5869). */
export function hkdfSha256 (ikm: Uint8Array, salt: Uint8Array | undefined, info: Uint8Array, length: number): Uint8Array {
  return hkdf(nobleSha256, checkBytes('ikm', ikm), salt, info, length)
}

/**
 * A 32-byte secret of the identity for its own data at rest (DESIGN §4: keys
 * at rest encrypted): X25519 of its agreement key with its own public key,
 * through HKDF with `purpose` as info, so each use gets an unrelated key.
 * Only the holder of the private key (an unlocked keystore) computes it.
 */
export function selfSecret (who: Identity, purpose: string): Uint8Array {
  return hkdfSha256(x25519(who.agreement, who.agreement.publicKey), undefined, utf8Bytes(purpose), 32)
}
