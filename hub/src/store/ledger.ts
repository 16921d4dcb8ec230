/**
 * The Userchain state rules that need chain context (paper §IV-B1, §IV-B4):
 * - Healthcoin is account based: a TxCoin spends amount + fee from `from`,
 *   whose nonce must be the count of its earlier transfers; the coinbase may
 *   pay at most the block reward plus the block's fees.
 * - A tx_key's epoch must be strictly above the user's previous epoch; a
 *   tx_IoT's keyRef must name an epoch of that user already on the branch
 *   (DESIGN §4: the link points from data to key).
 * - A tx_key's ikFrom (§IV-B5: from which epoch on its Ik has sealed data)
 *   must be true of the branch: its own epoch with an Ik other than the
 *   previous epoch's, or — the Ik kept by a `history` grant — the previous
 *   epoch's ikFrom with the previous epoch's Ik commitment, naming every
 *   doctor the previous epoch named and one more (a kept Ik cannot be taken
 *   back from a doctor, and is kept only to grant one). Accounting nodes
 *   admit diagnoses on what a granted doctor can read from this field, so a
 *   tx_key lying about it never reaches a block.
 * - A transaction is confirmed once per branch.
 * Pure: the state comes in through a LedgerView; LedgerOverlay stacks the
 * changes of a block (or of the mempool) on top without writing anything.
 */
import { IdMap, MAX_AMOUNT, toHex, type BodyTx, type NetworkParams, type Tx } from '../core/index.ts'
import {
  AlreadyConfirmedError, CoinbaseAmountError, EpochOrderError, IkFromError, InsufficientFundsError, NonceError, TxTimeError, UnknownEpochError
} from './errors.ts'
import { equalBytes, LimitExceededError, type TxKey } from '../core/index.ts'

export interface Account { readonly balance: number, readonly nonce: number }

/** A user's latest key epoch on a branch: what the next tx_key's ikFrom is checked against. */
export interface LatestKey {
  readonly epoch: number
  readonly ikFrom: number
  /** C(Ik) of that epoch; null for a version-1 tx_key, which commits to none. */
  readonly ikCommit: Uint8Array | null
  /** The doctors its tx_key names (recorded with C(Ik) only). */
  readonly doctors: readonly Uint8Array[]
}
export const EMPTY_ACCOUNT: Account = Object.freeze({ balance: 0, nonce: 0 })

/** What the rules read: the state at some tip. */
export interface LedgerView {
  account: (id: Uint8Array) => Account
  /** The user's highest key epoch on the branch, 0 when none. */
  latestEpoch: (user: Uint8Array) => number
  /** The user's latest key epoch with its Ik facts, undefined when none. */
  latestKey: (user: Uint8Array) => LatestKey | undefined
  hasEpoch: (user: Uint8Array, epoch: number) => boolean
  isConfirmed: (txid: Uint8Array) => boolean
}

/** A transaction's ts must lie in [ref - txMaxAge, ref + maxFutureDrift] (ref = block gtime, or now). */
export function checkTxTime (params: NetworkParams, tx: Tx, ref: number, field: string): void {
  if (tx.kind !== 'iot' && tx.kind !== 'key') return
  if (tx.ts < ref - params.txMaxAge) throw new TxTimeError(`${field}.ts`, `expired: ${tx.ts} is more than ${params.txMaxAge}s before ${ref}`)
  if (tx.ts > ref + params.maxFutureDrift) throw new TxTimeError(`${field}.ts`, `${tx.ts} is more than ${params.maxFutureDrift}s after ${ref}`)
}

/**
 * The ikFrom rule: `tx` against the user's previous tx_key on the branch
 * (`prev`). Throws IkFromError naming what does not hold.
 */
