/**
 * The core user node (paper §III-A "core user node keeps the full Userchain,
 * verifies user transactions, mines Ublocks and earns Healthcoin"; §IV-B3,
 * Alg. 1): chain store + mempool + signature pool, with one entry point for
 * transactions and one for blocks. Bad input never throws out of
 * submitTx/submitBlock: it is rejected with a reason and counted by code.
 *
 * Events: 'tip' (BlockEntry) when the best chain moves — the miner restarts
 * on it (Alg. 1 line 8); 'block' (AddResult); 'tx' (hex id) on admission;
 * 'drop' (Dropped) when the mempool lets a transaction go.
 */
import { EventEmitter } from 'node:events'
import {
  assertProofOfWork, BadSignatureError, bodyTx, checkUblockHeader, decodeTx, decodeUblock, decodeUblockHeader, encodeTx, HealthchainError, LimitExceededError, MAX_BLOCK_BODY_BYTES,
  MAX_TX_BYTES, toHex, TruncatedError, txId, UBLOCK_HEADER_BYTES, ublockHash, ublockTemplate, medianTimePast,
  type BodyTx, type NetworkParams, type Tx, type Ublock, type UblockHeader
} from '../../core/index.ts'
import { ChainStore, type AddResult, type ChainStoreOptions } from '../../store/chain.ts'
import { Mempool, type Dropped } from '../../store/mempool.ts'
import { checkBlock, checkSignatures, VerifiedSet } from './validation.ts'
import { TxVerifyQueue, VerifyPool } from './verify-pool.ts'
import { RelayPolicy, type RelayPolicyOptions } from './relay-policy.ts'
import { FairQueue, type FairQueueOptions } from '../../net/fair-queue.ts'
import { PeerBannedError } from '../../net/errors.ts'

export interface CoreNodeOptions extends ChainStoreOptions {
  readonly dir: string
  readonly params: NetworkParams
  /** Mempool bound in bytes (default 8 MiB). */
  readonly mempoolBytes?: number
  /** Signature worker threads (default: all cores). */
  readonly verifyThreads?: number
  /** The node's clock in seconds (tests pass a fixed one). */
  readonly now?: () => number
  /** What the node takes from peers (relay-policy.ts; defaults per network). */
  readonly relay?: RelayPolicyOptions
  /** How relayed transactions wait for validation, per peer (net/fair-queue.ts; defaults there). */
  readonly admission?: FairQueueOptions
}

export type TxOutcome = { readonly id: string, readonly accepted: true, readonly evicted: readonly Dropped[] } | { readonly id: string, readonly accepted: false, readonly code: string, readonly reason: string }
export type BlockOutcome = (AddResult & { readonly accepted: true }) | { readonly hash: string, readonly accepted: false, readonly code: string, readonly reason: string }

/**
 * What a relayed tx the node refuses for its own sake (undecodable, relay
 * policy, bad signature) costs its peer's share of the next validation
 * rounds, on top of its size: a flood of cheap refusals gets a quarter of
 * what a peer sending valid txs gets.
 */
const REFUSED_CHARGE = 3

function codeOf (err: unknown): string {
  return err instanceof HealthchainError ? err.code : 'ERR_INTERNAL'
}

export class CoreNode extends EventEmitter {
  readonly store: ChainStore
  readonly mempool: Mempool
  readonly pool: VerifyPool
  /** Batches the signature checks of concurrently submitted transactions onto the pool. */
  readonly sigQueue: TxVerifyQueue
  readonly params: NetworkParams
  readonly verified = new VerifiedSet()
  /** Rejections by error code, e.g. { ERR_POW: 2, ERR_NONCE: 1 }. */
  readonly rejected: Record<string, number> = {}
  readonly now: () => number
  readonly relay: RelayPolicy
  /** Relayed transactions wait here, one queue per peer, served in turn (the node's own never wait). */
  readonly admission: FairQueue
  private queue: Promise<unknown> = Promise.resolve()
  private evictedAt = 0

  private constructor (store: ChainStore, opts: CoreNodeOptions) {
    super()
    this.store = store
    this.params = opts.params
    this.mempool = new Mempool(store, opts.mempoolBytes !== undefined ? { maxBytes: opts.mempoolBytes } : {})
    this.pool = new VerifyPool(opts.verifyThreads !== undefined ? { threads: opts.verifyThreads } : {})
    this.sigQueue = new TxVerifyQueue(this.pool)
    this.now = opts.now ?? (() => Math.floor(Date.now() / 1000))
    this.relay = new RelayPolicy(opts.relay, opts.params.name)
    this.admission = new FairQueue(opts.admission)
  }

