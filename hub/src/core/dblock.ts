/**
 * Dblock (paper §IV-B1, Fig. 4) of Docchain: header {version, index, gtime,
 * prehash, diagroot, view, leader} and a body of tx_diag and the
 * consortium's doctor-registry records (TxReg, core/tx/reg.ts), in the order
 * PBFT decided; diagroot is the Merkle root over all their ids. The paper's header
 * nonce has no role under PBFT and is dropped; view and leader record which
 * PBFT view and accounting node proposed the block (§IV-B3). A committed
 * Dblock carries a certificate of 2f+1 accounting-node signatures over its
 * hash (DESIGN §4), so anyone can check finality without trusting one node:
 * the signatures of 2f+1 PBFT COMMIT votes of ONE view for it (Castro–Liskov
 * §4.2: that is committed(m, v, n), so no other Dblock can be committed at its
 * height). The view is part of what is signed and of the certificate: votes
 * of different views must not be pooled (a block can collect 2f+1 commit
 * votes across views without ever being committed).
 */
import { equalBytes, Reader, toHex, Writer } from './codec.ts'
import { domainTag, HASH_BYTES, ID_BYTES, SIG_BYTES, sha256, sign, verify, type SigningKey } from './crypto.ts'
import { BadSignatureError, InvalidFieldError, QuorumError, UnknownVersionError } from './errors.ts'
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

/** One COMMIT vote's signature; every signature of a certificate has the same view. */
export interface CommitSignature { readonly replica: Uint8Array, readonly view: number, readonly sig: Uint8Array }

export interface Dblock {
  readonly header: DblockHeader
  readonly txs: readonly BodyTx[]
  /** 2f+1 commit signatures of one view; empty while the block is only proposed. */
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

/** A certificate: count, then (if any) its view, then each replica ‖ sig. The Dblock and the doctor's receipt both carry it. */
export function writeCert (w: Writer, cert: readonly CommitSignature[]): void {
  w.varint('cert', cert.length, MAX_CERT_SIGNATURES)
  if (cert.length === 0) return
  const view = cert[0]!.view
  w.u32('cert.view', view)
  cert.forEach((c, i) => {
    if (c.view !== view) throw new InvalidFieldError(`cert[${i}].view`, 'signatures of one certificate are of one view')
    w.fixed(`cert[${i}].replica`, c.replica, ID_BYTES).fixed(`cert[${i}].sig`, c.sig, SIG_BYTES)
  })
}

export function readCert (r: Reader): CommitSignature[] {
  const n = r.varint('cert', MAX_CERT_SIGNATURES)
  const cert: CommitSignature[] = []
  if (n === 0) return cert
  const view = r.u32('cert.view')
  for (let i = 0; i < n; i++) cert.push({ replica: r.fixed(`cert[${i}].replica`, ID_BYTES), view, sig: r.fixed(`cert[${i}].sig`, SIG_BYTES) })
  return cert
}

/** Layout: header ‖ certificate (writeCert) ‖ body. */
export function encodeDblock (b: Dblock): Uint8Array {
  const w = new Writer(1024)
  writeHeader(w, b.header)
  writeCert(w, b.cert)
  writeBody(w, b.txs)
  return w.finish()
}

export function decodeDblock (bytes: Uint8Array): Dblock {
  const r = new Reader(bytes)
  const header = readHeader(r)
  const cert = readCert(r)
  const txs = readBody(r)
  r.end('block')
  return { header, txs, cert }
}

/** The transaction kinds a Dblock may hold. */
export const DOC_KINDS: ReadonlySet<string> = new Set(['diag', 'reg', 'emergency', 'release', 'withdrawal'])

/**
 * The Docchain kinds that change the registry's fold (core/pbft/registry.ts):
 * registry records, emergency requests and their releases, withdrawals. What is valid
 * after one of them depends on it, so the replica re-checks what follows.
 */
export function changesRegistry (kind: string): boolean { return kind === 'reg' || kind === 'emergency' || kind === 'release' || kind === 'withdrawal' }

/** Structure: body limit, root, duplicates, and only Docchain kinds (tx_diag, TxReg). */
export function checkDblockStructure (b: Dblock): void {
  checkBody(b.txs, b.header.diagroot, 'diagroot')
  b.txs.forEach((t, i) => {
    if (!DOC_KINDS.has(t.tx.kind)) throw new InvalidFieldError(`txs[${i}]`, `a ${t.tx.kind} transaction does not belong on Docchain`)
  })
}

const COMMIT_TAG = domainTag('pbft_commit')

/**
 * What a COMMIT vote ⟨v, n, d⟩ signs (core/pbft/commit.ts), hence what a
 * certificate's signatures sign: tag ‖ view ‖ index ‖ dblockHash.
 */
export function commitMessage (view: number, index: number, hash: Uint8Array): Uint8Array {
  return signingMessage(COMMIT_TAG, new Writer(40).u32('view', view).u32('index', index).fixed('hash', hash, HASH_BYTES).finish())
}

export function signCommit (key: SigningKey, header: DblockHeader, view: number): CommitSignature {
  return { replica: key.publicKey, view, sig: sign(key, commitMessage(view, header.index, dblockHash(header))) }
}

/**
 * Finality check: at least 2f+1 distinct members of the accounting set
 * (n = 3f+1) signed COMMIT for this block in one view. Throws a typed error
 * otherwise. `verifier` lets a caller memoize repeated checks.
 */
export function verifyCertificate (b: Dblock, members: readonly Uint8Array[], verifier: (pk: Uint8Array, msg: Uint8Array, sig: Uint8Array) => boolean = verify): void {
  const f = Math.floor((members.length - 1) / 3)
  const need = 2 * f + 1
  const view = b.cert[0]?.view ?? 0
  const msg = commitMessage(view, b.header.index, dblockHash(b.header))
  const seen = new Set<string>()
  b.cert.forEach((c, i) => {
    const k = toHex(c.replica)
    if (c.view !== view) throw new InvalidFieldError(`cert[${i}].view`, 'signatures of one certificate are of one view')
    if (!members.some((m) => equalBytes(m, c.replica))) throw new InvalidFieldError(`cert[${i}].replica`, 'not an accounting node')
    if (seen.has(k)) throw new InvalidFieldError(`cert[${i}].replica`, 'signed twice')
    if (!verifier(c.replica, msg, c.sig)) throw new BadSignatureError(`cert[${i}].sig`)
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
