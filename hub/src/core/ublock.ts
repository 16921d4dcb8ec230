/**
 * Ublock (paper §IV-B1, Fig. 3; Table I): header {version, index, gtime,
 * prehash, userroot, target, nonce} and a body of user transactions. The
 * header is a fixed 89-byte layout with the nonce last, so a miner rewrites
 * only the last 8 bytes. The block hash is SHA-256 of the whole header
 * (DESIGN §4). Userchain carries tx_IoT, tx_key, Healthcoin transfers and
 * exactly one coinbase, first, whose height equals the block index.
 */
import { equalBytes, Reader, Writer } from './codec.ts'
import { HASH_BYTES, sha256 } from './crypto.ts'
import { InsufficientWorkError, InvalidFieldError, UnknownVersionError } from './errors.ts'
import { assertProofOfWork, bitsToTarget, checkBlockTime, hashToBigInt } from './pow.ts'
import { merkleRoot } from './merkle.ts'
import { bodySize, bodyTx, checkBody, readBody, readBodyBytesAt, readBodyTxsAt, writeBody, type BodyTx } from './body.ts'
import { buildTxCoinbase, type Tx } from './tx/index.ts'
import type { NetworkParams } from './params.ts'

export const UBLOCK_VERSION = 1
export const UBLOCK_HEADER_BYTES = 89
export const UBLOCK_NONCE_OFFSET = UBLOCK_HEADER_BYTES - 8
const ZERO_HASH = new Uint8Array(32)

export interface UblockHeader {
  readonly version: number
  readonly index: number
  readonly gtime: number
  readonly prehash: Uint8Array
  readonly userroot: Uint8Array
  /** The target, as compact bits. */
  readonly bits: number
  readonly nonce: number
}

export interface Ublock {
  readonly header: UblockHeader
  readonly txs: readonly BodyTx[]
}

const USER_KINDS = new Set(['iot', 'key', 'coin'])

export function encodeUblockHeader (h: UblockHeader): Uint8Array {
  if (h.version !== UBLOCK_VERSION) throw new UnknownVersionError('version', h.version)
  return new Writer(UBLOCK_HEADER_BYTES)
    .u8('version', h.version).u32('index', h.index).u64('gtime', h.gtime)
    .fixed('prehash', h.prehash, HASH_BYTES).fixed('userroot', h.userroot, HASH_BYTES)
    .u32('bits', h.bits).u64('nonce', h.nonce).finish()
}

function readUblockHeader (r: Reader): UblockHeader {
  const version = r.u8('version')
  if (version !== UBLOCK_VERSION) throw new UnknownVersionError('version', version)
  return {
    version, index: r.u32('index'), gtime: r.u64('gtime'), prehash: r.fixed('prehash', HASH_BYTES),
    userroot: r.fixed('userroot', HASH_BYTES), bits: r.u32('bits'), nonce: r.u64('nonce')
  }
}

export function decodeUblockHeader (bytes: Uint8Array): UblockHeader {
  const r = new Reader(bytes)
  const h = readUblockHeader(r)
  r.end('header')
  return h
}

export function ublockHash (h: UblockHeader | Uint8Array): Uint8Array {
  return sha256(h instanceof Uint8Array ? h : encodeUblockHeader(h))
}

export function encodeUblock (b: Ublock): Uint8Array {
  const w = new Writer(UBLOCK_HEADER_BYTES + bodySize(b.txs))
  w.fixed('header', encodeUblockHeader(b.header), UBLOCK_HEADER_BYTES)
  writeBody(w, b.txs)
  return w.finish()
}

export function decodeUblock (bytes: Uint8Array): Ublock {
  const r = new Reader(bytes)
  const header = readUblockHeader(r)
  const txs = readBody(r)
  r.end('block')
  return { header, txs }
}

/** The transactions at `positions` (ascending; 0 is the coinbase) of an encoded Ublock, without decoding the others (readBodyTxsAt). */
export function ublockTxsAt (bytes: Uint8Array, positions: readonly number[]): Array<Tx | undefined> {
  const r = new Reader(bytes)
  r.fixed('header', UBLOCK_HEADER_BYTES)
  return readBodyTxsAt(r, positions)
}

/** The encoded transactions at `positions` (ascending) of an encoded Ublock, none decoded (readBodyBytesAt): what a getblocktxn asks for. */
export function ublockTxBytesAt (bytes: Uint8Array, positions: readonly number[]): Array<Uint8Array | undefined> {
  const r = new Reader(bytes)
  r.fixed('header', UBLOCK_HEADER_BYTES)
  return readBodyBytesAt(r, positions)
}