export function checkIkFrom (tx: TxKey, prev: LatestKey | undefined, field: string): void {
  const f = `${field}.ikFrom`
  if (tx.ikFrom === tx.epoch) {
    if (tx.ikCommit !== null && prev?.ikCommit != null && equalBytes(tx.ikCommit, prev.ikCommit)) {
      throw new IkFromError(f, `claims a fresh Ik from epoch ${tx.epoch}, but commits to the Ik of epoch ${prev.epoch}, in use since epoch ${prev.ikFrom}`)
    }
    return
  }
  if (prev === undefined) throw new IkFromError(f, `claims an Ik in use since epoch ${tx.ikFrom}, but the user has no earlier tx_key`)
  if (prev.ikCommit === null || tx.ikCommit === null) throw new IkFromError(f, `claims an Ik in use since epoch ${tx.ikFrom}, but epoch ${prev.epoch} commits to no Ik`)
  if (!equalBytes(tx.ikCommit, prev.ikCommit)) throw new IkFromError(f, `claims an Ik in use since epoch ${tx.ikFrom}, but its Ik is not the one of epoch ${prev.epoch} (the commitments differ)`)
  if (tx.ikFrom !== prev.ikFrom) throw new IkFromError(f, `claims an Ik in use since epoch ${tx.ikFrom}, but that Ik (epoch ${prev.epoch}'s) is in use since epoch ${prev.ikFrom}`)
  const dropped = prev.doctors.find((d) => !tx.envelopes.some((e) => equalBytes(e.doctor, d)))
  if (dropped !== undefined) throw new IkFromError(f, `keeps epoch ${prev.epoch}'s Ik but drops doctor ${toHex(dropped)}, who holds it (only a fresh Ik takes a doctor out)`)
  if (tx.envelopes.length <= prev.doctors.length) throw new IkFromError(f, `keeps epoch ${prev.epoch}'s Ik but grants no new doctor (only a history grant keeps the Ik)`)
}

function addAmount (field: string, a: number, b: number): number {
  const s = a + b
  if (s > MAX_AMOUNT) throw new LimitExceededError(field, MAX_AMOUNT, s)
  return s
}

/**
 * `base`, except that whether the given transactions are confirmed was
 * looked up beforehand (`found[i]` for `txs[i]`, e.g. by one batched read);
 * matched by the identity of their id arrays, so asking costs no hashing.
 */
export function withConfirmed (base: LedgerView, txs: readonly BodyTx[], found: readonly boolean[]): LedgerView {
  const known = new Map<Uint8Array, boolean>()
  txs.forEach((t, i) => known.set(t.id, found[i] === true))
  return {
    account: (id) => base.account(id),
    latestEpoch: (user) => base.latestEpoch(user),
    latestKey: (user) => base.latestKey(user),
    hasEpoch: (user, epoch) => base.hasEpoch(user, epoch),
    isConfirmed: (txid) => known.get(txid) ?? base.isConfirmed(txid)
  }
}

/** Changes of some transactions on top of a view; itself a view. */
export class LedgerOverlay implements LedgerView {
  readonly accounts = new Map<string, { id: Uint8Array, account: Account }>()
  /** user hex → latest epoch set here. */
  readonly epochs = new Map<string, { user: Uint8Array } & LatestKey>()
  /** `${userHex}:${epoch}` of the tx_keys applied here, → tx id. */
  readonly newEpochs = new Map<string, { user: Uint8Array, epoch: number, txid: Uint8Array }>()
  /** Ids of the transactions applied here. */
  readonly ids = new IdMap<true>()
  /** Sum of the fees of the transfers applied here. */
  fees = 0
  private readonly base: LedgerView
  /** Per user, epoch → whether it exists on this branch (tx_keys here, lookups in the base): many tx_IoT of one user name the same epoch. */
  private readonly knownEpochs = new IdMap<Map<number, boolean>>()

  constructor (base: LedgerView) { this.base = base }

