/**
 * The Userchain request/response protocols (paper §III-A: core user nodes
 * "assist lightweight user nodes to search transactions"; §IV-B2; DESIGN §6),
 * each over ./reqresp.ts:
 *
 *   headers/1  locator (≤ 64 hashes, newest first) + max → the server's tip
 *              and up to `max` (≤ 2000) best-chain headers after the first
 *              locator hash it has on its best chain (header-first sync).
 *   blocks/1   ≤ 16 block hashes → one frame per hash: the encoded Ublock,
 *              or empty when unknown.
 *   usertxs/1  ID_U + limit → the server's tip, then one frame per
 *              best-chain transaction of that user: header ‖ pos ‖ size ‖
 *              audit path ‖ tx bytes (RFC 6962 inclusion proof against the
 *              header's userroot), so a light node verifies each.
 *   mempool/1  byte budget → the mempool's transactions, arrival order.
 *   submit/1   one encoded transaction (≤ MAX_TX_BYTES, refused from its
 *              length prefix before it is read) → the node's verdict:
 *              accepted ‖ code ‖ reason. The gossip topic has no reply, so
 *              this is how a lightweight user node, which "generates and
 *              publishes transactions" through core nodes (§III-A), learns
 *              that one refused its transaction and why. The transaction
 *              goes through the same admission as a gossiped one from that
 *              peer (relay policy, per-peer queue, signature), and the core
 *              node relays what it admits.
 *   blocktxn/1 getblocktxn (block hash + positions) → one blocktxn frame
 *              with those transactions of the block, or an empty frame when
 *              the block is unknown or lacks a position (BIP 152; a peer
 *              rebuilding a compact block asks for what its mempool lacks).
 */
