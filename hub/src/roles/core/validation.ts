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
import { BadSignatureError, checkUblockHeader, checkUblockStructure, IdMap, type BodyTx, type Ublock } from '../../core/index.ts'
import type { ChainStore } from '../../store/chain.ts'
import { checkTxTime } from '../../store/ledger.ts'
import type { VerifyPool } from './verify-pool.ts'

/** Structure, header in context and transaction times; throws a typed error. */
export function checkBlock (store: ChainStore, block: Ublock, now: number): void {
  checkUblockStructure(block)
  checkUblockHeader(store.params, block.header, store.headerContext(block.header.prehash, now))
  for (let i = 1; i < block.txs.length; i++) checkTxTime(store.params, block.txs[i]!.tx, block.header.gtime, `txs[${i}]`)
}

/** Ids of transactions whose signature already verified: a bounded set, oldest forgotten first. */
export class VerifiedSet {
  private readonly ids = new IdMap<true>()
  /** Ids in the order added, from `head` on (some may have been deleted since). */
  private order: Uint8Array[] = []
  private head = 0
  readonly max: number
  constructor (max = 200_000) { this.max = max }
  has (id: Uint8Array): boolean { return this.ids.has(id) }
  add (id: Uint8Array): void {
    if (this.ids.has(id)) return
    while (this.ids.size >= this.max) this.ids.delete(this.order[this.head++]!)
    if (this.head > this.order.length / 2) { this.order = this.order.slice(this.head); this.head = 0 }
    this.ids.set(id, true)
    this.order.push(id)
  }
  delete (id: Uint8Array): void { this.ids.delete(id) }
  get size (): number { return this.ids.size }
}

/** Transactions of txs[from, to) whose signature is not in `verified`, with their positions. */
function unverified (txs: readonly BodyTx[], from: number, to: number, verified: VerifiedSet): { todo: BodyTx[], at: number[] } {
  const out = { todo: [] as BodyTx[], at: [] as number[] }
  for (let i = from; i < to; i++) {
    const t = txs[i]!
    if (t.tx.kind === 'coinbase' || verified.has(t.id)) continue
    out.todo.push(t)
    out.at.push(i)
  }
  return out
}

/** Transactions sorted out before the workers get their first batch: enough to keep them busy while the rest is. */
const FIRST_BATCH = 512

/**
 * Verifies every signature not in `verified` (on the pool's workers); throws
 * BadSignatureError naming the tx. The first FIRST_BATCH transactions go to
 * the workers before the rest is sorted out, so they start at once.
 */
export async function checkSignatures (txs: readonly BodyTx[], pool: VerifyPool, verified: VerifiedSet, fieldPrefix = 'txs'): Promise<void> {
  const parts = [unverified(txs, 0, Math.min(FIRST_BATCH, txs.length), verified)]
  const checks = [parts[0]!.todo.length > 0 ? pool.firstInvalidTx(parts[0]!.todo) : -1]
  if (txs.length > FIRST_BATCH) {
    parts.push(unverified(txs, FIRST_BATCH, txs.length, verified))
    checks.push(parts[1]!.todo.length > 0 ? pool.firstInvalidTx(parts[1]!.todo) : -1)
  }
  const bad = await Promise.all(checks)
  bad.forEach((b, k) => { if (b >= 0) throw new BadSignatureError(`${fieldPrefix}[${parts[k]!.at[b]!}].sig`) })
  for (const p of parts) for (const t of p.todo) verified.add(t.id)
}
