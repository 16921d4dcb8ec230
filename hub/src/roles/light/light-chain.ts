/**
 * The Userchain as a light user node keeps it (paper §III-A: lightweight
 * user nodes "only store the block headers of Userchain" and rely on core
 * user nodes to "search transactions"): the header chain (./headers.ts), and
 * the user's own transactions, each with the Merkle inclusion proof a core
 * node gave and this node checked against its headers. That is all it
 * stores: no bodies, no other user's transaction, no ledger.
 *
 * - Its transactions go to the network through the core nodes it is
 *   connected to: one of them gives its verdict (submit/1) and relays what
 *   it accepts; a refused one is reported with the core node's reason, an
 *   accepted one stays pending, and is published again, until a core node
 *   proves it.
 * - On each new tip (and every `refreshMs`) it asks every connected core
 *   node for its transactions and cross-checks them (LightNode.checkPeers):
 *   a core node that forges a proof, substitutes a transaction or omits
 *   one is banned, which hangs it up (net/peers.ts), and the honest ones
 *   carry on.
 * - What the hub's parts need of a chain is answered from its own
 *   transactions: depth and confirmation of a tx (batches, key epochs), the
 *   key history (§IV-B5 epochs), the Healthcoin balance and nonce of its
 *   own account (§IV-B4: every transfer from or to it is its own).
 */
