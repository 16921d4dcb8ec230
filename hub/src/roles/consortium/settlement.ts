/**
 * The consortium's settlement (paper §IV-B4 incentive layer): the consortium
 * account pays each doctor what it earned for its committed diagnoses
 * (CreditBook.earned) with a tx_coin on Userchain, submitted to a core node
 * (which gossips it). What was already paid is read back from Userchain —
 * confirmed transfers (CreditBook.transferred) and, while one is in the
 * mempool, nothing more is sent — so a restart never pays twice: the chain
 * and the node's persisted mempool are the only record. Run by the devnet and
 * by the accounting node that holds the consortium's key.
 */
import { buildTxCoin, toHex, type Identity } from '../../core/index.ts'
import type { CoreNode } from '../core/node.ts'
import type { CreditBook } from './credit.ts'

/** One transfer a settlement pass submitted. */
export interface Payout {
  /** doctor ID (hex) */
  readonly doctor: string
  readonly amount: number
  /** tx_coin ID (hex) */
  readonly txid: string
}

/** Does the mempool hold a transfer from the consortium not yet confirmed? */
function pendingFrom (core: CoreNode, from: Uint8Array): boolean {
  const hex = toHex(from)
  return core.mempool.list().some((e) => e.bt.tx.kind === 'coin' && toHex(e.bt.tx.from) === hex)
}

/**
 * One settlement pass: unless a transfer from the consortium is still
 * pending (its nonce and amount must be confirmed first), pays each doctor
 * (default: every doctor who earned anything) what it earned minus what the
 * consortium already transferred to it, as far as the confirmed balance goes.
 * Callers run one pass at a time (settler() does).
 */
export async function settle (core: CoreNode, consortium: Identity, credit: CreditBook, doctors: readonly Uint8Array[] = credit.earners()): Promise<Payout[]> {
  if (pendingFrom(core, consortium.id)) return []
  const account = core.store.account(consortium.id)
  let { nonce, balance } = account
  const out: Payout[] = []
  for (const d of doctors) {
    const owed = credit.earned(d) - await credit.transferred(consortium.id, d)
    if (owed <= 0 || balance < owed) continue
    const r = await core.submitTx(buildTxCoin(consortium, { to: d, amount: owed, fee: 0, nonce }))
    if (!r.accepted) continue
    nonce++
    balance -= owed
    out.push({ doctor: toHex(d), amount: owed, txid: r.id })
  }
  return out
}

/** settle() with one pass in flight at a time: a call while one runs resolves with no payouts. */
export function settler (core: CoreNode, consortium: Identity, credit: CreditBook, doctors?: () => readonly Uint8Array[]): () => Promise<Payout[]> {
  let running = false
  return async () => {
    if (running) return []
    running = true
    try { return await settle(core, consortium, credit, doctors?.()) } finally { running = false }
  }
}
