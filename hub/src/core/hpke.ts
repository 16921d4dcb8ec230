/**
 * HPKE, RFC 9180, base mode (§5.1.1) with the suite of Appendix A.1:
 * DHKEM(X25519, HKDF-SHA256) (kem 0x0020), HKDF-SHA256 (kdf 0x0001),
 * AES-128-GCM (aead 0x0001). Single-shot seal/open of §6.1.
 *
 * Synchronous, on node:crypto X25519 + @noble/hashes HKDF + @noble/ciphers
 * AES-GCM (DESIGN §2: ~7x faster than the async reference). It passes the
 * A.1 vectors and interoperates with @hpke/core both ways (test/unit/hpke).
 * The ephemeral key comes from DeriveKeyPair(ikmE) (§7.1.3), so randomness
 * is passed in by the caller, which keeps this module pure.
 */
import { extract, expand } from '@noble/hashes/hkdf.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { gcm } from '@noble/ciphers/aes.js'
import { agreementKeyFromPrivate, x25519, type AgreementKey } from './crypto.ts'
import { checkBytes, concatBytes, utf8Bytes } from './codec.ts'
import { DecryptionError, InvalidFieldError } from './errors.ts'

export const KEM_ID = 0x0020
export const KDF_ID = 0x0001
export const AEAD_ID = 0x0001
export const N_ENC = 32 // DHKEM(X25519) enc length
export const N_SECRET = 32
export const N_K = 16 // AES-128-GCM key
export const N_N = 12
export const N_T = 16

const HPKE_V1 = utf8Bytes('HPKE-v1')
const KEM_SUITE = concatBytes(utf8Bytes('KEM'), i2osp(KEM_ID, 2))
const HPKE_SUITE = concatBytes(utf8Bytes('HPKE'), i2osp(KEM_ID, 2), i2osp(KDF_ID, 2), i2osp(AEAD_ID, 2))
const EMPTY = new Uint8Array(0)
const MODE_BASE = 0x00

function i2osp (n: number, len: number): Uint8Array {
  const out = new Uint8Array(len)
  for (let i = len - 1; i >= 0; i--) { out[i] = n & 0xff; n >>>= 8 }
  return out
}

// §4: LabeledExtract / LabeledExpand
function labeledExtract (suite: Uint8Array, salt: Uint8Array, label: string, ikm: Uint8Array): Uint8Array {
  return extract(sha256, concatBytes(HPKE_V1, suite, utf8Bytes(label), ikm), salt)
}

function labeledExpand (suite: Uint8Array, prk: Uint8Array, label: string, info: Uint8Array, len: number): Uint8Array {
  return expand(sha256, prk, concatBytes(i2osp(len, 2), HPKE_V1, suite, utf8Bytes(label), info), len)
}

export interface HpkeKeyPair {
  readonly privateKey: Uint8Array
  readonly publicKey: Uint8Array
  readonly key: AgreementKey
}

/** §7.1.3 DeriveKeyPair for X25519: sk = LabeledExpand(dkp_prk, "sk", "", 32). */
export function deriveKeyPair (ikm: Uint8Array): HpkeKeyPair {
  checkBytes('ikm', ikm)
  if (ikm.length < N_SECRET) throw new InvalidFieldError('ikm', `must be at least ${N_SECRET} bytes`)
  const dkpPrk = labeledExtract(KEM_SUITE, EMPTY, 'dkp_prk', ikm)
  const sk = labeledExpand(KEM_SUITE, dkpPrk, 'sk', EMPTY, N_SECRET)
  const key = agreementKeyFromPrivate(sk)
  return { privateKey: sk, publicKey: key.publicKey, key }
}

// §4.1 ExtractAndExpand
function extractAndExpand (dh: Uint8Array, kemContext: Uint8Array): Uint8Array {
  const eaePrk = labeledExtract(KEM_SUITE, EMPTY, 'eae_prk', dh)
  return labeledExpand(KEM_SUITE, eaePrk, 'shared_secret', kemContext, N_SECRET)
}

