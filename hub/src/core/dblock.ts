/**
 * Dblock (paper §IV-B1, Fig. 4) of Docchain: header {version, index, gtime,
 * prehash, diagroot, view, leader} and a body of tx_diag and the
 * consortium's doctor-registry records (TxReg, core/tx/reg.ts), in the order
 * PBFT decided; diagroot is the Merkle root over all their ids. The paper's header
 * nonce has no role under PBFT and is dropped; view and leader record which
 * PBFT view and accounting node proposed the block (§IV-B3). A committed
 * Dblock carries a certificate of 2f+1 accounting-node signatures over its
 * hash (DESIGN §4), so anyone can check finality without trusting one node.
 */
import { equalBytes, Reader, toHex, Writer } from './codec.ts'
import { assertSignature, domainTag, HASH_BYTES, ID_BYTES, SIG_BYTES, sha256, sign, type SigningKey } from './crypto.ts'
import { InvalidFieldError, QuorumError, UnknownVersionError } from './errors.ts'
import { MAX_CERT_SIGNATURES } from './limits.ts'
import { merkleRoot } from './merkle.ts'
import { bodyTx, checkBody, readBody, writeBody, type BodyTx } from './body.ts'
import { signingMessage } from './tx/common.ts'
import type { DocTx } from './tx/index.ts'

export const DBLOCK_VERSION = 1

export interface DblockHeader {
  readonly version: number
  readonly index: number
  readonly gtime: number
  readonly prehash: Uint8Array
  readonly diagroot: Uint8Array
  readonly view: number
  readonly leader: Uint8Array
}

export interface CommitSignature { readonly replica: Uint8Array, readonly sig: Uint8Array }

export interface Dblock {
  readonly header: DblockHeader
  readonly txs: readonly BodyTx[]
  /** 2f+1 commit signatures; empty while the block is only proposed. */
  readonly cert: readonly CommitSignature[]
}

function writeHeader (w: Writer, h: DblockHeader): void {
  if (h.version !== DBLOCK_VERSION) throw new UnknownVersionError('version', h.version)
  w.u8('version', h.version).u32('index', h.index).u64('gtime', h.gtime)
    .fixed('prehash', h.prehash, HASH_BYTES).fixed('diagroot', h.diagroot, HASH_BYTES)
    .u32('view', h.view).fixed('leader', h.leader, ID_BYTES)
}

function readHeader (r: Reader): DblockHeader {
  const version = r.u8('version')
  if (version !== DBLOCK_VERSION) throw new UnknownVersionError('version', version)
  return {
    version, index: r.u32('index'), gtime: r.u64('gtime'), prehash: r.fixed('prehash', HASH_BYTES),
    diagroot: r.fixed('diagroot', HASH_BYTES), view: r.u32('view'), leader: r.fixed('leader', ID_BYTES)
  }
}

export function encodeDblockHeader (h: DblockHeader): Uint8Array {
  const w = new Writer(128)
  writeHeader(w, h)
  return w.finish()
}

export function decodeDblockHeader (bytes: Uint8Array): DblockHeader {
  const r = new Reader(bytes)
  const h = readHeader(r)
  r.end('header')
  return h
}

export function dblockHash (h: DblockHeader): Uint8Array { return sha256(encodeDblockHeader(h)) }

/** Layout: header ‖ certificate (count, then replica ‖ sig) ‖ body. */
export function encodeDblock (b: Dblock): Uint8Array {
  const w = new Writer(1024)
  writeHeader(w, b.header)
  w.varint('cert', b.cert.length, MAX_CERT_SIGNATURES)
  b.cert.forEach((c, i) => w.fixed(`cert[${i}].replica`, c.replica, ID_BYTES).fixed(`cert[${i}].sig`, c.sig, SIG_BYTES))
  writeBody(w, b.txs)
  return w.finish()
}

export function decodeDblock (bytes: Uint8Array): Dblock {
  const r = new Reader(bytes)
  const header = readHeader(r)
  const n = r.varint('cert', MAX_CERT_SIGNATURES)
  const cert: CommitSignature[] = []
  for (let i = 0; i < n; i++) cert.push({ replica: r.fixed(`cert[${i}].replica`, ID_BYTES), sig: r.fixed(`cert[${i}].sig`, SIG_BYTES) })
  const txs = readBody(r)
  r.end('block')
  return { header, txs, cert }
}

/** The transaction kinds a Dblock may hold. */
export const DOC_KINDS: ReadonlySet<string> = new Set(['diag', 'reg'])

/** Structure: body limit, root, duplicates, and only Docchain kinds (tx_diag, TxReg). */
export function checkDblockStructure (b: Dblock): void {
  checkBody(b.txs, b.header.diagroot, 'diagroot')
  b.txs.forEach((t, i) => {
    if (!DOC_KINDS.has(t.tx.kind)) throw new InvalidFieldError(`txs[${i}]`, `a ${t.tx.kind} transaction does not belong on Docchain`)
  })
}

const COMMIT_TAG = domainTag('dblock_commit')

export function commitMessage (hash: Uint8Array): Uint8Array { return signingMessage(COMMIT_TAG, hash) }

export function signCommit (key: SigningKey, hash: Uint8Array): CommitSignature {
  return { replica: key.publicKey, sig: sign(key, commitMessage(hash)) }
}

/**
 * Finality check: at least 2f+1 distinct members of the accounting set
 * (n = 3f+1) signed this block's hash. Throws a typed error otherwise.
 */
export function verifyCertificate (b: Dblock, members: readonly Uint8Array[]): void {
  const f = Math.floor((members.length - 1) / 3)
  const need = 2 * f + 1
  const hash = dblockHash(b.header)
  const msg = commitMessage(hash)
  const seen = new Set<string>()
  b.cert.forEach((c, i) => {
    const k = toHex(c.replica)
    if (!members.some((m) => equalBytes(m, c.replica))) throw new InvalidFieldError(`cert[${i}].replica`, 'not an accounting node')
    if (seen.has(k)) throw new InvalidFieldError(`cert[${i}].replica`, 'signed twice')
    assertSignature(`cert[${i}].sig`, c.replica, msg, c.sig)
    seen.add(k)
  })
  if (seen.size < need) throw new QuorumError('cert', need, seen.size)
}

/** A Dblock proposal (no certificate yet) over the given diagnoses and registry records. */
export function dblockProposal (f: { index: number, gtime: number, prehash: Uint8Array, view: number, leader: Uint8Array, txs: readonly DocTx[] }): Dblock {
  const txs = f.txs.map(bodyTx)
  return {
    header: { version: DBLOCK_VERSION, index: f.index, gtime: f.gtime, prehash: f.prehash, diagroot: merkleRoot(txs.map((t) => t.id)), view: f.view, leader: f.leader },
    txs,
    cert: []
  }
}
