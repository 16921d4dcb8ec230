/**
 * getblocktxn (BIP 152): a receiver that could not rebuild a compact block
 * from its mempool asks the sender for the transactions at these positions.
 * Layout: block hash(32) ‖ varint k ‖ k × varint index delta (ascending,
 * as in cmpctblock's prefilled list).
 */
import { Reader, Writer } from '../codec.ts'
import { HASH_BYTES } from '../crypto.ts'
import { InvalidFieldError } from '../errors.ts'
import { MAX_BLOCK_TXS } from './cmpctblock.ts'

export interface GetBlockTxn { readonly hash: Uint8Array, readonly indexes: readonly number[] }

export const MAX_GETBLOCKTXN_BYTES = HASH_BYTES + 4 + MAX_BLOCK_TXS * 3

export function encodeGetBlockTxn (m: GetBlockTxn): Uint8Array {
  const w = new Writer(HASH_BYTES + 4 + m.indexes.length * 2).fixed('hash', m.hash, HASH_BYTES).varint('indexes', m.indexes.length, MAX_BLOCK_TXS)
  let prev = -1
  m.indexes.forEach((x, i) => {
    if (!Number.isInteger(x) || x <= prev || x >= MAX_BLOCK_TXS) throw new InvalidFieldError(`indexes[${i}]`, `${x} is not above ${prev} and below ${MAX_BLOCK_TXS}`)
    w.varint(`indexes[${i}]`, x - prev - 1)
    prev = x
  })
  return w.finish()
}

export function decodeGetBlockTxn (b: Uint8Array): GetBlockTxn {
  const r = new Reader(b)
  const hash = r.fixed('hash', HASH_BYTES)
  const n = r.varint('indexes', MAX_BLOCK_TXS)
  const indexes: number[] = []
  let prev = -1
  for (let i = 0; i < n; i++) {
    const x = prev + 1 + r.varint(`indexes[${i}]`, MAX_BLOCK_TXS)
    if (x >= MAX_BLOCK_TXS) throw new InvalidFieldError(`indexes[${i}]`, `${x} is not below ${MAX_BLOCK_TXS}`)
    indexes.push(x)
    prev = x
  }
  r.end('getblocktxn')
  return { hash, indexes }
}