/** §4.1 Encap with the ephemeral key pair derived from ikmE. */
export function encap (pkR: Uint8Array, ikmE: Uint8Array): { sharedSecret: Uint8Array, enc: Uint8Array } {
  checkBytes('recipient public key', pkR, 32)
  const e = deriveKeyPair(ikmE)
  return encapWith(e, pkR)
}

/** Encap with an already derived ephemeral pair (one pair may serve several recipients). */
export function encapWith (e: HpkeKeyPair, pkR: Uint8Array): { sharedSecret: Uint8Array, enc: Uint8Array } {
  const dh = x25519(e.key, pkR)
  const enc = e.publicKey
  return { sharedSecret: extractAndExpand(dh, concatBytes(enc, pkR)), enc }
}

export function decap (enc: Uint8Array, skR: AgreementKey): Uint8Array {
  checkBytes('enc', enc, N_ENC)
  const dh = x25519(skR, enc)
  return extractAndExpand(dh, concatBytes(enc, skR.publicKey))
}

export interface KeySchedule {
  readonly key: Uint8Array
  readonly baseNonce: Uint8Array
  readonly exporterSecret: Uint8Array
}

/** §5.1 KeySchedule, base mode (empty psk and psk_id). */
export function keySchedule (sharedSecret: Uint8Array, info: Uint8Array): KeySchedule {
  const pskIdHash = labeledExtract(HPKE_SUITE, EMPTY, 'psk_id_hash', EMPTY)
  const infoHash = labeledExtract(HPKE_SUITE, EMPTY, 'info_hash', checkBytes('info', info))
  const ctx = concatBytes(Uint8Array.of(MODE_BASE), pskIdHash, infoHash)
  const secret = labeledExtract(HPKE_SUITE, sharedSecret, 'secret', EMPTY)
  return {
    key: labeledExpand(HPKE_SUITE, secret, 'key', ctx, N_K),
    baseNonce: labeledExpand(HPKE_SUITE, secret, 'base_nonce', ctx, N_N),
    exporterSecret: labeledExpand(HPKE_SUITE, secret, 'exp', ctx, 32)
  }
}

/** §5.2 nonce for sequence number seq (single-shot uses seq 0). */
export function computeNonce (baseNonce: Uint8Array, seq: number): Uint8Array {
  const out = baseNonce.slice()
  const s = i2osp(seq, N_N)
  for (let i = 0; i < N_N; i++) out[i] = out[i]! ^ s[i]!
  return out
}

/** §6.1 single-shot Seal with a given ephemeral pair: returns ct (enc is e.publicKey). */
export function sealWith (e: HpkeKeyPair, pkR: Uint8Array, info: Uint8Array, aad: Uint8Array, pt: Uint8Array): Uint8Array {
  const { sharedSecret } = encapWith(e, checkBytes('recipient public key', pkR, 32))
  const ks = keySchedule(sharedSecret, info)
  return gcm(ks.key, ks.baseNonce, aad).encrypt(checkBytes('plaintext', pt))
}

/** §6.1 single-shot Seal: the ephemeral key is derived from ikmE (≥ 32 random bytes). */
export function seal (pkR: Uint8Array, info: Uint8Array, aad: Uint8Array, pt: Uint8Array, ikmE: Uint8Array): { enc: Uint8Array, ct: Uint8Array } {
  const e = deriveKeyPair(ikmE)
  return { enc: e.publicKey, ct: sealWith(e, pkR, info, aad, pt) }
}

/** §6.1 single-shot Open. Throws DecryptionError on any failure. */
export function open (skR: AgreementKey, enc: Uint8Array, info: Uint8Array, aad: Uint8Array, ct: Uint8Array, field = 'envelope'): Uint8Array {
  checkBytes(field, ct)
  let ks: KeySchedule
  try {
    ks = keySchedule(decap(enc, skR), info)
  } catch {
    throw new DecryptionError(field)
  }
  if (ct.length < N_T) throw new DecryptionError(field)
  try {
    return gcm(ks.key, ks.baseNonce, aad).decrypt(ct)
  } catch {
    throw new DecryptionError(field)
  }
}