import { EventEmitter } from 'node:events'
import { readFile, rename, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { bodyTx, decodeTx, equalBytes, toHex, UBLOCK_HEADER_BYTES, type NetworkParams, type Tx, type TxKey } from '../../core/index.ts'
import { HeaderChain } from './headers.ts'
import { decodeProvenTx, encodeProvenTx } from '../../net/protocols.ts'
import type { ProvenTx } from '../../net/chain.ts'
import { checkProven, HEADERS_FILE, LightNode, type ConfirmedTx, type LightNodeOptions } from './light-node.ts'

/** `<dataDir>/own-txs.bin`: the user's proven transactions (4-byte length, then the proven tx as usertxs/1 sends it). */
export const OWN_TXS_FILE = 'own-txs.bin'

export interface LightChainOptions extends LightNodeOptions {
  /** Asks the core nodes again this often even without a new tip, ms (default 30 s). */
  readonly refreshMs?: number
  readonly log?: (line: string) => void
}

export type SubmitVerdict = { readonly id: string, readonly accepted: true } | { readonly id: string, readonly accepted: false, readonly code: string, readonly reason: string }

/** Refused transactions kept for the status. */
const MAX_REJECTED = 50

/** One of the user's transactions a core node refused (submit/1), with its reason. */
export interface RejectedTx { readonly id: string, readonly kind: string, readonly code: string, readonly reason: string, readonly peer: string, readonly at: number }

export interface LightChainStatus {
  readonly height: number
  readonly tip: string
  /** Own transactions published and not yet proven. */
  readonly pending: number
  /** Own transactions proven. */
  readonly proven: number
  /** Core nodes connected (those not banned). */
  readonly peers: number
  /** Core nodes caught lying and dropped since start. */
  readonly liars: number
  /** Bytes of the Userchain store: headers and proven own transactions. */
  readonly storeBytes: number
  /** Own transactions a core node refused (the last MAX_REJECTED), oldest first, with the core node's code and reason. */
  readonly rejected: readonly RejectedTx[]
}

/** Events: 'tip' (after each check of the core nodes), 'confirmed' (ConfirmedTx, each own tx once proven), 'liar' ({ peer, error }). */
export class LightChain extends EventEmitter {
  readonly node: LightNode
  readonly dir: string | undefined
  private readonly log: (line: string) => void
  private readonly timer: NodeJS.Timeout | undefined
  private running: Promise<void> = Promise.resolve()
  private queued = false
  private stopped = false
  /** Heights below this were cross-checked with every core node already: later checks ask from a reorg's depth below. */
  private checkedTo = 0
  liars = 0
  /** The user's transactions a core node refused, newest last (MAX_REJECTED at most), by id. */
  readonly rejected = new Map<string, RejectedTx>()
  /** Refusals since start, by the core node's error code (what a core hub's status counts as `refused`). */
  readonly refused: Record<string, number> = {}

  /** What it knows of the user's transactions (also read offline, by the CLI on a stopped hub's data dir). */
  readonly ledger: LightLedger

  private constructor (node: LightNode, opts: LightChainOptions) {
    super()
    this.node = node
    this.ledger = new LightLedger(node.params, node.user, node.headers, node.confirmed, node.pending)
    this.dir = opts.dataDir
    this.log = opts.log ?? (() => {})
    node.on('tip', () => { this.refreshSoon() })
    node.on('liar', ({ peer, error }: { peer: string, error: Error }) => {
      this.liars++
      this.log(`light node: core node ${peer} lied and is dropped: ${error.message}`)
      this.emit('liar', { peer, error })
    })
    node.net.libp2p.addEventListener('peer:identify', () => { this.refreshSoon() })
    const every = opts.refreshMs ?? 30_000
    if (every > 0) { this.timer = setInterval(() => { this.refreshSoon() }, every); this.timer.unref() }
  }

  /** Starts the light node, with the header chain and the own transactions of `dataDir` (each proof checked again). */
  static async start (opts: LightChainOptions): Promise<LightChain> {
    const node = await LightNode.start(opts)
    const chain = new LightChain(node, opts)
    if (opts.dataDir !== undefined) await loadOwnTxs(opts.dataDir, node.headers, node.confirmed)
    return chain
  }

  async stop (): Promise<void> {
    this.stopped = true
    if (this.timer !== undefined) clearInterval(this.timer)
    await this.running.catch(() => {})
    await this.save()
    await this.node.stop()
  }

  get params (): LightNode['params'] { return this.node.params }
  get height (): number { return this.node.headers.height }
  now (): number { return Math.floor(Date.now() / 1000) }

  /** Checks the core nodes again soon (coalesced: one check queued at most behind the running one). */
  refreshSoon (): void {
    if (this.stopped || this.queued) return
    this.queued = true
    void this.refresh().catch((err: Error) => { this.log(`light node: ${err.message}`) })
  }

  /**
   * Syncs headers, then asks every connected core node for the user's
   * transactions and cross-checks them; liars are dropped. Proven ones are
   * saved; those still pending are published again. One check at a time.
   */
  async refresh (): Promise<void> {
    const run = this.running.then(async () => { this.queued = false; if (!this.stopped) await this.check() })
    this.running = run.catch(() => {})
    await run
  }

  private async check (): Promise<void> {
    const peers = this.node.corePeers()
    if (peers.length === 0) return
    await this.node.syncHeaders().catch((err: Error) => { this.log(`light node: headers: ${err.message}`) })
    const before = new Set(this.node.confirmed.keys())
    const from = Math.max(0, this.checkedTo - this.node.params.maxReorgDepth)
    const { reports, unanswered } = await this.node.checkPeers(this.node.corePeers(), from)
    for (const u of unanswered) this.log(`light node: core node ${u.peer} did not answer: ${u.error.message}`)
    if (reports.length > 0) this.checkedTo = Math.min(this.node.headers.height, ...reports.map((r) => r.tip.height))
    const fresh = [...this.node.confirmed].filter(([id]) => !before.has(id))
    if (fresh.length > 0) await this.save()
    for (const [id, c] of fresh.sort((a, b) => a[1].height - b[1].height)) { this.rejected.delete(id); this.emit('confirmed', c) }
    // past the gossip's own duplicate filter: gossipsub forgets a message id after its seen TTL (2 min), then this reaches the core nodes again
    for (const bytes of this.node.pending.values()) await this.node.net.pubsub.publish(this.node.gossip.topic('tx'), bytes).catch(() => {})
    this.emit('tip')
  }

  /** Writes the proven own transactions, then the headers (each atomically). */
  async save (): Promise<void> {
    if (this.dir === undefined) return
    const file = join(this.dir, OWN_TXS_FILE)
    await writeFile(`${file}.tmp`, encodeOwnTxs([...this.node.confirmed.values()].map((c) => c.proven)))
    await rename(`${file}.tmp`, file)
    await this.node.saveHeaders()
  }

  /** Bytes this node keeps of Userchain: its header file and its proven transactions. */
  async storeBytes (): Promise<number> {
    if (this.dir === undefined) return 0
    await this.save()
    let n = 0
    for (const f of [HEADERS_FILE, OWN_TXS_FILE]) n += (await stat(join(this.dir, f))).size
    return n
  }

  /**
   * Hands one of the user's transactions to a core node (LightNode.submitTx)
   * and answers with its verdict, as a core hub's own node would: accepted
   * (pending here until a core node proves it), or refused with the core
   * node's code and reason (not pending; kept in `rejected`, shown in the
   * status). When no core node gives a verdict (all timed out, or none
   * serves submit/1) it goes out on the gossip topic instead and stays
   * pending, published again with each check.
   */
  async submit (tx: Tx): Promise<SubmitVerdict> {
    const bt = bodyTx(tx)
    const id = toHex(bt.id)
    if (this.node.confirmed.has(id)) return { id, accepted: true }
    if (this.node.corePeers().length === 0) return { id, accepted: false, code: 'ERR_NO_CORE_PEERS', reason: 'no core node connected: the transaction is sent again once one is' }
    const { verdict, peer, failures } = await this.node.submitTx(bt.bytes)
    for (const f of failures) this.log(`light node: core node ${f.peer} gave no verdict on ${id.slice(0, 12)}…: ${f.error}`)
    if (verdict !== undefined && !verdict.accepted) {
      this.node.pending.delete(id)
      this.rejected.set(id, { id, kind: tx.kind, code: verdict.code, reason: verdict.reason, peer: peer!, at: Date.now() })
      if (this.rejected.size > MAX_REJECTED) this.rejected.delete(this.rejected.keys().next().value!)
      this.refused[verdict.code] = (this.refused[verdict.code] ?? 0) + 1
      this.log(`light node: core node ${peer!} refused ${tx.kind} ${id.slice(0, 12)}…: ${verdict.code} ${verdict.reason}`)
      return { id, accepted: false, code: verdict.code, reason: verdict.reason }
    }
    this.rejected.delete(id)
    this.node.pending.set(id, bt.bytes)
    if (verdict !== undefined) return { id, accepted: true }
    // no verdict: gossip, as to core nodes that predate submit/1 (a core node just connected may not have told us its topics yet: 5 s at most)
    const topic = this.node.gossip.topic('tx')
    for (let i = 0; i < 50 && this.node.net.pubsub.getSubscribers(topic).length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 100))
    const recipients = await this.node.gossip.publish('tx', bt.bytes)
    if (recipients === 0) return { id, accepted: false, code: 'ERR_NO_CORE_PEERS', reason: 'no core node took the transaction yet: it is sent again with the next check' }
    return { id, accepted: true }
  }

  private located (txid: Uint8Array): ConfirmedTx | undefined { return this.ledger.location(txid) }

  /** Blocks from the tx's block to the tip (1 = in the tip), undefined when not proven on the best chain. */
  depth (txid: Uint8Array): number | undefined {
    const c = this.located(txid)
    return c === undefined ? undefined : this.node.headers.height - c.height + 1
  }

  mined (txid: Uint8Array): boolean { return this.located(txid) !== undefined }
  pooled (txid: Uint8Array): boolean { return this.node.pending.has(toHex(txid)) }
  location (txid: Uint8Array): ConfirmedTx | undefined { return this.located(txid) }

  /** Calls back after each check of the core nodes; returns the unsubscribe function. */
  onTip (cb: () => void): () => void { this.on('tip', cb); return () => { this.off('tip', cb) } }

  ownTx (txid: Uint8Array): Tx | undefined { return this.ledger.ownTx(txid) }
  ownTxs (): ReturnType<LightLedger['ownTxs']> { return this.ledger.ownTxs() }
  keyHistory (): TxKey[] { return this.ledger.keyHistory() }
  latestEpoch (): number { return this.ledger.latestEpoch() }
  account (): { readonly balance: number, readonly nonce: number } { return this.ledger.account() }

  status (): LightChainStatus {
    const proven = [...this.node.confirmed.values()]
    return {
      height: this.node.headers.height,
      tip: this.node.headers.tip.hex,
      pending: this.node.pending.size,
      proven: proven.length,
      peers: this.node.corePeers().length,
      liars: this.liars,
      storeBytes: this.node.headers.height * UBLOCK_HEADER_BYTES + proven.reduce((n, c) => n + 4 + encodeProvenTx(c.proven).length, 0),
      rejected: [...this.rejected.values()]
    }
  }
}

