/**
 * Who signed the tx_IoT with a given htxI on the best Userchain, and under
 * which key epoch — what an accounting node asks of every cause of a tx_diag
 * it admits (paper §IV-B2: the referenced htxI must exist on Userchain) and
 * of every committed one it charges to the user's credit (§IV-B4) — and who
 * holds the key of that epoch (grant.ts): the doctors of the tx_key that
 * opened it, and those of the later tx_keys that kept its Ik. Answers (a miss included) are kept
 * while the tip stays where it was: any new block or reorg clears them, so a
 * cause confirmed later, or disconnected, is read afresh.
 */
import { keyGrant, type KeyGrant, type TxKey } from '../../core/index.ts'
import { IdMap } from '../../core/idmap.ts'
import type { ChainStore } from '../../store/chain.ts'
import type { CreditBook } from '../consortium/credit.ts'
import { MAX_LATER_GRANTS, type ReadEvidence } from './grant.ts'
import type { PaymentLookup, UserchainLookup } from './validate.ts'

interface IotInfo { readonly user: Uint8Array, readonly epoch: number }

/** Answers kept at most (per tip). */
const MAX_KEPT = 100_000

export class UserchainView {
  private readonly store: ChainStore
  private tip = ''
  private users = new IdMap<IotInfo | null>()
  /** Per user, per epoch (keyed by the user's bytes: a hex key per lookup cost more than the rest of the check). */
  private readers = new IdMap<Map<number, ReadEvidence | null>>()
  private readersKept = 0

  constructor (store: ChainStore) { this.store = store }

  /** The user of the tx_IoT confirmed on the best chain with this id, or null (none, or not a tx_IoT). */
  async userOf (htxI: Uint8Array): Promise<Uint8Array | null> { return (await this.iotOf(htxI))?.user ?? null }

  /** User and key epoch (keyRef) of the tx_IoT confirmed on the best chain with this id, or null. */
  async iotOf (htxI: Uint8Array): Promise<IotInfo | null> {
    const tip = this.fresh()
    const had = this.users.get(htxI)
    if (had !== undefined) return had
    const tx = await this.store.confirmedTx(htxI)
    const info = tx?.kind === 'iot' ? { user: tx.user, epoch: tx.epoch } : null
    if (this.fresh() === tip) { // (not when a block connected while the block was read)
      if (this.users.size >= MAX_KEPT) this.users = new IdMap()
      this.users.set(htxI.slice(), info)
    }
    return info
  }

  /**
   * Who holds the key of the user's epoch on the best chain: the doctors of
   * the tx_key that opened it, and the later tx_keys whose Ik reaches back
   * over it (their ikFrom is at most the epoch; the first that does not
   * made a fresh Ik, and ikFrom never decreases after it); null if no
   * tx_key opened the epoch.
   */
  async epochReaders (user: Uint8Array, epoch: number): Promise<ReadEvidence | null> {
    const tip = this.fresh()
    const had = this.readers.get(user)?.get(epoch)
    if (had !== undefined) return had
    const id = this.store.epochTx(user, epoch)
    const tx = id === undefined ? undefined : await this.store.confirmedTx(id)
    let evidence: ReadEvidence | null = null
    if (tx?.kind === 'key') {
      const later: KeyGrant[] = []
      for (const e of await this.store.epochTxsAfter(user, epoch, MAX_LATER_GRANTS)) {
        const next = await this.store.confirmedTx(e.txid)
        if (next?.kind !== 'key' || next.ikFrom > epoch) break
        later.push(keyGrant(next))
      }
      evidence = { envelopes: tx.envelopes.map((e) => e.doctor), ...(later.length === 0 ? {} : { later }) }
    }
    if (this.fresh() === tip) {
      if (this.readersKept >= MAX_KEPT) { this.readers = new IdMap(); this.readersKept = 0 }
      let byEpoch = this.readers.get(user)
      if (byEpoch === undefined) { byEpoch = new Map(); this.readers.set(user.slice(), byEpoch) }
      byEpoch.set(epoch, evidence)
      this.readersKept++
    }
    return evidence
  }

  /** The tx_key that opened the user's epoch, confirmed on the best chain, or null (the escrow of an emergency request's epoch). */
  async keyTx (user: Uint8Array, epoch: number): Promise<TxKey | null> {
    const id = this.store.epochTx(user, epoch)
    const tx = id === undefined ? undefined : await this.store.confirmedTx(id)
    return tx?.kind === 'key' ? tx : null
  }

  /** The tip now; the answers kept are dropped when it moved. */
  private fresh (): string {
    const tip = this.store.tip.hex
    if (tip !== this.tip) { this.tip = tip; this.users = new IdMap(); this.readers = new IdMap(); this.readersKept = 0 }
    return tip
  }
}

/** What an accounting node reads off Userchain and the Healthcoin ledger, from a view of the chain and the credit book over it. */
export function accountingLookups (view: UserchainView, credit: CreditBook): { userchain: UserchainLookup, payments: PaymentLookup } {
  return {
    userchain: { iotTx: async (h) => await view.iotOf(h), epochReaders: async (u, e) => await view.epochReaders(u, e), keyTx: async (u, e) => await view.keyTx(u, e) },
    payments: { paid: async (u) => await credit.paid(u), price: credit.price }
  }
}
