/**
 * Coinbase (paper §IV-B4, Alg. 1): the first transaction of a Ublock pays the
 * miner the block reward plus fees. Unsigned; the block height makes each one
 * unique, so two coinbases never share an id.
 */
import type { Reader, Writer } from '../codec.ts'
import { ID_BYTES } from '../crypto.ts'
import { MAX_AMOUNT } from '../limits.ts'
import type { TxCodec } from './common.ts'

export interface TxCoinbase {
  readonly kind: 'coinbase'
  readonly height: number
  readonly to: Uint8Array
  readonly amount: number
  /** Always empty: a coinbase carries no signature. */
  readonly sig: Uint8Array
}

export const txCoinbaseCodec: TxCodec<TxCoinbase> = {
  kind: 'coinbase',
  tag: null,
  writeBody (w: Writer, tx: TxCoinbase) {
    w.varint('height', tx.height, 0xffffffff).fixed('to', tx.to, ID_BYTES).varint('amount', tx.amount, MAX_AMOUNT)
  },
  readBody (r: Reader) {
    const height = r.varint('height', 0xffffffff)
    const to = r.fixed('to', ID_BYTES)
    const amount = r.varint('amount', MAX_AMOUNT)
    return { kind: 'coinbase', height, to, amount }
  },
  signer: () => null
}

export function buildTxCoinbase (fields: { height: number, to: Uint8Array, amount: number }): TxCoinbase {
  return { kind: 'coinbase', ...fields, sig: new Uint8Array(0) }
}