/**
 * The user's transactions as a light node knows them: proven ones (each
 * checked against the header chain) and pending ones. What the hub reads
 * of its chain in light mode, and what `healthchain chain` reads on a
 * stopped light hub's data dir (LightLedger.load).
 */
export class LightLedger {
  readonly params: NetworkParams
  readonly user: Uint8Array
  readonly headers: HeaderChain
  readonly confirmed: Map<string, ConfirmedTx>
  readonly pending: Map<string, Uint8Array>

  constructor (params: NetworkParams, user: Uint8Array, headers: HeaderChain, confirmed: Map<string, ConfirmedTx>, pending: Map<string, Uint8Array>) {
    this.params = params
    this.user = user
    this.headers = headers
    this.confirmed = confirmed
    this.pending = pending
  }

  /** The ledger saved in `dir` (`<dataDir>/light`), every header and proof checked again; null when there is none. */
  static async load (dir: string, params: NetworkParams, user: Uint8Array): Promise<LightLedger | null> {
    const bytes = await readFile(join(dir, HEADERS_FILE)).catch((err: NodeJS.ErrnoException) => { if (err.code === 'ENOENT') return null; throw err })
    if (bytes === null) return null
    const headers = HeaderChain.restore(params, new Uint8Array(bytes))
    const confirmed = new Map<string, ConfirmedTx>()
    await loadOwnTxs(dir, headers, confirmed)
    return new LightLedger(params, user, headers, confirmed, new Map())
  }

