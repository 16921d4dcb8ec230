/**
 * Short transaction ids of compact block relay (BIP 152 §"Short transaction
 * ID calculation", applied to the Ublock of paper §IV-B1): the low 48 bits
 * of SipHash-2-4(k, txid), with k the first 16 bytes of
 * SHA-256(header ‖ nonce). The key changes with every block and every
 * sender's nonce, so nobody can grind transactions whose short ids collide
 * across the whole network; a collision that happens anyway costs one
 * full-block fetch, never a wrong block (the Merkle root decides).
 */
import { concatBytes } from '../codec.ts'
import { sha256 } from '../crypto.ts'
import { sipKey, siphash24, type SipKey } from './siphash.ts'

export const SHORT_ID_BYTES = 6
export const COMPACT_NONCE_BYTES = 8

/** The SipHash key of a compact block: from its encoded header and the sender's nonce. */
export function shortIdKey (headerBytes: Uint8Array, nonce: Uint8Array): SipKey {
  return sipKey(sha256(concatBytes(headerBytes, nonce)).subarray(0, 16))
}

/** A transaction's short id under `key`, as a number below 2^48. */
export function shortId (key: SipKey, txid: Uint8Array): number {
  const { hi, lo } = siphash24(key, txid)
  return (hi & 0xffff) * 0x100000000 + lo
}