/**
 * Context-free checks (paper §IV-B2 "structure … size"): body limit, Merkle
 * root, duplicates, coinbase placement and height, and that only user
 * transaction kinds appear. Signatures, PoW and chain context are checked by
 * the caller (validation needs the chain's state and a clock).
 */
export function checkUblockStructure (b: Ublock): void {
  checkBody(b.txs, b.header.userroot, 'userroot')
  if (b.txs.length === 0 || b.txs[0]!.tx.kind !== 'coinbase') throw new InvalidFieldError('txs[0]', 'the first transaction must be the coinbase')
  const cb = b.txs[0]!.tx
  if (cb.kind === 'coinbase' && cb.height !== b.header.index) throw new InvalidFieldError('txs[0].height', `coinbase height ${cb.height} is not the block index ${b.header.index}`)
  for (let i = 1; i < b.txs.length; i++) {
    const k = b.txs[i]!.tx.kind
    if (!USER_KINDS.has(k)) throw new InvalidFieldError(`txs[${i}]`, `a ${k} transaction does not belong on Userchain`)
  }
  if (b.header.index === 0 && !b.header.prehash.every((x) => x === 0)) throw new InvalidFieldError('prehash', 'genesis has no previous block')
}

/** A block template for the miner: coinbase first, then the given transactions. */
export function ublockTemplate (f: { prev: UblockHeader | null, prevHash: Uint8Array, gtime: number, bits: number, miner: Uint8Array, reward: number, txs: readonly Tx[] }): Ublock {
  const index = f.prev === null ? 0 : f.prev.index + 1
  const txs = [bodyTx(buildTxCoinbase({ height: index, to: f.miner, amount: f.reward })), ...f.txs.map(bodyTx)]
  return {
    header: { version: UBLOCK_VERSION, index, gtime: f.gtime, prehash: f.prevHash, userroot: merkleRoot(txs.map((t) => t.id)), bits: f.bits, nonce: 0 },
    txs
  }
}

/** The genesis Ublock of a network: deterministic, exempt from PoW (its hash is fixed). */
export function genesisUblock (params: NetworkParams): Ublock {
  return ublockTemplate({ prev: null, prevHash: ZERO_HASH, gtime: params.genesisTime, bits: params.genesisBits, miner: ZERO_HASH, reward: 0, txs: [] })
}

/** What a header is checked against: its parent and the chain's clock view. */
export interface HeaderContext {
  readonly prevHash: Uint8Array
  readonly prevIndex: number
  /** Bits the chain requires at this height (nextBits of the parent). */
  readonly expectedBits: number
  /** gtimes of the previous blocks, newest last (at least the MTP window). */
  readonly prevTimes: readonly number[]
  /** The validator's clock, seconds. */
  readonly now: number
}

/** Contextual header checks of paper §IV-B3: linkage, required target, PoW, gtime window. */
export function checkUblockHeader (params: NetworkParams, h: UblockHeader, ctx: HeaderContext): void {
  if (h.version !== UBLOCK_VERSION) throw new UnknownVersionError('version', h.version)
  if (h.index !== ctx.prevIndex + 1) throw new InvalidFieldError('index', `${h.index} does not follow ${ctx.prevIndex}`)
  if (!equalBytes(h.prehash, ctx.prevHash)) throw new InvalidFieldError('prehash', 'does not name the parent block')
  if (h.bits !== ctx.expectedBits) throw new InsufficientWorkError('bits', `0x${h.bits.toString(16)} is not the required 0x${ctx.expectedBits.toString(16)}`)
  assertProofOfWork(ublockHash(h), h.bits, params)
  checkBlockTime(params, h.gtime, ctx.prevTimes, ctx.now)
}

/**
 * Alg. 1 on one thread: tries nonces from `h.nonce` on, up to `maxTries`;
 * returns the solved header or null. The miner role splits the nonce space
 * across worker threads and calls this per slice.
 */
export function solveUblockHeader (h: UblockHeader, maxTries: number): UblockHeader | null {
  const bytes = encodeUblockHeader(h)
  const target = bitsToTarget(h.bits)
  const dv = new DataView(bytes.buffer, bytes.byteOffset)
  for (let i = 0, nonce = h.nonce; i < maxTries && nonce <= Number.MAX_SAFE_INTEGER; i++, nonce++) {
    dv.setUint32(UBLOCK_NONCE_OFFSET, Math.floor(nonce / 0x100000000))
    dv.setUint32(UBLOCK_NONCE_OFFSET + 4, nonce >>> 0)
    if (hashToBigInt(sha256(bytes)) <= target) return { ...h, nonce }
  }
  return null
}
