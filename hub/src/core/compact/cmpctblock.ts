/**
 * The compact block message (BIP 152 "cmpctblock", for the Ublock of paper
 * §IV-B1): the 89-byte header, the sender's nonce, one 6-byte short id per
 * transaction in block order, and the transactions the receiver cannot have
 * sent whole (prefilled: always the coinbase, which no mempool holds). A
 * core node that already holds the block's transactions rebuilds the block
 * from its mempool (paper §IV-B2 relay of a new Ublock) and fetches only
 * what it lacks (getblocktxn/blocktxn); the header's userroot decides
 * whether the rebuilt block is the one mined (checkUblockStructure).
 *
 * Layout: header ‖ nonce(8) ‖ varint n ‖ n × short id (6 bytes, little
 * endian) ‖ varint p ‖ p × (varint index delta ‖ varint len ‖ tx), index
 * deltas as in BIP 152 (each index is the previous one + 1 + delta), so
 * indexes ascend by construction and lie in [0, n + p).
 */
import { Reader, Writer } from '../codec.ts'
import { InvalidFieldError, LimitExceededError, ShortIdCollisionError } from '../errors.ts'
import { MAX_BLOCK_BODY_BYTES, MAX_TX_BYTES } from '../limits.ts'
import { readBodyEntries, type BodyTx } from '../body.ts'
import { decodeTx, txId } from '../tx/index.ts'
import { decodeUblockHeader, encodeUblockHeader, UBLOCK_HEADER_BYTES, type UblockHeader } from '../ublock.ts'
import { COMPACT_NONCE_BYTES, SHORT_ID_BYTES, shortId, shortIdKey } from './short-id.ts'

/**
 * Most transactions a Ublock can hold: every non-coinbase transaction
 * carries a 64-byte signature, so a 1 MiB body has fewer than this many.
 */
export const MAX_BLOCK_TXS = Math.floor(MAX_BLOCK_BODY_BYTES / 64)
/** Largest encoded compact block: header, nonce, counts, every short id and at most a whole body prefilled. */
export const MAX_COMPACT_BLOCK_BYTES = UBLOCK_HEADER_BYTES + COMPACT_NONCE_BYTES + 16 + MAX_BLOCK_TXS * SHORT_ID_BYTES + MAX_BLOCK_BODY_BYTES

export interface PrefilledTx { readonly index: number, readonly bytes: Uint8Array }

export interface CompactBlock {
  readonly header: UblockHeader
  /** The header's encoding (its hash is the block's). */
  readonly headerBytes: Uint8Array
  readonly nonce: Uint8Array
  /** Short ids of the transactions not prefilled, in block order. */
  readonly shortIds: readonly number[]
  readonly prefilled: readonly PrefilledTx[]
}

/** Transactions in the block, prefilled and short-id'd together. */
export function compactTxCount (cb: CompactBlock): number { return cb.shortIds.length + cb.prefilled.length }

/**
 * A compact block of a Ublock given as its encoded header and its
 * transactions (bytes and ids, block order). `prefill`: the positions sent
 * whole, ascending (default the coinbase alone).
 */
export function compactBlock (headerBytes: Uint8Array, txs: ReadonlyArray<{ readonly bytes: Uint8Array, readonly id: Uint8Array }>, nonce: Uint8Array, prefill: readonly number[] = [0]): CompactBlock {
  const header = decodeUblockHeader(headerBytes)
  const key = shortIdKey(headerBytes, nonce)
  const whole = new Set(prefill)
  const shortIds: number[] = []
  const prefilled: PrefilledTx[] = []
  txs.forEach((t, i) => {
    if (whole.has(i)) prefilled.push({ index: i, bytes: t.bytes })
    else shortIds.push(shortId(key, t.id))
  })
  return { header, headerBytes, nonce, shortIds, prefilled }
}

/** The compact block of an encoded Ublock: its body's entries are hashed, not decoded. */
export function compactFromUblockBytes (bytes: Uint8Array, nonce: Uint8Array, prefill?: readonly number[]): CompactBlock {
  const r = new Reader(bytes)
  const headerBytes = r.fixed('header', UBLOCK_HEADER_BYTES)
  const entries = readBodyEntries(r)
  r.end('block')
  return compactBlock(headerBytes, entries, nonce, prefill)
}

export function encodeCompactBlock (cb: CompactBlock): Uint8Array {
  const n = compactTxCount(cb)
  if (n > MAX_BLOCK_TXS) throw new LimitExceededError('cmpct.txs', MAX_BLOCK_TXS, n)
  const w = new Writer(UBLOCK_HEADER_BYTES + COMPACT_NONCE_BYTES + 16 + cb.shortIds.length * SHORT_ID_BYTES + cb.prefilled.reduce((s, p) => s + p.bytes.length + 8, 0))
    .fixed('header', encodeUblockHeader(cb.header), UBLOCK_HEADER_BYTES)
    .fixed('nonce', cb.nonce, COMPACT_NONCE_BYTES)
    .varint('shortIds', cb.shortIds.length, MAX_BLOCK_TXS)
  const id = new Uint8Array(SHORT_ID_BYTES)
  for (const s of cb.shortIds) {
    let v = s
    for (let i = 0; i < SHORT_ID_BYTES; i++) { id[i] = v % 256; v = Math.floor(v / 256) }
    w.fixed('shortId', id, SHORT_ID_BYTES)
  }
  w.varint('prefilled', cb.prefilled.length, MAX_BLOCK_TXS)
  let prev = -1
  cb.prefilled.forEach((p, i) => {
    if (!Number.isInteger(p.index) || p.index <= prev || p.index >= n) throw new InvalidFieldError(`prefilled[${i}].index`, `${p.index} is not above ${prev} and below ${n}`)
    w.varint(`prefilled[${i}].index`, p.index - prev - 1).bytes(`prefilled[${i}].tx`, p.bytes, MAX_TX_BYTES)
    prev = p.index
  })
  return w.finish()
}

