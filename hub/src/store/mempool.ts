/**
 * The Userchain mempool of a core user node (paper §IV-B2: core nodes verify
 * user transactions before packing them into a Ublock; Alg. 1 line 2).
 *
 * - Holds user transactions (tx_IoT, tx_key, TxCoin) valid on top of the
 *   current tip, in arrival order; each entry is applied to a LedgerOverlay
 *   so nonces, balances and key epochs chain within the pool.
 * - Bounded in bytes. When full, an incoming transaction evicts entries
 *   paying a lower fee per byte (tx_IoT and the last transfer of a sender,
 *   never a tx_key others may depend on); the node's own (local) one
 *   evicts relayed entries, newest first, and what depended on them; otherwise
 *   it is refused with MempoolFullError. Every drop is reported with its reason.
 * - Knows which entries came from peers (`origin`) and when: the relay
 *   policy (roles/core/relay-policy.ts) caps their share and their age, and
 *   counts each user's pending tx_key.
 * - Block templates take the highest fee rate first (a sender's transfers
 *   ranked by the lowest rate among them, keeping nonce order), then arrival.
 * - `rebuild` after a tip change drops what the new branch confirmed or
 *   invalidated and takes back what a reorg disconnected.
 * - Persisted under the store's `p` prefix, so it survives a restart.
 * Signatures are the caller's job (roles/core verifies before `add`).
 */
import { DuplicateTxError, MAX_BLOCK_BODY_BYTES, bodyEntryBytes, decodeTx, toHex, txId, type BodyTx, type NetworkParams } from '../core/index.ts'
import type { ChainStore } from './chain.ts'
import { keys } from './chain.ts'
import { MempoolFullError, WrongKindError } from './errors.ts'
import { checkTxTime, LedgerOverlay } from './ledger.ts'

export interface MempoolEntry {
  readonly bt: BodyTx
  readonly seq: number
  readonly size: number
  readonly fee: number
  /** The peer it was relayed by; none for the node's own (and for entries reloaded after a restart). */
  readonly origin?: string
  /** When it entered the pool, seconds. */
  readonly at?: number
}

export interface Dropped { readonly id: string, readonly reason: string }

export interface MempoolOptions {
  /** Byte bound of the pool (sum of encoded transaction sizes); default 8 MiB. */
  readonly maxBytes?: number
}

const { key, P } = keys

function feeOf (bt: BodyTx): number { return bt.tx.kind === 'coin' ? bt.tx.fee : 0 }
function latin1 (id: Uint8Array): string { return Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('latin1') }

export class Mempool {
  readonly maxBytes: number
  private readonly store: ChainStore
  private readonly params: NetworkParams
  private readonly entries = new Map<string, MempoolEntry>()
  private overlay: LedgerOverlay
  private seq = 0
  private bytesUsed = 0
  private relayed = 0
  /** Pending tx_key per user (latin1 of the ID). */
  private readonly keysOf = new Map<string, number>()
  private io: Promise<unknown> = Promise.resolve()
  private pendingOps: Array<{ type: 'put', key: Uint8Array, value: Uint8Array } | { type: 'del', key: Uint8Array }> = []

  constructor (store: ChainStore, opts: MempoolOptions = {}) {
    this.store = store
    this.params = store.params
    this.maxBytes = opts.maxBytes ?? 8 * 1024 * 1024
    this.overlay = new LedgerOverlay(store)
  }

