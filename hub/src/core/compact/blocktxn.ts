/**
 * blocktxn (BIP 152): the answer to getblocktxn, the requested transactions
 * of one block in the order asked. Layout: block hash(32) ‖ varint k ‖
 * k × (varint len ‖ tx); at most a whole body.
 */
import { Reader, Writer } from '../codec.ts'
import { HASH_BYTES } from '../crypto.ts'
import { LimitExceededError } from '../errors.ts'
import { MAX_BLOCK_BODY_BYTES, MAX_TX_BYTES } from '../limits.ts'
import { MAX_BLOCK_TXS } from './cmpctblock.ts'

export interface BlockTxn { readonly hash: Uint8Array, readonly txs: readonly Uint8Array[] }

export const MAX_BLOCKTXN_BYTES = HASH_BYTES + 4 + MAX_BLOCK_BODY_BYTES

export function encodeBlockTxn (m: BlockTxn): Uint8Array {
  return new Writer(HASH_BYTES + 4 + m.txs.reduce((s, t) => s + t.length + 3, 0))
    .fixed('hash', m.hash, HASH_BYTES).list('txs', m.txs, MAX_BLOCK_TXS, MAX_TX_BYTES).finish()
}

export function decodeBlockTxn (b: Uint8Array): BlockTxn {
  if (b.length > MAX_BLOCKTXN_BYTES) throw new LimitExceededError('blocktxn', MAX_BLOCKTXN_BYTES, b.length)
  const r = new Reader(b)
  const hash = r.fixed('hash', HASH_BYTES)
  const txs = r.list('txs', MAX_BLOCK_TXS, MAX_TX_BYTES)
  r.end('blocktxn')
  return { hash, txs }
}