  static async open (opts: CoreNodeOptions): Promise<CoreNode> {
    const store = await ChainStore.open(opts.dir, opts.params, opts)
    const node = new CoreNode(store, opts)
    for (const d of await node.mempool.load(node.now())) node.emit('drop', d)
    for (const e of node.mempool.list()) node.verified.add(e.bt.id)
    return node
  }

  async close (): Promise<void> {
    await this.admission.close()
    await this.queue.catch(() => {})
    await this.mempool.flush()
    await this.pool.close()
    await this.store.close()
  }

  private count (code: string): void { this.rejected[code] = (this.rejected[code] ?? 0) + 1 }

  /** Serializes state changes: a block and a transaction never interleave. */
  private async serial<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn)
    this.queue = run.catch(() => {})
    return await run
  }

  /**
   * Admits a user transaction (bytes from the network, or a built Tx) into
   * the mempool. `peer`: the peer that relayed it — its size is checked on
   * arrival, then it waits its turn in the peer's queue (`admission`: one
   * peer's flood does not hold up the others), then the relay policy applies
   * (the peer's rate before anything is decoded, then stamp, quotas and
   * share before the signature); without one it is the node's own and is
   * checked at once. `banned` (the network's verdict on the peer), asked at
   * its turn: a banned peer's tx is dropped unread.
   */
  async submitTx (input: Uint8Array | Tx, peer?: string, banned?: () => boolean): Promise<TxOutcome> {
    if (peer === undefined) return await this.admit(input)
    const bytes = input instanceof Uint8Array ? input : encodeTx(input)
    try {
      if (bytes.length > MAX_TX_BYTES) throw new LimitExceededError('tx', MAX_TX_BYTES, bytes.length)
      return await this.admission.run(peer, bytes.length, async () => {
        if (banned?.() === true) throw new PeerBannedError(peer)
        const limited = this.relay.checkPeer(peer, Date.now())
        if (limited !== null) { this.chargeRefusal(peer, bytes); throw limited }
        return await this.admit(bytes, peer)
      })
    } catch (err) {
      this.count(codeOf(err))
      return { id: toHex(txId(bytes)), accepted: false, code: codeOf(err), reason: (err as Error).message }
    }
  }

  /** A transaction's turn: decode, relay policy (when relayed), signature, mempool. */
  private async admit (input: Uint8Array | Tx, peer?: string): Promise<TxOutcome> {
    let bt: BodyTx
    try {
      bt = input instanceof Uint8Array ? { tx: decodeTx(input), bytes: input, id: txId(input) } : bodyTx(input)
      if (peer !== undefined) {
        this.evictOld()
        const refused = this.relay.check(bt, { latestEpoch: (u) => this.mempool.view.latestEpoch(u), pendingKeys: (u) => this.mempool.pendingKeys(u), relayBytes: this.mempool.relayBytes, maxBytes: this.mempool.maxBytes }, this.now())
        if (refused !== null) throw refused
      }
    } catch (err) {
      this.count(codeOf(err))
      if (peer !== undefined && input instanceof Uint8Array) this.chargeRefusal(peer, input)
      const id = input instanceof Uint8Array ? toHex(txId(input)) : '?'
      return { id, accepted: false, code: codeOf(err), reason: (err as Error).message }
    }
    const id = toHex(bt.id)
    let taken = false
    try {
      if (!this.verified.has(bt.id)) {
        if (!await this.sigQueue.verify(bt)) {
          if (peer !== undefined) this.chargeRefusal(peer, bt.bytes)
          throw new BadSignatureError('tx.sig')
        }
        this.verified.add(bt.id)
      }
      const evicted = await this.serial(async () => this.mempool.add(bt, this.now(), peer))
      taken = true
      this.emit('tx', id)
      for (const d of evicted) this.emit('drop', d)
      return { id, accepted: true, evicted }
    } catch (err) {
      this.count(codeOf(err))
      return { id, accepted: false, code: codeOf(err), reason: (err as Error).message }
    } finally {
      if (peer !== undefined) this.relay.settle(bt, taken)
    }
  }

  /**
   * Validates and stores a Ublock, moving to the best chain; the mempool
   * follows. Cheapest first, so a block costs a sender work before it costs
   * us any (DESIGN §6): size, then the header alone — its proof of work
   * against its own target, then linkage, required target and timestamp
   * against its parent — before the body is decoded or a signature checked.
   * `decoded`: the decoding of `input` the caller already holds (a compact
   * block rebuilt from the mempool, whose transactions are decoded and
   * hashed already); the header is still checked on the bytes.
   */
  async submitBlock (input: Uint8Array | Ublock, decoded?: Ublock): Promise<BlockOutcome> {
    let block: Ublock
    let hash = '?'
    try {
      const header = input instanceof Uint8Array ? this.checkHeaderFirst(input) : input.header
      hash = toHex(ublockHash(header))
      block = input instanceof Uint8Array ? decoded ?? decodeUblock(input) : input
    } catch (err) {
      this.count(codeOf(err))
      return { hash, accepted: false, code: codeOf(err), reason: (err as Error).message }
    }
    try {
      const r = await this.serial(async () => {
        const known = this.store.entry(hash)
        if (known !== undefined) {
          return await this.store.addBlock(block) // reports duplicate / invalid
        }
        // Signatures verify on the worker threads while this thread checks
        // structure, header and state rules; nothing is written before they pass.
        const sigs = checkSignatures(block.txs, this.pool, this.verified)
        sigs.catch(() => {})
        checkBlock(this.store, block, this.now())
        const res = await this.store.addBlock(block, input instanceof Uint8Array ? input : undefined, { gate: sigs })
        if (res.tipChanged) {
          const returned = res.disconnected.flatMap((b) => b.txs.slice(1))
          const confirmed = res.connected.flatMap((b) => b.txs.slice(1))
          for (const d of this.mempool.rebuild(returned, this.now(), confirmed)) this.emit('drop', d)
        }
        return res
      })
      if (r.status === 'invalid') this.count('ERR_INVALID_BLOCK')
      this.emit('block', r)
      if (r.tipChanged) this.emit('tip', this.store.tip)
      return { ...r, accepted: true }
    } catch (err) {
      this.count(codeOf(err))
      return { hash, accepted: false, code: codeOf(err), reason: (err as Error).message }
    }
  }

  /** A relayed tx refused for its own sake costs its peer more of the next rounds (REFUSED_CHARGE). */
  private chargeRefusal (peer: string, bytes: Uint8Array): void {
    this.admission.charge(peer, REFUSED_CHARGE * Math.max(this.admission.minCost, bytes.length))
  }

  /** Relayed entries past the policy's age leave the pool (looked at once a minute at most). */
  private evictOld (): void {
    const now = this.now()
    if (now - this.evictedAt < 60 && this.evictedAt !== 0) return
    this.evictedAt = now
    for (const d of this.mempool.evictRelayed(now - this.relay.maxAgeSeconds)) this.emit('drop', d)
  }

  /**
   * Size and header of an encoded Ublock, checked before anything else is
   * decoded: proof of work (context-free), then — unless the block is known
   * or an orphan, which the store reports — the header in its parent's
   * context (index, prehash, required target, gtime window).
   */
  private checkHeaderFirst (bytes: Uint8Array): UblockHeader {
    if (bytes.length > UBLOCK_HEADER_BYTES + MAX_BLOCK_BODY_BYTES) throw new LimitExceededError('block', UBLOCK_HEADER_BYTES + MAX_BLOCK_BODY_BYTES, bytes.length)
    if (bytes.length < UBLOCK_HEADER_BYTES) throw new TruncatedError('header', UBLOCK_HEADER_BYTES - bytes.length, bytes.length)
    const raw = bytes.subarray(0, UBLOCK_HEADER_BYTES)
    const header = decodeUblockHeader(raw)
    const hash = ublockHash(raw)
    assertProofOfWork(hash, header.bits, this.params)
    if (this.store.entry(hash) === undefined && this.store.entry(header.prehash) !== undefined) {
      checkUblockHeader(this.params, header, this.store.headerContext(header.prehash, this.now()))
    }
    return header
  }

  /** A block template on the tip (Alg. 1 lines 1–4): coinbase to `miner`, mempool txs by fee rate then arrival. */
  template (miner: Uint8Array, now = this.now()): Ublock {
    const tip = this.store.tip
    const mtp = medianTimePast(this.store.recentTimes(tip))
    for (const d of this.mempool.expire(now)) this.emit('drop', d)
    const gtime = Math.max(now, mtp + 1)
    const txs = this.mempool.select(MAX_BLOCK_BODY_BYTES - 256, gtime)
    let fees = 0
    for (const t of txs) if (t.tx.kind === 'coin') fees += t.tx.fee
    return ublockTemplate({
      prev: tip.header,
      prevHash: tip.hash,
      gtime,
      bits: this.store.nextBitsAfter(tip),
      miner,
      reward: this.params.blockReward + fees,
      txs: txs.map((t) => t.tx)
    })
  }
}