  get size (): number { return this.entries.size }
  get bytes (): number { return this.bytesUsed }
  /** Bytes of entries relayed by peers. */
  get relayBytes (): number { return this.relayed }
  /** tx_key of `user` pending. */
  pendingKeys (user: Uint8Array): number { return this.keysOf.get(latin1(user)) ?? 0 }
  has (id: Uint8Array | string): boolean { return this.entries.has(typeof id === 'string' ? id : toHex(id)) }
  get (id: Uint8Array | string): MempoolEntry | undefined { return this.entries.get(typeof id === 'string' ? id : toHex(id)) }
  /** The pooled transactions (decoded, ids known), arrival order: what a compact block is rebuilt from. */
  * txs (): IterableIterator<BodyTx> { for (const e of this.entries.values()) yield e.bt }
  /** Entries in arrival order. */
  list (): MempoolEntry[] { return [...this.entries.values()] }
  /** The state at the tip with the pool applied (pending nonces, balances, epochs). */
  get view (): LedgerOverlay { return this.overlay }

  /**
   * Admits a transaction whose signature was verified, or throws a typed
   * error saying why not. Returns the entries it evicted.
   */
  add (bt: BodyTx, now: number, origin?: string): Dropped[] {
    const tx = bt.tx
    if (tx.kind !== 'iot' && tx.kind !== 'key' && tx.kind !== 'coin') throw new WrongKindError(tx.kind)
    const hex = toHex(bt.id)
    if (this.entries.has(hex)) throw new DuplicateTxError('tx', hex)
    checkTxTime(this.params, tx, now, 'tx')
    const size = bt.bytes.length
    const fee = feeOf(bt)
    const victims = this.bytesUsed + size > this.maxBytes ? this.victims(size, fee / size, origin === undefined) : []
    // Applying mutates the overlay: check on a scratch copy first.
    new LedgerOverlay(this.overlay).apply(bt, 'tx')
    this.overlay.apply(bt, 'tx')
    const entry = { bt, seq: this.seq++, size, fee, ...(origin === undefined ? {} : { origin }), at: now }
    this.entries.set(hex, entry)
    this.bytesUsed += size
    this.count(entry, 1)
    this.persist([entry], [])
    if (victims.length === 0) return []
    for (const v of victims) this.remove(toHex(v.bt.id))
    const dropped = victims.map((v) => ({ id: toHex(v.bt.id), reason: `evicted: mempool full, fee rate below ${hex}'s` }))
    return [...dropped, ...this.reapply()]
  }

  /**
   * Entries to evict so `size` bytes at `rate` fit, or MempoolFullError; for
   * a local transaction, relayed entries first (newest first: later ones may
   * depend on earlier ones, which reapply drops with them).
   */
  private victims (size: number, rate: number, local: boolean): MempoolEntry[] {
    const lastNonce = new Map<string, MempoolEntry>()
    for (const e of this.entries.values()) if (e.bt.tx.kind === 'coin') lastNonce.set(toHex(e.bt.tx.from), e)
    const relayed = local ? [...this.entries.values()].filter((e) => e.origin !== undefined).sort((a, b) => b.seq - a.seq) : []
    const evictable = [...relayed, ...[...this.entries.values()]
      .filter((e) => e.origin === undefined || !local)
      .filter((e) => e.bt.tx.kind === 'iot' || (e.bt.tx.kind === 'coin' && lastNonce.get(toHex(e.bt.tx.from)) === e))
      .filter((e) => e.fee / e.size < rate)
      .sort((a, b) => a.fee / a.size - b.fee / b.size || b.seq - a.seq)]
    const out: MempoolEntry[] = []
    let free = this.maxBytes - this.bytesUsed
    for (const e of evictable) {
      if (free >= size) break
      out.push(e)
      free += e.size
    }
    if (free < size || size > this.maxBytes) throw new MempoolFullError(this.maxBytes)
    return out
  }

  private remove (hex: string): void {
    const e = this.entries.get(hex)
    if (e === undefined) return
    this.entries.delete(hex)
    this.bytesUsed -= e.size
    this.count(e, -1)
    this.persist([], [e])
  }

  /** Keeps the relayed bytes and the pending tx_key per user in step with the entries. */
  private count (e: MempoolEntry, sign: 1 | -1): void {
    if (e.origin !== undefined) this.relayed += sign * e.size
    if (e.bt.tx.kind !== 'key') return
    const k = latin1(e.bt.tx.user)
    const n = (this.keysOf.get(k) ?? 0) + sign
    if (n > 0) this.keysOf.set(k, n)
    else this.keysOf.delete(k)
  }

