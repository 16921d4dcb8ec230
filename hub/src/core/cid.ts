/**
 * Content identifiers (DESIGN §4): on chain, HEIoT and HEdm are stored as
 * the 32-byte sha2-256 digest of a CIDv1 with the raw codec; the full CID is
 * rebuilt from it. Multiformats: CIDv1 = varint(1) ‖ varint(0x55 raw) ‖
 * multihash(0x12 sha2-256, 0x20 length, digest); string form is multibase
 * base32 lower-case ('b' prefix, RFC 4648 alphabet without padding).
 */
import { checkBytes, concatBytes, equalBytes } from './codec.ts'
import { sha256 } from './crypto.ts'
import { InvalidFieldError, NonCanonicalError } from './errors.ts'

const PREFIX = Uint8Array.of(0x01, 0x55, 0x12, 0x20)
const B32 = 'abcdefghijklmnopqrstuvwxyz234567'

/** The digest a tx carries for content `data`. */
export function contentDigest (data: Uint8Array): Uint8Array { return sha256(data) }

export function cidBytesFromDigest (digest: Uint8Array): Uint8Array {
  return concatBytes(PREFIX, checkBytes('digest', digest, 32))
}

export function cidStringFromDigest (digest: Uint8Array): string {
  const bytes = cidBytesFromDigest(digest)
  let out = 'b'
  let bits = 0
  let value = 0
  for (const b of bytes) {
    value = (value << 8) | b
    bits += 8
    while (bits >= 5) { out += B32[(value >>> (bits - 5)) & 31]; bits -= 5 }
  }
  if (bits > 0) out += B32[(value << (5 - bits)) & 31]
  return out
}

/** Parses a base32 CIDv1 raw sha2-256 string back to its digest. */
export function digestFromCidString (cid: string): Uint8Array {
  if (typeof cid !== 'string' || cid[0] !== 'b') throw new InvalidFieldError('cid', 'must be a base32 CIDv1 string')
  const out: number[] = []
  let bits = 0
  let value = 0
  for (const ch of cid.slice(1)) {
    const v = B32.indexOf(ch)
    if (v < 0) throw new InvalidFieldError('cid', `bad base32 character '${ch}'`)
    value = ((value << 5) | v) & 0xffff
    bits += 5
    if (bits >= 8) { out.push((value >>> (bits - 8)) & 0xff); bits -= 8 }
  }
  const bytes = Uint8Array.from(out)
  if (bytes.length !== 36 || !equalBytes(bytes.subarray(0, 4), PREFIX)) throw new InvalidFieldError('cid', 'not a CIDv1 raw sha2-256')
  if (cidStringFromDigest(bytes.subarray(4)) !== cid) throw new NonCanonicalError('cid', 'padding bits set')
  return bytes.slice(4)
}