  account (id: Uint8Array): Account { return this.accounts.get(toHex(id))?.account ?? this.base.account(id) }
  latestEpoch (user: Uint8Array): number { return this.epochs.get(toHex(user))?.epoch ?? this.base.latestEpoch(user) }
  latestKey (user: Uint8Array): LatestKey | undefined { return this.epochs.get(toHex(user)) ?? this.base.latestKey(user) }
  hasEpoch (user: Uint8Array, epoch: number): boolean {
    const known = this.epochsOf(user)
    let has = known.get(epoch)
    if (has === undefined) { has = this.base.hasEpoch(user, epoch); known.set(epoch, has) }
    return has
  }
  private epochsOf (user: Uint8Array): Map<number, boolean> {
    let known = this.knownEpochs.get(user)
    if (known === undefined) { known = new Map(); this.knownEpochs.set(user, known) }
    return known
  }
  isConfirmed (txid: Uint8Array): boolean { return this.ids.has(txid) || this.base.isConfirmed(txid) }

  private setAccount (id: Uint8Array, account: Account): void { this.accounts.set(toHex(id), { id, account }) }

  credit (field: string, to: Uint8Array, amount: number): void {
    const a = this.account(to)
    this.setAccount(to, { balance: addAmount(field, a.balance, amount), nonce: a.nonce })
  }

  /** Applies one user transaction (iot, key, coin), or throws naming `field`. */
  apply (t: BodyTx, field: string): void {
    if (this.isConfirmed(t.id)) throw new AlreadyConfirmedError(field, toHex(t.id))
    const tx = t.tx
    switch (tx.kind) {
      case 'coin': {
        const a = this.account(tx.from)
        if (tx.nonce !== a.nonce) throw new NonceError(`${field}.nonce`, a.nonce, tx.nonce)
        const need = addAmount(`${field}.amount`, tx.amount, tx.fee)
        if (a.balance < need) throw new InsufficientFundsError(`${field}.amount`, a.balance, need)
        this.setAccount(tx.from, { balance: a.balance - need, nonce: a.nonce + 1 })
        this.credit(`${field}.amount`, tx.to, tx.amount)
        this.fees = addAmount('fees', this.fees, tx.fee)
        break
      }
      case 'key': {
        const prev = this.latestEpoch(tx.user)
        if (tx.epoch <= prev) throw new EpochOrderError(`${field}.epoch`, prev, tx.epoch)
        checkIkFrom(tx, prev === 0 ? undefined : this.latestKey(tx.user), field)
        this.epochs.set(toHex(tx.user), { user: tx.user, epoch: tx.epoch, ikFrom: tx.ikFrom, ikCommit: tx.ikCommit, doctors: tx.envelopes.map((e) => e.doctor) })
        this.newEpochs.set(`${toHex(tx.user)}:${tx.epoch}`, { user: tx.user, epoch: tx.epoch, txid: t.id })
        this.epochsOf(tx.user).set(tx.epoch, true)
        break
      }
      case 'iot':
        if (!this.hasEpoch(tx.user, tx.epoch)) throw new UnknownEpochError(`${field}.epoch`, tx.epoch)
        break
      default:
        throw new AlreadyConfirmedError(field, `${toHex(t.id)} (a ${tx.kind} transaction has no place here)`)
    }
    this.ids.set(t.id, true)
  }

  /** The coinbase: pays at most reward + fees of the transactions applied before. */
  applyCoinbase (t: BodyTx, reward: number): void {
    const tx = t.tx
    if (tx.kind !== 'coinbase') throw new CoinbaseAmountError(0, 0)
    if (this.isConfirmed(t.id)) throw new AlreadyConfirmedError('txs[0]', toHex(t.id))
    const max = addAmount('fees', reward, this.fees)
    if (tx.amount > max) throw new CoinbaseAmountError(max, tx.amount)
    if (tx.amount > 0) this.credit('txs[0].amount', tx.to, tx.amount)
    this.ids.set(t.id, true)
  }
}