  /** Evicts relayed entries that entered before `before` (seconds), and what depended on them. */
  evictRelayed (before: number): Dropped[] {
    const old = [...this.entries.values()].filter((e) => e.origin !== undefined && (e.at ?? Infinity) < before)
    if (old.length === 0) return []
    for (const e of old) this.remove(toHex(e.bt.id))
    return [...old.map((e) => ({ id: toHex(e.bt.id), reason: 'evicted: relayed and unmined for too long' })), ...this.reapply()]
  }

  /** Re-applies every entry in arrival order on a fresh overlay; drops those no longer valid. */
  private reapply (): Dropped[] {
    const dropped: Dropped[] = []
    this.overlay = new LedgerOverlay(this.store)
    for (const [hex, e] of [...this.entries]) {
      try {
        this.overlay.apply(e.bt, 'tx')
      } catch (err) {
        this.remove(hex)
        dropped.push({ id: hex, reason: (err as Error).message })
      }
    }
    return dropped
  }

  /**
   * After the tip moved: `returned` (transactions of disconnected blocks, in
   * chain order) go back in ahead of the pool; what the chain now confirms
   * (`confirmed`: the txs of the blocks connected, when known) leaves quietly; what became invalid is dropped with its reason.
   */
  rebuild (returned: readonly BodyTx[], now: number, confirmed?: readonly BodyTx[]): Dropped[] {
    const old = new Map(this.entries)
    // Txs of the blocks just connected leave at once, without a lookup each
    // (nothing to match when the pool was empty).
    const gone = new Set(old.size === 0 ? [] : (confirmed ?? []).map((t) => toHex(t.id)))
    this.entries.clear()
    this.bytesUsed = 0
    this.overlay = new LedgerOverlay(this.store)
    const dropped: Dropped[] = []
    const back = returned.filter((t) => t.tx.kind !== 'coinbase')
    // Returned transactions are older than anything still pooled: number them before it.
    let seq = [...old.values()].reduce((m, e) => Math.min(m, e.seq), this.seq) - back.length
    // [hex id, tx]: the pooled ones keep the key they had, so no id is hex-encoded twice.
    const candidates: Array<[string, BodyTx]> = [...back.map((t): [string, BodyTx] => [toHex(t.id), t]), ...[...old].map(([hex, e]): [string, BodyTx] => [hex, e.bt])]
    for (const [hex, bt] of candidates) {
      if (gone.has(hex) || this.entries.has(hex) || this.store.isConfirmed(bt.id)) continue
      try {
        if (this.bytesUsed + bt.bytes.length > this.maxBytes) throw new MempoolFullError(this.maxBytes)
        checkTxTime(this.params, bt.tx, now, 'tx')
        this.overlay.apply(bt, 'tx')
        const prev = old.get(hex)
        this.entries.set(hex, prev ?? { bt, seq: seq++, size: bt.bytes.length, fee: feeOf(bt), at: now })
        this.bytesUsed += bt.bytes.length
      } catch (err) {
        dropped.push({ id: hex, reason: (err as Error).message })
      }
    }
    this.persist([...this.entries].filter(([hex]) => !old.has(hex)).map(([, e]) => e), [...old].filter(([hex]) => !this.entries.has(hex)).map(([, e]) => e))
    this.relayed = 0
    this.keysOf.clear()
    for (const e of this.entries.values()) this.count(e, 1)
    return dropped
  }

