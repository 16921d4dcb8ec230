/**
 * Doctors submit tx_diag to any accounting node over libp2p (paper §IV-B2:
 * the doctor sends its diagnosis transaction to the accounting nodes; the
 * node forwards it to the leader, core/pbft/request.ts) and get a receipt
 * back once it commits (§IV-B3) or is rejected (with the reason).
 *
 * `/healthchain/diag/2.0.0` (net/session.ts: one long-lived stream per
 * doctor and node, many submissions on it, each answered when it settles;
 * 1.0.0 opened a stream per submission, a round trip and ~1.5 ms of CPU on
 * each side): a submission is a batch of tx_diag (count, then each canonical
 * tx), answered with one frame per tx, in order. A committed receipt is
 * compact and checkable by the doctor alone: the Dblock header, its commit
 * certificate (2f+1 COMMIT signatures of one view) and the Merkle branch of
 * the tx id under the header's diagroot — not the whole Dblock.
 */
import type { Libp2p } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import {
  decodeDblockHeader, encodeDblockHeader, encodeTx, equalBytes, fromHex, HASH_BYTES, InvalidFieldError,
  MAX_TX_BYTES, merkleProofs, Reader, readCert, toHex, txId, utf8Bytes, verifyCertificate, verifyMerkleProof, Writer, writeCert,
  type CommitSignature, type Dblock, type DblockHeader, type TxDiag
} from '../../core/index.ts'
import type { RateLimit } from '../../net/reqresp.ts'
import { serveSessions, sessionFor } from '../../net/session.ts'
import type { DiagReceipt } from './node.ts'

/** tx_diag per submission request. */
export const MAX_SUBMIT_BATCH = 1000
export const DIAG_PROTOCOL = { id: '/healthchain/diag/2.0.0', maxRequestBytes: 8 * 1024 * 1024, maxFrameBytes: 32 * 1024, maxFrames: MAX_SUBMIT_BATCH } as const
const MAX_PROOF = 32

/** What the doctor gets back for one tx_diag. */
export type WireReceipt =
  | { readonly ok: true, readonly id: Uint8Array, readonly height: number, readonly header: DblockHeader, readonly cert: readonly CommitSignature[], readonly index: number, readonly size: number, readonly proof: readonly Uint8Array[] }
  | { readonly ok: false, readonly id: Uint8Array, readonly code: string, readonly reason: string }

export function encodeSubmission (txs: ReadonlyArray<TxDiag | Uint8Array>): Uint8Array {
  const bytes = txs.map((t) => (t instanceof Uint8Array ? t : encodeTx(t)))
  return new Writer(bytes.reduce((n, b) => n + b.length + 5, 8)).list('txs', bytes, MAX_SUBMIT_BATCH, MAX_TX_BYTES).finish()
}

export function decodeSubmission (body: Uint8Array): Uint8Array[] {
  const r = new Reader(body)
  const out = r.list('txs', MAX_SUBMIT_BATCH, MAX_TX_BYTES)
  r.end('submission')
  return out
}

export function encodeReceipt (r: WireReceipt): Uint8Array {
  const w = new Writer(1024).u8('ok', r.ok ? 1 : 0).fixed('id', r.id, HASH_BYTES)
  if (!r.ok) return w.bytes('code', utf8Bytes(r.code), 64).bytes('reason', utf8Bytes(r.reason.slice(0, 1000)), 4096).finish()
  w.u32('height', r.height).bytes('header', encodeDblockHeader(r.header), 256)
  writeCert(w, r.cert)
  w.varint('index', r.index).varint('size', r.size).varint('proof', r.proof.length, MAX_PROOF)
  r.proof.forEach((p, i) => w.fixed(`proof[${i}]`, p, HASH_BYTES))
  return w.finish()
}

export function decodeReceipt (bytes: Uint8Array): WireReceipt {
  const r = new Reader(bytes)
  const ok = r.u8('ok')
  const id = r.fixed('id', HASH_BYTES)
  let out: WireReceipt
  if (ok === 0) {
    const dec = new TextDecoder('utf-8', { fatal: true })
    out = { ok: false, id, code: dec.decode(r.bytes('code', 64)), reason: dec.decode(r.bytes('reason', 4096)) }
  } else if (ok === 1) {
    const height = r.u32('height')
    const header = decodeDblockHeader(r.bytes('header', 256))
    const cert = readCert(r)
    const index = r.varint('index')
    const size = r.varint('size')
    const k = r.varint('proof', MAX_PROOF)
    const proof: Uint8Array[] = []
    for (let i = 0; i < k; i++) proof.push(r.fixed(`proof[${i}]`, HASH_BYTES))
    out = { ok: true, id, height, header, cert, index, size, proof }
  } else throw new InvalidFieldError('ok', `must be 0 or 1, got ${ok}`)
  r.end('receipt')
  return out
}