export function decodeCompactBlock (bytes: Uint8Array): CompactBlock {
  if (bytes.length > MAX_COMPACT_BLOCK_BYTES) throw new LimitExceededError('cmpct', MAX_COMPACT_BLOCK_BYTES, bytes.length)
  const r = new Reader(bytes)
  const headerBytes = r.fixed('header', UBLOCK_HEADER_BYTES)
  const header = decodeUblockHeader(headerBytes)
  const nonce = r.fixed('nonce', COMPACT_NONCE_BYTES)
  const ns = r.varint('shortIds', MAX_BLOCK_TXS)
  const shortIds: number[] = new Array(ns)
  for (let i = 0; i < ns; i++) {
    const b = r.fixed(`shortIds[${i}]`, SHORT_ID_BYTES)
    shortIds[i] = b[0]! + b[1]! * 0x100 + b[2]! * 0x10000 + b[3]! * 0x1000000 + b[4]! * 0x100000000 + b[5]! * 0x10000000000
  }
  const np = r.varint('prefilled', MAX_BLOCK_TXS - ns)
  const prefilled: PrefilledTx[] = []
  let prev = -1
  let body = 0
  for (let i = 0; i < np; i++) {
    const index = prev + 1 + r.varint(`prefilled[${i}].index`, MAX_BLOCK_TXS)
    if (index >= ns + np) throw new LimitExceededError(`prefilled[${i}].index`, ns + np - 1, index)
    const tx = r.bytes(`prefilled[${i}].tx`, MAX_TX_BYTES)
    body += tx.length
    if (body > MAX_BLOCK_BODY_BYTES) throw new LimitExceededError('prefilled', MAX_BLOCK_BODY_BYTES, body)
    prefilled.push({ index, bytes: tx })
    prev = index
  }
  r.end('cmpct')
  if (ns + np === 0) throw new InvalidFieldError('cmpct.txs', 'a Ublock holds at least its coinbase')
  return { header, headerBytes, nonce, shortIds, prefilled }
}

/** A block being rebuilt: the transactions found so far (block order) and the positions still missing. */
export interface Reconstruction {
  readonly txs: Array<BodyTx | undefined>
  readonly missing: number[]
}

/**
 * Rebuilds a compact block's transaction list from `pool` (the receiver's
 * mempool; BIP 152 "InitData"/"FillBlock"). A short id matched by two pool
 * transactions is left missing (fetched by index); two block positions with
 * one short id make the block unrebuildable: ShortIdCollisionError, and the
 * caller fetches the whole block. Prefilled transactions are decoded here,
 * so malformed ones throw their codec error.
 */
export function reconstruct (cb: CompactBlock, pool: Iterable<BodyTx>): Reconstruction {
  const n = compactTxCount(cb)
  const txs: Array<BodyTx | undefined> = new Array(n).fill(undefined)
  const isPrefilled = new Uint8Array(n)
  for (const p of cb.prefilled) {
    txs[p.index] = { tx: decodeTx(p.bytes), bytes: p.bytes, id: txId(p.bytes) }
    isPrefilled[p.index] = 1
  }
  // short id → block position
  const at = new Map<number, number>()
  let k = 0
  for (let i = 0; i < n; i++) {
    if (isPrefilled[i] === 1) continue
    const s = cb.shortIds[k++]!
    const other = at.get(s)
    if (other !== undefined) throw new ShortIdCollisionError(`shortIds[${k - 1}]`, i, other)
    at.set(s, i)
  }
  if (at.size > 0) {
    const key = shortIdKey(cb.headerBytes, cb.nonce)
    const ambiguous = new Set<number>()
    for (const t of pool) {
      const i = at.get(shortId(key, t.id))
      if (i === undefined) continue
      if (txs[i] !== undefined) ambiguous.add(i)
      else txs[i] = t
    }
    for (const i of ambiguous) txs[i] = undefined
  }
  const missing: number[] = []
  for (let i = 0; i < n; i++) if (txs[i] === undefined) missing.push(i)
  return { txs, missing }
}

/**
 * The rebuilt block's transactions once the missing ones arrived (in the
 * order of `missing`); each is decoded and hashed. Whether they are the
 * block's is for the Merkle root to say: the chain checks it against the
 * header's userroot (checkUblockStructure) before it keeps anything.
 */
export function fillMissing (rec: Reconstruction, got: readonly Uint8Array[]): BodyTx[] {
  if (got.length !== rec.missing.length) throw new InvalidFieldError('blocktxn.txs', `${got.length} transactions for ${rec.missing.length} missing`)
  const txs = rec.txs.slice()
  rec.missing.forEach((i, k) => {
    const bytes = got[k]!
    txs[i] = { tx: decodeTx(bytes), bytes, id: txId(bytes) }
  })
  return txs as BodyTx[]
}