  location (txid: Uint8Array): ConfirmedTx | undefined {
    const c = this.confirmed.get(toHex(txid))
    return c !== undefined && this.headers.isOnMainChain(c.block) ? c : undefined
  }

  /** One of the user's own transactions, proven or pending. */
  ownTx (txid: Uint8Array): Tx | undefined {
    const id = toHex(txid)
    const c = this.confirmed.get(id)
    if (c !== undefined) return c.proven.tx.tx
    const p = this.pending.get(id)
    return p === undefined ? undefined : decodeTx(p)
  }

  /** Every own transaction, proven (best chain, oldest first) then pending. */
  ownTxs (): Array<{ readonly tx: Tx, readonly id: string, readonly height: number | null }> {
    const proven = [...this.confirmed.values()].filter((c) => this.headers.isOnMainChain(c.block)).sort((a, b) => a.height - b.height || a.proven.pos - b.proven.pos)
    return [
      ...proven.map((c) => ({ tx: c.proven.tx.tx, id: toHex(c.proven.tx.id), height: c.height })),
      ...[...this.pending.entries()].map(([id, bytes]) => ({ tx: decodeTx(bytes), id, height: null }))
    ]
  }

  /** The user's tx_keys, proven and pending, by epoch. */
  keyHistory (): TxKey[] {
    const keys = this.ownTxs().flatMap((t) => t.tx.kind === 'key' && equalBytes(t.tx.user, this.user) ? [t.tx] : [])
    const byEpoch = new Map<number, TxKey>()
    for (const k of keys) if (!byEpoch.has(k.epoch)) byEpoch.set(k.epoch, k)
    return [...byEpoch.values()].sort((a, b) => a.epoch - b.epoch)
  }

  /** The user's highest key epoch, proven or pending (0: none). */
  latestEpoch (): number { return this.keyHistory().reduce((m, k) => Math.max(m, k.epoch), 0) }

  /**
   * The user's Healthcoin account on the best chain, from its own proven
   * transactions: every transfer from or to it, and coinbases to it, are
   * its own (store/chain.ts txUsers).
   */
  account (): { readonly balance: number, readonly nonce: number } {
    let balance = 0
    let nonce = 0
    for (const t of this.ownTxs()) {
      if (t.height === null) continue
      const tx = t.tx
      if (tx.kind === 'coinbase' && equalBytes(tx.to, this.user)) balance += tx.amount
      if (tx.kind !== 'coin') continue
      if (equalBytes(tx.from, this.user)) { balance -= tx.amount + tx.fee; nonce++ }
      if (equalBytes(tx.to, this.user)) balance += tx.amount
    }
    return { balance, nonce }
  }

}

/** Reads `<dir>/own-txs.bin` into `confirmed`: a proof whose block left the best header chain (or a damaged file's tail) is dropped, the core nodes prove it again. */
async function loadOwnTxs (dir: string, headers: HeaderChain, confirmed: Map<string, ConfirmedTx>): Promise<void> {
  const bytes = await readFile(join(dir, OWN_TXS_FILE)).catch((err: NodeJS.ErrnoException) => { if (err.code === 'ENOENT') return null; throw err })
  if (bytes === null) return
  for (const p of decodeOwnTxs(new Uint8Array(bytes))) {
    if (checkProven(headers, p) !== 'ok') continue
    confirmed.set(toHex(p.tx.id), { proven: p, height: p.header.index, block: toHex(headers.hashAt(p.header.index)!) })
  }
}

/** The own-transactions file: each proven tx as usertxs/1 encodes it, behind its 4-byte length. */
export function encodeOwnTxs (txs: readonly ProvenTx[]): Uint8Array {
  const parts = txs.map(encodeProvenTx)
  const out = new Uint8Array(parts.reduce((n, p) => n + 4 + p.length, 0))
  const dv = new DataView(out.buffer)
  let o = 0
  for (const p of parts) { dv.setUint32(o, p.length); out.set(p, o + 4); o += 4 + p.length }
  return out
}

/** Reads the own-transactions file; a truncated or undecodable tail (a crash mid-write cannot leave one: the write is atomic) ends it. */
export function decodeOwnTxs (bytes: Uint8Array): ProvenTx[] {
  const out: ProvenTx[] = []
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  for (let o = 0; o + 4 <= bytes.length;) {
    const n = dv.getUint32(o)
    if (o + 4 + n > bytes.length) break
    try { out.push(decodeProvenTx(bytes.subarray(o + 4, o + 4 + n))) } catch { break }
    o += 4 + n
  }
  return out
}