import type { Libp2p, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import {
  decodeBlockTxn, decodeGetBlockTxn, encodeBlockTxn, encodeGetBlockTxn, equalBytes, MAX_BLOCKTXN_BYTES, MAX_GETBLOCKTXN_BYTES, ublockTxBytesAt,
  decodeTx, decodeUblockHeader, encodeUblockHeader, HASH_BYTES, MAX_BLOCK_BODY_BYTES, MAX_TX_BYTES, Reader, txId, UBLOCK_HEADER_BYTES, Writer,
  type UblockHeader
} from '../core/index.ts'
import type { NetChain, ProvenTx, Verdict } from './chain.ts'
import { BadResponseError } from './errors.ts'
import { txRefusalPenalty } from './gossip.ts'
import { request, serve, STATUS, type Answer, type ProtocolSpec, type RateLimit, type RequestOptions } from './reqresp.ts'

export const MAX_LOCATOR = 64
export const MAX_HEADERS = 2000
export const MAX_BLOCKS_PER_REQUEST = 16
export const MAX_USER_TXS = 1000
export const MAX_PROOF_DEPTH = 32
export const MAX_MEMPOOL_ANSWER = MAX_BLOCK_BODY_BYTES

/** Longest error code and reason a submit/1 verdict carries (longer ones are cut). */
export const MAX_VERDICT_CODE = 64
export const MAX_VERDICT_REASON = 512

export interface Protocols { readonly headers: ProtocolSpec, readonly blocks: ProtocolSpec, readonly userTxs: ProtocolSpec, readonly mempool: ProtocolSpec, readonly submit: ProtocolSpec, readonly blockTxn: ProtocolSpec }

export function protocolsFor (network: string): Protocols {
  const p = `/healthchain/${network}`
  return {
    headers: { id: `${p}/headers/1`, maxRequestBytes: 8 + MAX_LOCATOR * HASH_BYTES, maxFrameBytes: 64 + MAX_HEADERS * UBLOCK_HEADER_BYTES, maxFrames: 1 },
    blocks: { id: `${p}/blocks/1`, maxRequestBytes: 4 + MAX_BLOCKS_PER_REQUEST * HASH_BYTES, maxFrameBytes: UBLOCK_HEADER_BYTES + MAX_BLOCK_BODY_BYTES, maxFrames: MAX_BLOCKS_PER_REQUEST },
    userTxs: { id: `${p}/usertxs/1`, maxRequestBytes: HASH_BYTES + 16, maxFrameBytes: UBLOCK_HEADER_BYTES + 16 + MAX_PROOF_DEPTH * HASH_BYTES + MAX_TX_BYTES, maxFrames: MAX_USER_TXS + 1 },
    mempool: { id: `${p}/mempool/1`, maxRequestBytes: 8, maxFrameBytes: MAX_TX_BYTES, maxFrames: Math.ceil(MAX_MEMPOOL_ANSWER / 64) },
    submit: { id: `${p}/submit/1`, maxRequestBytes: MAX_TX_BYTES, maxFrameBytes: 8 + 3 * (MAX_VERDICT_CODE + MAX_VERDICT_REASON), maxFrames: 1 },
    blockTxn: { id: `${p}/blocktxn/1`, maxRequestBytes: MAX_GETBLOCKTXN_BYTES, maxFrameBytes: MAX_BLOCKTXN_BYTES, maxFrames: 1 }
  }
}

// ---- codecs ----

export interface TipInfo { readonly height: number, readonly hash: Uint8Array }

export function encodeHeadersRequest (locator: readonly Uint8Array[], max: number): Uint8Array {
  const w = new Writer(8 + locator.length * HASH_BYTES).varint('locator', locator.length, MAX_LOCATOR)
  locator.forEach((h, i) => w.fixed(`locator[${i}]`, h, HASH_BYTES))
  return w.varint('max', max, MAX_HEADERS).finish()
}
export function decodeHeadersRequest (b: Uint8Array): { locator: Uint8Array[], max: number } {
  const r = new Reader(b)
  const n = r.varint('locator', MAX_LOCATOR)
  const locator: Uint8Array[] = []
  for (let i = 0; i < n; i++) locator.push(r.fixed(`locator[${i}]`, HASH_BYTES))
  const max = r.varint('max', MAX_HEADERS)
  r.end('headers request')
  return { locator, max }
}

function writeTip (w: Writer, tip: TipInfo): Writer { return w.varint('tip.height', tip.height).fixed('tip.hash', tip.hash, HASH_BYTES) }
function readTip (r: Reader): TipInfo { return { height: r.varint('tip.height', 2 ** 32 - 1), hash: r.fixed('tip.hash', HASH_BYTES) } }

export function encodeHeaders (tip: TipInfo, headers: readonly UblockHeader[]): Uint8Array {
  const w = writeTip(new Writer(48 + headers.length * UBLOCK_HEADER_BYTES), tip).varint('headers', headers.length, MAX_HEADERS)
  headers.forEach((h, i) => w.fixed(`headers[${i}]`, encodeUblockHeader(h), UBLOCK_HEADER_BYTES))
  return w.finish()
}
export function decodeHeaders (b: Uint8Array): { tip: TipInfo, headers: UblockHeader[] } {
  const r = new Reader(b)
  const tip = readTip(r)
  const n = r.varint('headers', MAX_HEADERS)
  const headers: UblockHeader[] = []
  for (let i = 0; i < n; i++) headers.push(decodeUblockHeader(r.fixed(`headers[${i}]`, UBLOCK_HEADER_BYTES)))
  r.end('headers')
  return { tip, headers }
}

export function encodeHashes (hashes: readonly Uint8Array[], max: number): Uint8Array {
  const w = new Writer(4 + hashes.length * HASH_BYTES).varint('hashes', hashes.length, max)
  hashes.forEach((h, i) => w.fixed(`hashes[${i}]`, h, HASH_BYTES))
  return w.finish()
}
export function decodeHashes (b: Uint8Array, max: number): Uint8Array[] {
  const r = new Reader(b)
  const n = r.varint('hashes', max)
  const out: Uint8Array[] = []
  for (let i = 0; i < n; i++) out.push(r.fixed(`hashes[${i}]`, HASH_BYTES))
  r.end('hashes')
  return out
}

export function encodeProvenTx (p: ProvenTx): Uint8Array {
  const w = new Writer(UBLOCK_HEADER_BYTES + 16 + p.proof.length * HASH_BYTES + p.tx.bytes.length)
    .fixed('header', encodeUblockHeader(p.header), UBLOCK_HEADER_BYTES).varint('pos', p.pos).varint('size', p.size).varint('proof', p.proof.length, MAX_PROOF_DEPTH)
  p.proof.forEach((h, i) => w.fixed(`proof[${i}]`, h, HASH_BYTES))
  return w.bytes('tx', p.tx.bytes, MAX_TX_BYTES).finish()
}
export function decodeProvenTx (b: Uint8Array): ProvenTx {
  const r = new Reader(b)
  const header = decodeUblockHeader(r.fixed('header', UBLOCK_HEADER_BYTES))
  const pos = r.varint('pos', 2 ** 32)
  const size = r.varint('size', 2 ** 32)
  const n = r.varint('proof', MAX_PROOF_DEPTH)
  const proof: Uint8Array[] = []
  for (let i = 0; i < n; i++) proof.push(r.fixed(`proof[${i}]`, HASH_BYTES))
  const bytes = r.bytes('tx', MAX_TX_BYTES)
  r.end('proven tx')
  return { header, pos, size, proof, tx: { tx: decodeTx(bytes), bytes, id: txId(bytes) } }
}

/** A submit/1 verdict: 1 (accepted) or 0, then for a refusal its error code and reason (UTF-8, cut to their limits). */
export function encodeVerdict (v: Verdict): Uint8Array {
  const w = new Writer(16 + 3 * (MAX_VERDICT_CODE + MAX_VERDICT_REASON)).u8('accepted', v.accepted ? 1 : 0)
  if (v.accepted) return w.finish()
  const utf8 = (s: string, max: number): Uint8Array => new TextEncoder().encode(s.slice(0, max))
  return w.bytes('code', utf8(v.code, MAX_VERDICT_CODE), 3 * MAX_VERDICT_CODE).bytes('reason', utf8(v.reason, MAX_VERDICT_REASON), 3 * MAX_VERDICT_REASON).finish()
}
export function decodeVerdict (b: Uint8Array): Verdict {
  const r = new Reader(b)
  const accepted = r.u8('accepted')
  if (accepted > 1) throw new BadResponseError('accepted', `${accepted} is neither 0 nor 1`)
  if (accepted === 1) { r.end('verdict'); return { accepted: true } }
  const text = new TextDecoder()
  const code = text.decode(r.bytes('code', 3 * MAX_VERDICT_CODE))
  const reason = text.decode(r.bytes('reason', 3 * MAX_VERDICT_REASON))
  r.end('verdict')
  return { accepted: false, code, reason }
}

// ---- server ----

export interface ServeChainOptions {
  readonly rate?: RateLimit
  readonly timeoutMs?: number
  readonly onAbuse?: (peer: string, points: number, reason: string) => void
}

/** Serves the protocols from `chain`; resolves to the function that stops serving. */
export async function serveChain (libp2p: Libp2p, chain: NetChain, opts: ServeChainOptions = {}): Promise<() => Promise<void>> {
  const p = protocolsFor(chain.network)
  const tipInfo = (): TipInfo => { const t = chain.tip(); return { height: t.height, hash: t.hash } }
  const so = { ...(opts.rate === undefined ? {} : { rate: opts.rate }), ...(opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }), ...(opts.onAbuse === undefined ? {} : { onAbuse: opts.onAbuse }) }
  const stops = [
    await serve(libp2p, p.headers, async (req): Promise<Answer> => {
      const { locator, max } = decodeHeadersRequest(req)
      const tip = tipInfo()
      let start = 1
      for (const h of locator) {
        if (chain.isOnMainChain(h)) { start = chain.header(h)!.height + 1; break }
      }
      const headers: UblockHeader[] = []
      for (let h = start; h <= tip.height && headers.length < max; h++) {
        const hash = chain.hashAt(h)
        const e = hash === undefined ? undefined : chain.header(hash)
        if (e === undefined) break // the tip moved under us: answer what we have
        headers.push(e.header)
      }
      return { frames: [encodeHeaders(tip, headers)] }
    }, so),
    await serve(libp2p, p.blocks, async (req): Promise<Answer> => {
      const hashes = decodeHashes(req, MAX_BLOCKS_PER_REQUEST)
      const frames = await Promise.all(hashes.map(async (h) => await chain.getBlockBytes(h) ?? new Uint8Array(0)))
      return { frames }
    }, so),
    await serve(libp2p, p.userTxs, async (req): Promise<Answer> => {
      const r = new Reader(req)
      const user = r.fixed('user', HASH_BYTES)
      const limit = r.varint('limit', MAX_USER_TXS)
      // from height (optional, 0 when absent): a light node pages through a long history
      const from = r.remaining > 0 ? r.varint('from') : 0
      r.end('usertxs request')
      const tip = tipInfo()
      const txs = await chain.userTxProofs(user, limit, from)
      return { frames: [writeTip(new Writer(48), tip).finish(), ...txs.map(encodeProvenTx)] }
    }, so),
    await serve(libp2p, p.mempool, async (req): Promise<Answer> => {
      const r = new Reader(req)
      const maxBytes = r.varint('maxBytes', MAX_MEMPOOL_ANSWER)
      r.end('mempool request')
      return { frames: chain.mempoolTxs(maxBytes) }
    }, so),
    await serve(libp2p, p.submit, async (req, peer): Promise<Answer> => {
      const v = await chain.submitTx(req, peer)
      // an invalid one costs its sender what it would by gossip
      const penalty = v.accepted ? 0 : txRefusalPenalty(v)
      if (penalty > 0) opts.onAbuse?.(peer, penalty, `invalid tx on ${p.submit.id}: ${v.accepted ? '' : v.reason}`)
      // one the node has already (pooled, or mined since the submitter last asked) is not refused, whatever a second admission says (duplicate, nonce)
      const known = !v.accepted && chain.hasTx(txId(req))
      return { frames: [encodeVerdict(known ? { accepted: true, duplicate: true } : v)] }
    }, so),
    await serve(libp2p, p.blockTxn, async (req): Promise<Answer> => {
      const { hash, indexes } = decodeGetBlockTxn(req)
      const block = await chain.getBlockBytes(hash)
      const txs = block === undefined ? [] : ublockTxBytesAt(block, indexes)
      if (block === undefined || txs.some((t) => t === undefined)) return { frames: [new Uint8Array(0)] }
      return { frames: [encodeBlockTxn({ hash, txs: txs as Uint8Array[] })] }
    }, so)
  ]
  return async () => { for (const s of stops) await s() }
}

