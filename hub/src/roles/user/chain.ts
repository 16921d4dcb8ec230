/**
 * A user's key history as Userchain holds it (paper §IV-B5: "the user can
 * obtain the IoT key … by searching the key transaction"): every tx_key the
 * user signed, confirmed on the best chain, plus those still in the mempool.
 * UserKeys.fromChain() rebuilds all epochs from this and the private key.
 */
import { toHex, type TxKey } from '../../core/index.ts'
import type { ChainStore } from '../../store/chain.ts'
import type { Mempool } from '../../store/mempool.ts'

export async function confirmedKeyTxs (store: ChainStore, user: Uint8Array): Promise<TxKey[]> {
  const out: TxKey[] = []
  const u = toHex(user)
  for (const { height, pos } of await store.userTxs(user)) {
    const hash = store.hashAt(height)
    const tx = hash === undefined ? undefined : (await store.getBlock(hash))?.txs[pos]?.tx
    if (tx?.kind === 'key' && toHex(tx.user) === u) out.push(tx)
  }
  return out
}

export function pendingKeyTxs (mempool: Mempool, user: Uint8Array): TxKey[] {
  const u = toHex(user)
  return mempool.list().map((e) => e.bt.tx).filter((tx): tx is TxKey => tx.kind === 'key' && toHex(tx.user) === u)
}

/** Confirmed, then pending, in epoch order. */
export async function keyHistory (store: ChainStore, mempool: Mempool | null, user: Uint8Array): Promise<TxKey[]> {
  const all = [...await confirmedKeyTxs(store, user), ...(mempool === null ? [] : pendingKeyTxs(mempool, user))]
  return all.sort((a, b) => a.epoch - b.epoch)
}
