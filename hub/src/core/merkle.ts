/**
 * Merkle tree over transaction ids (paper §IV-B1 "userroot"/"diagroot"),
 * with the domain separation of RFC 6962 §2.1: leaf = H(0x00 ‖ d),
 * node = H(0x01 ‖ left ‖ right), split at the largest power of two below n,
 * and no duplicated last leaf — so the CVE-2012-2459 mutation of Bitcoin's
 * tree (repeat the last tx, same root) cannot happen. Inclusion proofs are
 * RFC 6962 §2.1.1 audit paths, verified as in RFC 9162 §2.1.3.2.
 */
import { checkBytes, concatBytes } from './codec.ts'
import { HASH_BYTES, putLatin1, sha256, sha256Latin1 } from './crypto.ts'
import { InvalidFieldError } from './errors.ts'

const LEAF = Uint8Array.of(0x00)
// Scratch buffers for the root's ~2n hashes: the hash reads its input synchronously.
const NODE_BUF = new Uint8Array(65)
NODE_BUF[0] = 0x01
const LEAF_BUF = new Uint8Array(33)

export function leafHash (leaf: Uint8Array): Uint8Array { return sha256(concatBytes(LEAF, leaf)) }
export function nodeHash (l: Uint8Array, r: Uint8Array): Uint8Array { return sha256(nodeInput(l, r)) }

function nodeInput (l: Uint8Array, r: Uint8Array): Uint8Array {
  if (l.length !== 32 || r.length !== 32) throw new InvalidFieldError('node', 'children must be 32-byte hashes')
  NODE_BUF.set(l, 1)
  NODE_BUF.set(r, 33)
  return NODE_BUF
}

function bytesOf (digest: string): Uint8Array { return putLatin1(new Uint8Array(HASH_BYTES), 0, digest) }

function split (n: number): number {
  let k = 1
  while (k * 2 < n) k *= 2
  return k
}

/**
 * MTH(D[lo, hi)) as a latin1 digest string (crypto.ts sha256Latin1): a full
 * Ublock's ~15k hashes allocate no array each, and no copy.
 */
function mth (leaves: readonly Uint8Array[], lo: number, hi: number): string {
  const n = hi - lo
  if (n === 1) {
    const leaf = leaves[lo]!
    if (leaf.length !== HASH_BYTES) return sha256Latin1(concatBytes(LEAF, leaf))
    LEAF_BUF.set(leaf, 1)
    return sha256Latin1(LEAF_BUF)
  }
  const k = split(n)
  const l = mth(leaves, lo, lo + k)
  const r = mth(leaves, lo + k, hi)
  putLatin1(NODE_BUF, 1, l)
  putLatin1(NODE_BUF, 33, r)
  return sha256Latin1(NODE_BUF)
}

/** MTH(D[n]); the empty tree's root is SHA-256 of the empty string. */
export function merkleRoot (leaves: readonly Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return sha256(new Uint8Array(0))
  return bytesOf(mth(leaves, 0, leaves.length))
}

/** PATH(m, D[n]) of RFC 6962 §2.1.1: sibling hashes from the leaf up. */
export function merkleProof (leaves: readonly Uint8Array[], index: number): Uint8Array[] {
  if (!Number.isInteger(index) || index < 0 || index >= leaves.length) {
    throw new InvalidFieldError('index', `must be in [0, ${leaves.length})`)
  }
  const path: Uint8Array[] = []
  let lo = 0
  let hi = leaves.length
  const stack: Uint8Array[] = []
  while (hi - lo > 1) {
    const k = split(hi - lo)
    if (index < lo + k) { stack.push(bytesOf(mth(leaves, lo + k, hi))); hi = lo + k } else { stack.push(bytesOf(mth(leaves, lo, lo + k))); lo = lo + k }
  }
  for (let i = stack.length - 1; i >= 0; i--) path.push(stack[i]!)
  return path
}

/** Every leaf's audit path at once, in O(n log n) hashes (what a core node serves light nodes). */
export function merkleProofs (leaves: readonly Uint8Array[]): Uint8Array[][] {
  const paths: Uint8Array[][] = leaves.map(() => [])
  const walk = (lo: number, hi: number): Uint8Array => {
    if (hi - lo === 1) return leafHash(leaves[lo]!)
    const k = split(hi - lo)
    const left = walk(lo, lo + k)
    const right = walk(lo + k, hi)
    for (let i = lo; i < lo + k; i++) paths[i]!.push(right)
    for (let i = lo + k; i < hi; i++) paths[i]!.push(left)
    return nodeHash(left, right)
  }
  if (leaves.length > 0) walk(0, leaves.length)
  return paths
}

/** RFC 9162 §2.1.3.2: does `leaf` sit at `index` of a size-`size` tree with this root? */
export function verifyMerkleProof (leaf: Uint8Array, index: number, size: number, proof: readonly Uint8Array[], root: Uint8Array): boolean {
  checkBytes('leaf', leaf)
  checkBytes('root', root, 32)
  if (!Number.isInteger(index) || !Number.isInteger(size) || index < 0 || index >= size) return false
  let fn = index
  let sn = size - 1
  let r = leafHash(leaf)
  for (const p of proof) {
    if (!(p instanceof Uint8Array) || p.length !== 32) return false
    if (sn === 0) return false
    if ((fn & 1) === 1 || fn === sn) {
      r = nodeHash(p, r)
      if ((fn & 1) === 0) {
        while ((fn & 1) === 0 && fn !== 0) { fn >>>= 1; sn >>>= 1 }
      }
    } else {
      r = nodeHash(r, p)
    }
    fn >>>= 1
    sn >>>= 1
  }
  if (sn !== 0) return false
  let d = 0
  for (let i = 0; i < 32; i++) d |= r[i]! ^ root[i]!
  return d === 0
}