// ---- client ----

type Target = PeerId | Multiaddr

/** Typed calls of the protocols; answers that do not decode are BadResponseError. */
export class ChainClient {
  readonly libp2p: Libp2p
  readonly protocols: Protocols
  readonly opts: RequestOptions
  constructor (libp2p: Libp2p, network: string, opts: RequestOptions = {}) {
    this.libp2p = libp2p
    this.protocols = protocolsFor(network)
    this.opts = opts
  }

  private async call<T> (peer: Target, spec: ProtocolSpec, req: Uint8Array, decode: (frames: Uint8Array[]) => T, opts?: RequestOptions): Promise<T> {
    const frames = await request(this.libp2p, peer, spec, req, { ...this.opts, ...opts })
    try {
      return decode(frames)
    } catch (err) {
      if (err instanceof BadResponseError) throw err
      throw new BadResponseError(spec.id, `${peer.toString()}: ${(err as Error).message}`)
    }
  }

  async headers (peer: Target, locator: readonly Uint8Array[], max = MAX_HEADERS, opts?: RequestOptions): Promise<{ tip: TipInfo, headers: UblockHeader[] }> {
    return await this.call(peer, this.protocols.headers, encodeHeadersRequest(locator, max), (f) => {
      if (f.length !== 1) throw new BadResponseError('headers', `${f.length} frames`)
      const out = decodeHeaders(f[0]!)
      if (out.headers.length > max) throw new BadResponseError('headers', `${out.headers.length} headers, asked for ${max}`)
      return out
    }, opts)
  }

