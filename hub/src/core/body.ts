/**
 * Block body, shared by Ublock and Dblock (paper Fig. 3/4): a count, then each
 * transaction as varint length + canonical bytes. At most 1 MiB; the Merkle
 * root over the transaction ids is the header's userroot / diagroot.
 */
import { Reader, toHex, Writer } from './codec.ts'
import { DuplicateTxError, LimitExceededError, MerkleRootMismatchError } from './errors.ts'
import { MAX_BLOCK_BODY_BYTES, MAX_TX_BYTES } from './limits.ts'
import { merkleRoot } from './merkle.ts'
import { IdMap } from './idmap.ts'
import { decodeTx, encodeTx, txId, type Tx } from './tx/index.ts'
import { equalBytes } from './codec.ts'

/** A transaction with its canonical bytes and id, so neither is recomputed. */
export interface BodyTx {
  readonly tx: Tx
  readonly bytes: Uint8Array
  readonly id: Uint8Array
}

export function bodyTx (tx: Tx): BodyTx {
  const bytes = encodeTx(tx)
  return { tx, bytes, id: txId(bytes) }
}

/** Bytes a transaction of this size adds to a body. */
export function bodyEntryBytes (txBytes: number): number {
  return txBytes < 0x80 ? 1 + txBytes : txBytes < 0x4000 ? 2 + txBytes : 3 + txBytes
}

export function writeBody (w: Writer, txs: readonly BodyTx[]): void {
  w.varint('txs', txs.length)
  txs.forEach((t, i) => w.bytes(`txs[${i}]`, t.bytes, MAX_TX_BYTES))
}

export function bodySize (txs: readonly BodyTx[]): number {
  const w = new Writer(16)
  w.varint('txs', txs.length)
  let n = w.finish().length
  for (const t of txs) n += bodyEntryBytes(t.bytes.length)
  return n
}

/** Reads a body from the reader (which must hold exactly the body from here on). */
export function readBody (r: Reader): BodyTx[] {
  if (r.remaining > MAX_BLOCK_BODY_BYTES) throw new LimitExceededError('body', MAX_BLOCK_BODY_BYTES, r.remaining)
  const n = r.varint('txs', MAX_BLOCK_BODY_BYTES)
  const out: BodyTx[] = []
  for (let i = 0; i < n; i++) {
    const bytes = r.bytes(`txs[${i}]`, MAX_TX_BYTES)
    let tx: Tx
    try { tx = decodeTx(bytes) } catch (err) {
      if (err instanceof Error) err.message = `txs[${i}].${err.message}`
      throw err
    }
    out.push({ tx, bytes, id: txId(bytes) })
  }
  return out
}

/**
 * The encoded transactions at `positions` (ascending) of a body (the reader
 * at its start), neither decoded nor hashed: entries are length-prefixed, so
 * the others are skipped — a lookup of one confirmed transaction in a full
 * block (~7,400 of them) costs one decode, and a compact-block peer asking
 * for the few it misses (getblocktxn) costs a scan. Undefined for a position
 * the body does not have.
 */
export function readBodyBytesAt (r: Reader, positions: readonly number[]): Array<Uint8Array | undefined> {
  const n = r.varint('txs', MAX_BLOCK_BODY_BYTES)
  const out: Array<Uint8Array | undefined> = []
  let i = 0
  for (const pos of positions) {
    if (!Number.isInteger(pos) || pos < i || pos >= n) { out.push(undefined); continue }
    for (; i < pos; i++) r.bytes(`txs[${i}]`, MAX_TX_BYTES)
    out.push(r.bytes(`txs[${pos}]`, MAX_TX_BYTES))
    i++
  }
  return out
}

/** The transactions at `positions` (ascending) of a body, decoded alone (readBodyBytesAt). */
export function readBodyTxsAt (r: Reader, positions: readonly number[]): Array<Tx | undefined> {
  return readBodyBytesAt(r, positions).map((b) => b === undefined ? undefined : decodeTx(b))
}

/** Every entry of a body as its encoded bytes, with ids, none decoded (the reader at its start, holding exactly the body). */
export function readBodyEntries (r: Reader): Array<{ readonly bytes: Uint8Array, readonly id: Uint8Array }> {
  if (r.remaining > MAX_BLOCK_BODY_BYTES) throw new LimitExceededError('body', MAX_BLOCK_BODY_BYTES, r.remaining)
  const n = r.varint('txs', MAX_BLOCK_BODY_BYTES)
  const out: Array<{ bytes: Uint8Array, id: Uint8Array }> = []
  for (let i = 0; i < n; i++) {
    const bytes = r.bytes(`txs[${i}]`, MAX_TX_BYTES)
    out.push({ bytes, id: txId(bytes) })
  }
  return out
}

/** Body limits, duplicate ids and the Merkle root against the header's. */
export function checkBody (txs: readonly BodyTx[], root: Uint8Array, rootField: string): void {
  const size = bodySize(txs)
  if (size > MAX_BLOCK_BODY_BYTES) throw new LimitExceededError('body', MAX_BLOCK_BODY_BYTES, size)
  const seen = new IdMap<true>()
  for (const t of txs) {
    if (seen.has(t.id)) throw new DuplicateTxError('txs', toHex(t.id))
    seen.set(t.id, true)
  }
  if (!equalBytes(merkleRoot(txs.map((t) => t.id)), root)) throw new MerkleRootMismatchError(rootField)
}