/**
 * The doctor's check of a commit receipt: it names `tx`, 2f+1 of `members`
 * signed the header, and the Merkle branch puts `tx` under its diagroot.
 * Throws a typed error otherwise.
 */
export function verifyReceipt (r: WireReceipt, tx: TxDiag | Uint8Array, members: readonly Uint8Array[]): void {
  if (!equalBytes(r.id, txId(tx))) throw new InvalidFieldError('receipt.id', 'names another transaction')
  if (!r.ok) throw new InvalidFieldError('receipt', `rejected: ${r.reason}`)
  if (r.header.index !== r.height) throw new InvalidFieldError('receipt.height', `header index ${r.header.index} ≠ ${r.height}`)
  verifyCertificate({ header: r.header, cert: r.cert, txs: [] }, members)
  if (!verifyMerkleProof(r.id, r.index, r.size, r.proof, r.header.diagroot)) throw new InvalidFieldError('receipt.proof', 'the Merkle branch does not lead to the Dblock\'s diagroot')
}

/** Per committed Dblock, computed once for all its receipts: each tx's position (by hex id) and Merkle branch. */
const branches = new WeakMap<Dblock, { readonly at: ReadonlyMap<string, number>, readonly proofs: Uint8Array[][] }>()

/** A node receipt (roles/accounting/node.ts) as sent to the doctor. */
export function wireReceipt (r: DiagReceipt): WireReceipt {
  if (!r.ok) return { ok: false, id: r.id === '' ? new Uint8Array(HASH_BYTES) : fromHex('id', r.id), code: r.code, reason: r.reason }
  const b = r.block
  let memo = branches.get(b)
  if (memo === undefined) {
    memo = { at: new Map(b.txs.map((t, i) => [toHex(t.id), i])), proofs: merkleProofs(b.txs.map((t) => t.id)) }
    branches.set(b, memo)
  }
  const index = memo.at.get(r.id)
  if (index === undefined) throw new InvalidFieldError('receipt.id', `tx ${r.id} is not in Dblock ${r.height}`)
  return { ok: true, id: b.txs[index]!.id, height: r.height, header: b.header, cert: b.cert, index, size: b.txs.length, proof: memo.proofs[index]! }
}

export interface ServeDiagOptions {
  /** Submission requests per second per doctor peer (token bucket). */
  readonly rate?: RateLimit
  /** How long one request may wait for its commits (a view change included). */
  readonly timeoutMs?: number
}

/** Serves doctor submissions for an accounting node: each tx goes to `submit`, every receipt comes back in order. */
export async function serveDiagSubmissions (libp2p: Libp2p, submit: (tx: Uint8Array) => Promise<DiagReceipt>, opts: ServeDiagOptions = {}): Promise<() => Promise<void>> {
  return await serveSessions(libp2p, DIAG_PROTOCOL, async (req) => {
    const txs = decodeSubmission(req) // malformed: a typed error, answered as such
    const receipts = await Promise.all(txs.map(async (t) => wireReceipt(await submit(t))))
    return { frames: receipts.map(encodeReceipt) }
  }, { timeoutMs: opts.timeoutMs ?? 120_000, rate: opts.rate ?? { perSecond: 50, burst: 200 }, maxInboundStreams: 256 })
}

/** A doctor's submission of up to MAX_SUBMIT_BATCH tx_diag to the accounting node at `addr`: one receipt per tx, in order. */
export async function submitDiags (libp2p: Libp2p, addr: string, txs: ReadonlyArray<TxDiag | Uint8Array>, opts: { timeoutMs?: number } = {}): Promise<WireReceipt[]> {
  const frames = await sessionFor(libp2p, multiaddr(addr), DIAG_PROTOCOL).request(encodeSubmission(txs), { timeoutMs: opts.timeoutMs ?? 120_000 })
  if (frames.length !== txs.length) throw new InvalidFieldError('receipts', `${frames.length} receipts for ${txs.length} tx_diag`)
  return frames.map(decodeReceipt)
}
