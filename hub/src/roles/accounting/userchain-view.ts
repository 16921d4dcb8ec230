/**
 * Who signed the tx_IoT with a given htxI on the best Userchain — what an
 * accounting node asks of every cause of a tx_diag it admits (paper §IV-B2:
 * the referenced htxI must exist on Userchain) and of every committed one it
 * charges to the user's credit (§IV-B4). Answers (a miss included) are kept
 * while the tip stays where it was: any new block or reorg clears them, so a
 * cause confirmed later, or disconnected, is read afresh.
 */
import { IdMap } from '../../core/idmap.ts'
import type { ChainStore } from '../../store/chain.ts'

/** Answers kept at most (per tip). */
const MAX_KEPT = 100_000

export class UserchainView {
  private readonly store: ChainStore
  private tip = ''
  private users = new IdMap<Uint8Array | null>()

  constructor (store: ChainStore) { this.store = store }

  /** The user of the tx_IoT confirmed on the best chain with this id, or null (none, or not a tx_IoT). */
  async userOf (htxI: Uint8Array): Promise<Uint8Array | null> {
    const tip = this.fresh()
    const had = this.users.get(htxI)
    if (had !== undefined) return had
    const tx = await this.store.confirmedTx(htxI)
    const user = tx?.kind === 'iot' ? tx.user : null
    if (this.fresh() === tip) { // (not when a block connected while the block was read)
      if (this.users.size >= MAX_KEPT) this.users = new IdMap()
      this.users.set(htxI.slice(), user)
    }
    return user
  }

  /** The tip now; the answers kept are dropped when it moved. */
  private fresh (): string {
    const tip = this.store.tip.hex
    if (tip !== this.tip) { this.tip = tip; this.users = new IdMap() }
    return tip
  }
}
