/**
 * Ed25519 (RFC 8032 §5.1) signing and verification, on libsodium
 * (sodium-native) when its prebuilt addon loads, else on node:crypto
 * (OpenSSL). libsodium verifies 2.3× faster here (43 µs against 102 µs a
 * signature), and every accounting node checks every tx_diag signature, so
 * it bounds Docchain throughput (paper §IV-B3); block validation gains too.
 *
 * Both backends accept exactly the same signatures: before either is asked,
 * `acceptable` applies libsodium's rules beyond RFC 8032 §5.1.7 — S < L (the
 * RFC's own check), the public key A a canonical encoding (y < p), and
 * neither A nor R one of the small-order points (the points of order 1, 2, 4
 * and 8, in every encoding). The RFC leaves those cases to implementations
 * and OpenSSL's handling has changed between versions (3.5 refuses small-order
 * keys); a consortium mixing platforms (a hub on a 32-bit Pi has no prebuild)
 * must not split on a crafted signature. What remains is the same
 * cofactorless equation in both: encode([S]B − [k]A) = R.
 *
 * HEALTHCHAIN_ED25519=node forces node:crypto (tests compare the two).
 */
import { createRequire } from 'node:module'
import { sign as nodeSign, verify as nodeVerify, type KeyObject } from 'node:crypto'
import { privateKeyObject, publicKeyObject, rawPublicKey } from './rfc8410.ts'

export type Ed25519Backend = 'libsodium' | 'node'

interface Sodium {
  crypto_sign_seed_keypair: (pk: Uint8Array, sk: Uint8Array, seed: Uint8Array) => void
  crypto_sign_detached: (sig: Uint8Array, m: Uint8Array, sk: Uint8Array) => void
  crypto_sign_verify_detached: (sig: Uint8Array, m: Uint8Array, pk: Uint8Array) => boolean
}

function loadSodium (): Sodium | null {
  if (process.env.HEALTHCHAIN_ED25519 === 'node') return null
  try {
    return createRequire(import.meta.url)('sodium-native') as Sodium
  } catch {
    return null // no prebuilt addon for this platform: node:crypto
  }
}

const sodium = loadSodium()

/** The backend this process uses. */
export const ed25519Backend: Ed25519Backend = sodium === null ? 'node' : 'libsodium'

/** A private key: the RFC 8032 seed expanded once for whichever backend signs. */
export interface Ed25519Key {
  readonly publicKey: Uint8Array
  /** node:crypto's key object (always made: the fallback and the comparison tests sign with it). */
  readonly key: KeyObject
  /** libsodium's secret key (seed ‖ public key), when libsodium signs. */
  readonly secret: Uint8Array | null
}

/** The key of a 32-byte seed (RFC 8032 §5.1.5); the caller checks the length. */
export function ed25519Key (seed: Uint8Array): Ed25519Key {
  const key = privateKeyObject('ed25519', seed)
  const publicKey = rawPublicKey(key)
  let secret: Uint8Array | null = null
  if (sodium !== null) {
    const pk = new Uint8Array(32)
    secret = new Uint8Array(64)
    sodium.crypto_sign_seed_keypair(pk, secret, seed)
  }
  return { publicKey, key, secret }
}

/** The 64-byte signature of `message` (RFC 8032 §5.1.6; deterministic, so both backends give the same bytes). */
export function ed25519Sign (k: Ed25519Key, message: Uint8Array, backend: Ed25519Backend = ed25519Backend): Uint8Array {
  if (backend === 'libsodium' && k.secret !== null && sodium !== null) {
    const sig = new Uint8Array(64)
    sodium.crypto_sign_detached(sig, message, k.secret)
    return sig
  }
  return new Uint8Array(nodeSign(null, message, k.key))
}

// Verifying keys of node:crypto are cached: block validation checks many txs of few users.
const verifyKeys = new Map<string, KeyObject>()
const VERIFY_CACHE_MAX = 4096

function nodeKey (publicKey: Uint8Array): KeyObject {
  const k = Buffer.from(publicKey).toString('latin1')
  let key = verifyKeys.get(k)
  if (key === undefined) {
    key = publicKeyObject('ed25519', publicKey)
    if (verifyKeys.size >= VERIFY_CACHE_MAX) verifyKeys.delete(verifyKeys.keys().next().value!)
    verifyKeys.set(k, key)
  }
  return key
}

/**
 * Whether `sig` is a valid signature of `message` under `publicKey`
 * (RFC 8032 §5.1.7 under the rules above); false for a key of other than
 * 32 bytes or a signature of other than 64 (core verify throws on those).
 */
export function ed25519Verify (publicKey: Uint8Array, message: Uint8Array, sig: Uint8Array, backend: Ed25519Backend = ed25519Backend): boolean {
  if (!acceptable(publicKey, sig)) return false
  if (backend === 'libsodium' && sodium !== null) return sodium.crypto_sign_verify_detached(sig, message, publicKey)
  try {
    return nodeVerify(null, message, nodeKey(publicKey), sig)
  } catch {
    return false // a public key that is not a curve point
  }
}

// ---- the acceptance rules (libsodium's ge25519_is_canonical, ge25519_has_small_order, sc25519_is_canonical)

/** The group order L = 2^252 + 27742317777372353535851937790883648493, little-endian. */
const L = Uint8Array.from([
  0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10
])

/** y of the points of small order (1, 2, 4, 8) as encoded, and the non-canonical encodings p, p + 1 of y = 0, 1; the sign bit is ignored. */
export const SMALL_ORDER_ENCODINGS: readonly Uint8Array[] = [
  '0000000000000000000000000000000000000000000000000000000000000000', // y = 0: order 4
  '0100000000000000000000000000000000000000000000000000000000000000', // y = 1: the identity
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05', // order 8
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a', // order 8
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // y = p − 1 = −1: order 2
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // y = p ≡ 0
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f' // y = p + 1 ≡ 1
].map((h) => Uint8Array.from(Buffer.from(h, 'hex')))

/** Whether the 32 bytes from p[0] encode a small-order point (any sign bit). */
function smallOrder (p: Uint8Array): boolean {
  next: for (const s of SMALL_ORDER_ENCODINGS) {
    for (let i = 0; i < 31; i++) if (p[i] !== s[i]) continue next
    if ((p[31]! & 0x7f) === s[31]) return true
  }
  return false
}

/** y < p = 2^255 − 19 (the sign bit aside). */
function canonicalPoint (p: Uint8Array): boolean {
  if ((p[31]! & 0x7f) !== 0x7f) return true
  for (let i = 30; i > 0; i--) if (p[i] !== 0xff) return true
  return p[0]! < 0xed
}

/** S < L (RFC 8032 §5.1.7 step 1), S = sig[32..64] little-endian. */
function canonicalScalar (sig: Uint8Array): boolean {
  for (let i = 31; i >= 0; i--) {
    const s = sig[32 + i]!
    if (s !== L[i]) return s < L[i]!
  }
  return false // S = L
}

/** The rules both backends share (see the module comment); a key of other than 32 bytes or a signature of other than 64 fails them. */
export function acceptable (publicKey: Uint8Array, sig: Uint8Array): boolean {
  if (publicKey.length !== 32 || sig.length !== 64) return false
  return canonicalScalar(sig) && canonicalPoint(publicKey) && !smallOrder(publicKey) && !smallOrder(sig)
}
