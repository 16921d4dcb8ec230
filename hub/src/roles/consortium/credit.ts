/**
 * Healthcoin credit (paper §IV-B4 incentive layer): a user prepays the
 * consortium account with transfers on Userchain; each tx_diag committed on
 * Docchain consumes one diagnosis price of that credit and earns the doctor
 * the same amount, which the consortium settles with a transfer on
 * Userchain. The accounting nodes ask `hasPaid` before admitting a tx_diag;
 * the doctor asks it before diagnosing.
 */
import { toHex, type Dblock, type TxCoin } from '../../core/index.ts'
import type { ChainStore } from '../../store/chain.ts'

/** Healthcoin (smallest unit) one committed diagnosis costs the user. */
export const DIAGNOSIS_PRICE = 100_000

export interface CreditState {
  readonly paid: number
  readonly consumed: number
  readonly credit: number
}

export class CreditBook {
  readonly consortium: Uint8Array
  readonly price: number
  private readonly store: ChainStore
  /** Per (from, to): confirmed transfers seen (txid → amount), main chain only. */
  private readonly payments = new Map<string, Map<string, number>>()
  private readonly consumedBy = new Map<string, number>()
  private readonly earnedBy = new Map<string, number>()
  private readonly seenDiag = new Set<string>()
  /** Per (from, to): the sum at the tip it was computed on. */
  private readonly sums = new Map<string, { tip: string, sum: number }>()

  constructor (store: ChainStore, consortium: Uint8Array, price = DIAGNOSIS_PRICE) {
    this.store = store
    this.consortium = consortium
    this.price = price
  }

  /** Confirmed Healthcoin the user has transferred to the consortium (re-read from the chain, so reorgs count). */
  async paid (user: Uint8Array): Promise<number> { return await this.transferred(user, this.consortium) }

  /** Confirmed Healthcoin `from` has transferred to `to` on the best chain (cached per tx, re-checked for reorgs). */
  async transferred (from: Uint8Array, to: Uint8Array): Promise<number> {
    const k = `${toHex(from)}>${toHex(to)}`
    // Confirmed transfers change only with the tip: an accounting node asks once per tx_diag it checks,
    // and re-reading the user's transaction index each time was its largest cost per tx_diag.
    const tip = this.store.tip.hex
    const memo = this.sums.get(k)
    if (memo?.tip === tip) return memo.sum
    const known = this.payments.get(k) ?? new Map<string, number>()
    const seen = new Set<string>()
    for (const { txid, height, pos } of await this.store.userTxs(from)) {
      const id = toHex(txid)
      seen.add(id)
      if (known.has(id)) continue
      const hash = this.store.hashAt(height)
      const tx = hash === undefined ? undefined : (await this.store.getBlock(hash))?.txs[pos]?.tx
      known.set(id, tx?.kind === 'coin' && toHex(tx.from) === toHex(from) && toHex((tx as TxCoin).to) === toHex(to) ? tx.amount : 0)
    }
    for (const id of known.keys()) if (!seen.has(id)) known.delete(id) // disconnected by a reorg
    this.payments.set(k, known)
    let sum = 0
    for (const v of known.values()) sum += v
    if (this.sums.size >= 100_000) this.sums.delete(this.sums.keys().next().value!)
    this.sums.set(k, { tip, sum })
    return sum
  }

  async state (user: Uint8Array): Promise<CreditState> {
    const paid = await this.paid(user)
    const consumed = (this.consumedBy.get(toHex(user)) ?? 0) * this.price
    return { paid, consumed, credit: paid - consumed }
  }

  /** Enough credit left for one more diagnosis? */
  async hasPaid (user: Uint8Array): Promise<boolean> {
    return (await this.state(user)).credit >= this.price
  }

  /** Feed each committed Dblock once; `userOf` names the user of a cause (htxI). */
  async onDblock (block: Dblock, userOf: (htxI: Uint8Array) => Promise<Uint8Array | null>): Promise<void> {
    for (const t of block.txs) {
      if (t.tx.kind !== 'diag') continue
      const id = toHex(t.id)
      if (this.seenDiag.has(id)) continue
      this.seenDiag.add(id)
      const user = await userOf(t.tx.causes[0]!)
      if (user === null) continue
      this.consumedBy.set(toHex(user), (this.consumedBy.get(toHex(user)) ?? 0) + 1)
      this.earnedBy.set(toHex(t.tx.doctor), (this.earnedBy.get(toHex(t.tx.doctor)) ?? 0) + this.price)
    }
  }

  /** Healthcoin the consortium owes a doctor for committed diagnoses. */
  earned (doctor: Uint8Array): number { return this.earnedBy.get(toHex(doctor)) ?? 0 }
}
