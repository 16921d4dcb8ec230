/**
 * Ublock validation of a core user node (paper §IV-B2 "verify … structure,
 * size, signature"; §IV-B3 PoW and timestamps; Alg. 1).
 *
 * Order, cheapest first: structure and size (core checkUblockStructure:
 * body limit, Merkle root, duplicates, coinbase), then the header against its
 * parent (index, prehash, required target from nextBits, PoW, gtime above the
 * median time past and at most maxFutureDrift ahead of `now`), then the
 * transaction timestamps against gtime, then the signatures of transactions
 * not already verified on mempool entry (in worker threads). State rules —
 * balances, nonces, key epochs, duplicates on the branch — are checked by
 * the store when the block connects (store/ledger.ts).
 */
import { BadSignatureError, checkUblockHeader, checkUblockStructure, toHex, type BodyTx, type Ublock } from '../../core/index.ts'
import type { ChainStore } from '../../store/chain.ts'
import { checkTxTime } from '../../store/ledger.ts'
import type { VerifyPool } from './verify-pool.ts'

/** Structure, header in context and transaction times; throws a typed error. */
export function checkBlock (store: ChainStore, block: Ublock, now: number): void {
  checkUblockStructure(block)
  checkUblockHeader(store.params, block.header, store.headerContext(block.header.prehash, now))
  for (let i = 1; i < block.txs.length; i++) checkTxTime(store.params, block.txs[i]!.tx, block.header.gtime, `txs[${i}]`)
}

/** Ids (hex) of transactions whose signature already verified: a bounded set, oldest forgotten first. */
export class VerifiedSet {
  private readonly ids = new Set<string>()
  readonly max: number
  constructor (max = 200_000) { this.max = max }
  has (id: string): boolean { return this.ids.has(id) }
  add (id: string): void {
    if (this.ids.has(id)) return
    if (this.ids.size >= this.max) this.ids.delete(this.ids.values().next().value!)
    this.ids.add(id)
  }
  delete (id: string): void { this.ids.delete(id) }
  get size (): number { return this.ids.size }
}

/** Verifies every signature not in `verified` (on the pool's workers); throws BadSignatureError naming the tx. */
export async function checkSignatures (txs: readonly BodyTx[], pool: VerifyPool, verified: VerifiedSet, fieldPrefix = 'txs'): Promise<void> {
  const todo: BodyTx[] = []
  const at: number[] = []
  const hexes: string[] = []
  txs.forEach((t, i) => {
    if (t.tx.kind === 'coinbase') return
    const hex = toHex(t.id)
    if (verified.has(hex)) return
    todo.push(t)
    at.push(i)
    hexes.push(hex)
  })
  if (todo.length === 0) return
  const bad = await pool.firstInvalidTx(todo)
  if (bad >= 0) throw new BadSignatureError(`${fieldPrefix}[${at[bad]!}].sig`)
  for (const h of hexes) verified.add(h)
}