  /** The blocks' bytes, undefined where the peer lacks one. */
  async blocks (peer: Target, hashes: readonly Uint8Array[], opts?: RequestOptions): Promise<Array<Uint8Array | undefined>> {
    return await this.call(peer, this.protocols.blocks, encodeHashes(hashes, MAX_BLOCKS_PER_REQUEST), (f) => {
      if (f.length !== hashes.length) throw new BadResponseError('blocks', `${f.length} frames for ${hashes.length} hashes`)
      return f.map((b) => b.length === 0 ? undefined : b)
    }, opts)
  }

  /** The user's transactions with their proofs, oldest first, from height `from` on. */
  async userTxs (peer: Target, user: Uint8Array, limit = MAX_USER_TXS, opts?: RequestOptions, from = 0): Promise<{ tip: TipInfo, txs: ProvenTx[] }> {
    const w = new Writer(HASH_BYTES + 16).fixed('user', user, HASH_BYTES).varint('limit', limit, MAX_USER_TXS)
    const req = (from > 0 ? w.varint('from', from) : w).finish()
    return await this.call(peer, this.protocols.userTxs, req, (f) => {
      if (f.length === 0 || f.length > limit + 1) throw new BadResponseError('usertxs', `${f.length} frames`)
      const r = new Reader(f[0]!)
      const tip = readTip(r)
      r.end('tip')
      return { tip, txs: f.slice(1).map(decodeProvenTx) }
    }, opts)
  }

