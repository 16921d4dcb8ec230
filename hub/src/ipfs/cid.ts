/**
 * The bridge between the core's 32-byte content digests (what HEIoT / HEdm
 * carry on chain, DESIGN §4) and multiformats CIDs (what Helia speaks).
 * A Healthchain block is always CIDv1, codec raw (0x55), multihash
 * sha2-256 (0x12): the digest is core `contentDigest(bytes)` and the string
 * is core `cidStringFromDigest(digest)`; nothing else is accepted.
 */
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { contentDigest, cidStringFromDigest, checkBytes } from '../core/index.ts'
import { UnsupportedCidError } from './errors.ts'

export const RAW_CODEC = 0x55
export const SHA2_256 = 0x12

/** The multiformats CID for a 32-byte sha2-256 digest. */
export function cidFromDigest (digest: Uint8Array): CID {
  checkBytes('digest', digest, 32)
  return CID.createV1(RAW_CODEC, Digest.create(SHA2_256, digest))
}

/** The CID that names `bytes`. */
export function cidOfBytes (bytes: Uint8Array): CID {
  return cidFromDigest(contentDigest(bytes))
}

/**
 * The 32-byte digest inside a CID (or CID string), after checking it is a
 * Healthchain CID: v1, raw, sha2-256.
 */
export function digestOfCid (cid: CID | string): Uint8Array {
  let c: CID
  if (typeof cid === 'string') {
    try { c = CID.parse(cid) } catch (err) { throw new UnsupportedCidError(cid, `not a CID (${(err as Error).message})`) }
  } else {
    c = cid
  }
  if (c.version !== 1) throw new UnsupportedCidError(c.toString(), `CIDv${c.version}, want CIDv1`)
  if (c.code !== RAW_CODEC) throw new UnsupportedCidError(c.toString(), `codec 0x${c.code.toString(16)}, want raw (0x55)`)
  if (c.multihash.code !== SHA2_256 || c.multihash.digest.length !== 32) throw new UnsupportedCidError(c.toString(), 'multihash is not sha2-256')
  return c.multihash.digest
}

/** Accepts a CID, its string, or a bare 32-byte digest. */
export type CidLike = CID | string | Uint8Array

export function toCid (x: CidLike): CID {
  if (x instanceof Uint8Array) return cidFromDigest(x)
  const digest = digestOfCid(x)
  return cidFromDigest(digest)
}

/** Canonical string form (base32 'b…'), identical to core cidStringFromDigest. */
export function cidString (x: CidLike): string {
  return cidStringFromDigest(x instanceof Uint8Array ? checkBytes('digest', x, 32) : digestOfCid(x))
}
