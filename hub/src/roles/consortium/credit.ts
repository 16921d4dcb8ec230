/**
 * Healthcoin credit (paper §IV-B4 incentive layer): a user prepays the
 * consortium account with transfers on Userchain; each tx_diag committed on
 * Docchain consumes one diagnosis price of that credit and earns the doctor
 * the same amount, which the consortium settles with a transfer on
 * Userchain. The accounting nodes ask `hasPaid` before admitting a tx_diag;
 * the doctor asks it before diagnosing.
 */
import { equalBytes, fromHex, IdMap, toHex, type Dblock, type TxCoin } from '../../core/index.ts'
import type { ChainStore } from '../../store/chain.ts'

/** Healthcoin (smallest unit) one committed diagnosis costs the user. */
export const DIAGNOSIS_PRICE = 100_000

/** New blocks read one index entry at a time (above this, the user's index is iterated). */
const NEAR = 16

export interface CreditState {
  readonly paid: number
  readonly consumed: number
  readonly credit: number
}

export class CreditBook {
  readonly consortium: Uint8Array
  readonly price: number
  private readonly store: ChainStore
  private readonly consortiumHex: string
  /**
   * Per (from, to): the sum of the confirmed transfers of the best chain up
   * to `tip` (at `height`). While that tip stays on the best chain, a newer
   * tip only adds the blocks above it, so only the user's transactions there
   * are read; after a reorg below it (the tip no longer on the best chain)
   * they are all read again.
   */
  private readonly sums = new Map<string, { tip: string, height: number, sum: number }>()
  /** Per user: paid() at the tip it was read at. */
  private paidAt = new IdMap<{ tip: string, sum: number }>()
  private readonly consumedBy = new Map<string, number>()
  private readonly earnedBy = new Map<string, number>()
  /** Index of the last Dblock fed. */
  private fed = 0

  constructor (store: ChainStore, consortium: Uint8Array, price = DIAGNOSIS_PRICE) {
    this.store = store
    this.consortium = consortium
    this.consortiumHex = toHex(consortium)
    this.price = price
  }

  /** Confirmed Healthcoin the user has transferred to the consortium (re-read from the chain, so reorgs count). */
  async paid (user: Uint8Array): Promise<number> {
    // asked for every tx_diag a replica checks: the answer at this tip without making a hex key
    const tip = this.store.tip.hex
    const had = this.paidAt.get(user)
    if (had?.tip === tip) return had.sum
    const sum = await this.sum(user, toHex(user), this.consortium, this.consortiumHex)
    if (this.paidAt.size >= 100_000) this.paidAt = new IdMap()
    if (this.store.tip.hex === tip) this.paidAt.set(user.slice(), { tip, sum })
    return sum
  }

  /** Confirmed Healthcoin `from` has transferred to `to` on the best chain (cached per tx, re-checked for reorgs). */
  async transferred (from: Uint8Array, to: Uint8Array): Promise<number> { return await this.sum(from, toHex(from), to, toHex(to)) }

  private async sum (from: Uint8Array, fromHex: string, to: Uint8Array, toHexed: string): Promise<number> {
    const k = `${fromHex}>${toHexed}`
    // Confirmed transfers change only with the tip: an accounting node asks once per tx_diag it checks.
    const tip = this.store.tip
    const had = this.sums.get(k)
    if (had?.tip === tip.hex) return had.sum
    const extend = had !== undefined && this.store.isOnMainChain(had.tip)
    let sum = extend ? had.sum : 0
    // A user's transactions are mostly tx_IoT (thousands a day): read block by block, each decoded alone.
    const byHeight = new Map<number, number[]>()
    if (extend && tip.height - had.height <= NEAR) {
      // a few blocks on: one index entry each, read synchronously (no iterator)
      for (let height = had.height + 1; height <= tip.height; height++) { const at = this.store.userTxsAt(from, height); if (at.length > 0) byHeight.set(height, at) }
    } else {
      for (const { height, pos } of await this.store.userTxs(from, Infinity, extend ? had.height + 1 : 0)) {
        if (height > tip.height) break // connected while reading: the next tip's
        const at = byHeight.get(height)
        if (at === undefined) byHeight.set(height, [pos])
        else at.push(pos)
      }
    }
    for (const [height, positions] of byHeight) {
      for (const tx of await this.store.txsAt(height, positions)) {
        if (tx?.kind === 'coin' && equalBytes(tx.from, from) && equalBytes((tx as TxCoin).to, to)) sum += tx.amount
      }
    }
    if (this.sums.size >= 100_000 && had === undefined) this.sums.delete(this.sums.keys().next().value!)
    this.sums.set(k, { tip: tip.hex, height: tip.height, sum })
    return sum
  }

  async state (user: Uint8Array): Promise<CreditState> {
    const hex = toHex(user)
    const paid = await this.sum(user, hex, this.consortium, this.consortiumHex)
    const consumed = (this.consumedBy.get(hex) ?? 0) * this.price
    return { paid, consumed, credit: paid - consumed }
  }

  /** Enough credit left for one more diagnosis? */
  async hasPaid (user: Uint8Array): Promise<boolean> {
    return (await this.state(user)).credit >= this.price
  }

  /**
   * Feed each committed Dblock, in order; `userOf` names the user of a cause
   * (htxI). A Dblock at or below the last one fed is ignored (fed again on a
   * replay), and Docchain holds each tx_diag once (the replicas refuse one
   * already committed), so each is charged once.
   */
  async onDblock (block: Dblock, userOf: (htxI: Uint8Array) => Promise<Uint8Array | null>): Promise<void> {
    if (block.header.index <= this.fed) return
    this.fed = block.header.index
    for (const t of block.txs) {
      if (t.tx.kind !== 'diag') continue
      const user = await userOf(t.tx.causes[0]!)
      if (user === null) continue
      const u = toHex(user)
      this.consumedBy.set(u, (this.consumedBy.get(u) ?? 0) + 1)
      const d = toHex(t.tx.doctor)
      this.earnedBy.set(d, (this.earnedBy.get(d) ?? 0) + this.price)
    }
  }

  /** Healthcoin a doctor has earned for committed diagnoses (what the consortium pays, settlement.ts). */
  earned (doctor: Uint8Array): number { return this.earnedBy.get(toHex(doctor)) ?? 0 }

  /** The doctors who earned anything so far, in the order they first did. */
  earners (): Uint8Array[] { return [...this.earnedBy.keys()].map((d) => fromHex('doctor', d)) }
}