  /** Hands `tx` (its encoding) to the core node `peer`: its verdict, the reason with a refusal. */
  async submit (peer: Target, tx: Uint8Array, opts?: RequestOptions): Promise<Verdict> {
    return await this.call(peer, this.protocols.submit, tx, (f) => {
      if (f.length !== 1) throw new BadResponseError('submit', `${f.length} frames`)
      return decodeVerdict(f[0]!)
    }, opts)
  }

  /** The transactions at `indexes` of block `hash` (BIP 152 getblocktxn), in that order; undefined when the peer lacks the block. */
  async blockTxn (peer: Target, hash: Uint8Array, indexes: readonly number[], opts?: RequestOptions): Promise<Uint8Array[] | undefined> {
    return await this.call(peer, this.protocols.blockTxn, encodeGetBlockTxn({ hash, indexes }), (f) => {
      if (f.length !== 1) throw new BadResponseError('blocktxn', `${f.length} frames`)
      if (f[0]!.length === 0) return undefined
      const m = decodeBlockTxn(f[0]!)
      if (!equalBytes(m.hash, hash)) throw new BadResponseError('blocktxn', 'answered for another block')
      if (m.txs.length !== indexes.length) throw new BadResponseError('blocktxn', `${m.txs.length} transactions for ${indexes.length} asked`)
      return [...m.txs]
    }, opts)
  }

  async mempool (peer: Target, maxBytes = MAX_MEMPOOL_ANSWER, opts?: RequestOptions): Promise<Uint8Array[]> {
    return await this.call(peer, this.protocols.mempool, new Writer(8).varint('maxBytes', maxBytes, MAX_MEMPOOL_ANSWER).finish(), (f) => {
      let n = 0
      for (const t of f) n += t.length
      if (n > maxBytes) throw new BadResponseError('mempool', `${n} bytes, asked for ${maxBytes}`)
      return f
    }, opts)
  }
}

export { STATUS }
