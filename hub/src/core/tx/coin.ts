/**
 * Healthcoin transfer (paper §IV-B4, DESIGN §4): account-based, on Userchain.
 * Users pay the consortium account; a per-sender nonce (the count of the
 * sender's earlier transfers) makes every transfer unique and stops replay.
 */
import type { Reader, Writer } from '../codec.ts'
import { ID_BYTES, type Identity } from '../crypto.ts'
import { InvalidFieldError } from '../errors.ts'
import { MAX_AMOUNT } from '../limits.ts'
import { defaultTag, signBody, type TxCodec } from './common.ts'

export interface TxCoin {
  readonly kind: 'coin'
  readonly from: Uint8Array
  readonly to: Uint8Array
  readonly amount: number
  readonly fee: number
  /** The sender's account nonce: 0 for its first transfer, then 1, 2, … */
  readonly nonce: number
  readonly sig: Uint8Array
}

export const txCoinCodec: TxCodec<TxCoin> = {
  kind: 'coin',
  tag: defaultTag('coin'),
  writeBody (w: Writer, tx: TxCoin) {
    w.fixed('from', tx.from, ID_BYTES)
      .fixed('to', tx.to, ID_BYTES)
      .varint('amount', tx.amount, MAX_AMOUNT)
      .varint('fee', tx.fee, MAX_AMOUNT)
      .varint('nonce', tx.nonce)
    if (tx.amount === 0) throw new InvalidFieldError('amount', 'must be positive')
  },
  readBody (r: Reader) {
    const from = r.fixed('from', ID_BYTES)
    const to = r.fixed('to', ID_BYTES)
    const amount = r.varint('amount', MAX_AMOUNT)
    if (amount === 0) throw new InvalidFieldError('amount', 'must be positive')
    const fee = r.varint('fee', MAX_AMOUNT)
    const nonce = r.varint('nonce')
    return { kind: 'coin', from, to, amount, fee, nonce }
  },
  signer: (tx) => tx.from
}

export function buildTxCoin (sender: Identity, fields: { to: Uint8Array, amount: number, fee: number, nonce: number }): TxCoin {
  return signBody(txCoinCodec, { kind: 'coin', from: sender.id, ...fields }, sender.signing)
}

/**
 * Healthcoin amounts are integers on the chain (units, paper §IV-B4); one
 * Healthcoin (HC) is 10^6 units. Every page and command shows amounts in HC
 * through `formatHealthcoin`.
 */
export const HEALTHCOIN_DECIMALS = 6

/** "6,546 HC", "0.1 HC", "0.00125 HC": units as Healthcoin, trailing zeros dropped. */
export function formatHealthcoin (units: number): string {
  const hc = units / 10 ** HEALTHCOIN_DECIMALS
  return `${new Intl.NumberFormat('en-US', { maximumFractionDigits: HEALTHCOIN_DECIMALS }).format(hc)} HC`
}