  /**
   * Transactions for a block template, at most `maxBytes` of body: highest
   * fee rate first (a sender's chain of transfers ranked by its lowest rate,
   * so nonces stay in order), then arrival; each applies on top of the tip
   * and, given the block's gtime, lies within its time window.
   */
  select (maxBytes = MAX_BLOCK_BODY_BYTES - 256, gtime?: number): BodyTx[] {
    const all = [...this.entries.values()]
    const minRate = new Map<string, number>()
    const rank = new Map<MempoolEntry, number>()
    for (const e of all) {
      let r = e.fee / e.size
      if (e.bt.tx.kind === 'coin') {
        const s = toHex(e.bt.tx.from)
        r = Math.min(r, minRate.get(s) ?? Infinity)
        minRate.set(s, r)
      }
      rank.set(e, r)
    }
    all.sort((a, b) => rank.get(b)! - rank.get(a)! || a.seq - b.seq)
    const ov = new LedgerOverlay(this.store)
    const out: BodyTx[] = []
    let used = 0
    for (const e of all) {
      const n = bodyEntryBytes(e.size)
      if (used + n > maxBytes) continue
      try {
        if (gtime !== undefined) checkTxTime(this.params, e.bt.tx, gtime, 'tx')
        ov.apply(e.bt, 'tx')
      } catch { continue }
      out.push(e.bt)
      used += n
    }
    return out
  }

  /** Drops what expired by `now` (and what depended on it), with the reason. */
  expire (now: number): Dropped[] {
    const stale = [...this.entries.values()].some((e) => {
      try { checkTxTime(this.params, e.bt.tx, now, 'tx'); return false } catch { return true }
    })
    return stale ? this.rebuild([], now) : []
  }

  // ---- persistence ----

  private persist (put: MempoolEntry[], del: MempoolEntry[]): void {
    const ops = [
      ...put.map((e) => {
        const v = new Uint8Array(8 + e.bt.bytes.length)
        new DataView(v.buffer).setFloat64(0, e.seq)
        v.set(e.bt.bytes, 8)
        return { type: 'put' as const, key: key(P.mempool, e.bt.id), value: v }
      }),
      ...del.map((e) => ({ type: 'del' as const, key: key(P.mempool, e.bt.id) }))
    ]
    if (ops.length === 0) return
    // Changes made in one turn of the event loop go to disk as one batch, in order.
    const first = this.pendingOps.length === 0
    this.pendingOps.push(...ops)
    if (!first) return
    this.io = this.io.then(async () => {
      await new Promise((resolve) => setImmediate(resolve))
      const batch = this.pendingOps
      this.pendingOps = []
      if (this.store.db.status === 'open') await this.store.db.batch(batch)
    }).catch(() => {})
  }

  /** Waits until every change so far is on disk. */
  async flush (): Promise<void> { await this.io }

  /**
   * Loads the persisted pool (after a restart) and re-admits each entry on
   * top of the current tip, in its old order. Returns what no longer fits.
   */
  async load (now: number): Promise<Dropped[]> {
    const saved: Array<{ seq: number, bytes: Uint8Array }> = []
    for await (const [, v] of this.store.db.iterator({ gt: Uint8Array.of(P.mempool), lt: Uint8Array.of(P.mempool + 1) })) {
      saved.push({ seq: new DataView(v.buffer, v.byteOffset, 8).getFloat64(0), bytes: new Uint8Array(v.subarray(8)) })
    }
    saved.sort((a, b) => a.seq - b.seq)
    const dropped: Dropped[] = []
    const txs: BodyTx[] = []
    for (const s of saved) {
      try {
        txs.push({ tx: decodeTx(s.bytes), bytes: s.bytes, id: txId(s.bytes) })
      } catch (err) {
        dropped.push({ id: toHex(txId(s.bytes)), reason: (err as Error).message })
      }
    }
    // Clear the saved keys, then re-add: rebuild writes the entries back under their new order.
    await this.store.db.batch(saved.map((s) => ({ type: 'del' as const, key: key(P.mempool, txId(s.bytes)) })))
    return [...dropped, ...this.rebuild(txs, now)]
  }
}
