/**
 * The durable life of a closed ingest batch on its way to Userchain (paper
 * Alg. 2: seal, upload, tx_IoT; DESIGN §7): every step is recorded in the
 * ingest store before the next one starts, so a hub that restarts resumes
 * each batch where it was and nothing a device was acknowledged for is lost.
 *
 *   closed    the batch row (`batch!…`) — written by Ingest.flush
 *   sealed    `bsb!<batch>` holds the sealed bytes and `bst!<batch>` the
 *             stage and key epoch, both persisted before the upload: a
 *             resumed batch is uploaded with the same bytes (same CID),
 *             never sealed again (no AES-GCM nonce is ever used twice under
 *             one Ik). The bytes are written once, in their own row: each
 *             later step rewrites only the small `bst!` row, in the commit
 *             queue the readings' PUBACKs wait on
 *   uploaded  + the CID the storage nodes acknowledged
 *   tx        + the signed tx_IoT, persisted before it is submitted: a
 *             restart resubmits that very transaction, never a second one
 *             for the same batch; `accepted` once the core node took it
 *   confirmed the tx_IoT is `confirmations` blocks deep on the best chain:
 *             the batch row and its state go in one atomic LevelDB batch,
 *             then the batch's keys are destroyed (its readings, sealed
 *             under them at rest, never decrypt again: batch-keys.ts)
 *
 * A tx_IoT neither pooled nor on the best chain (evicted, dropped by a
 * reorg) is submitted again on every new tip; one the core node refuses as
 * too old (ERR_TX_TIME) is rebuilt with a fresh timestamp — every version
 * stays listed, so whichever one is mined confirms the batch.
 *
 * Every operation is idempotent and the operations on one batch are
 * serialized, so a batch handed out twice (a redeployed flow, a retry while
 * an upload hangs) is harmless.
 */
import { EventEmitter } from 'node:events'
import { bodyTx, buildTxIoT, decodeTx, encodeTx, fromHex, toHex, type Identity, type Tx, type TxIoT } from '../core/index.ts'
import { BatchStageError, BatchTxRefusedError, UnknownBatchError } from './batch-errors.ts'
import type { Ingest } from './pipeline.ts'
import type { BatchRecord } from './store.ts'

export type Stage = 'closed' | 'sealed' | 'uploaded' | 'tx' | 'accepted'

export interface BatchState {
  readonly stage: Stage
  /** sealed bytes, base64 */
  readonly sealed?: string
  readonly epoch?: number
  readonly cid?: string
  /** the current tx_IoT (hex encoding) */
  readonly tx?: string
  /** every tx_IoT id built for this batch (hex), oldest first */
  readonly txids?: readonly string[]
}

export interface OpenBatch {
  readonly batch: BatchRecord
  readonly state: BatchState
}

/** What the durable batches need of the core user node (roles/core CoreNode; nodered/wire.ts adapts it). */
export interface BatchChain {
  submit: (tx: Tx) => Promise<{ readonly accepted: boolean, readonly code?: string, readonly reason?: string }>
  /** Blocks from the tx's block to the tip (1 = in the tip) on the best chain; undefined if not there. */
  depth: (txid: Uint8Array) => number | undefined
  pooled: (txid: Uint8Array) => boolean
  /** Seconds since 1970 (tx timestamps). */
  now: () => number
  /** Calls back on every new tip; returns the unsubscribe function. */
  onTip: (cb: () => void) => () => void
}

export const stateKey = (batchId: string): string => `bst!${batchId}`
/** The row of a batch's sealed bytes (base64). */
export const sealedKey = (batchId: string): string => `bsb!${batchId}`

export interface DurableBatchesOptions {
  readonly ingest: Ingest
  readonly identity: Identity
  readonly chain: BatchChain
  /** Blocks on top of a tx_IoT's block before its batch is confirmed (default 3). */
  readonly confirmations?: number
  /** Only these ingest users' batches (the names a device may be paired with). */
  readonly users?: readonly string[]
}

export interface DurableBatchesEvents {
  /** a batch was closed, or is due again (resumed, retried) */
  open: [OpenBatch]
  /** the core node accepted a batch's tx_IoT (first time) */
  accepted: [{ readonly id: string, readonly txid: string }]
  /** a batch's tx_IoT is `confirmations` deep: the batch left the store */
  confirmed: [{ readonly id: string, readonly txid: string, readonly readings: number }]
  error: [Error]
}

export class DurableBatches extends EventEmitter<DurableBatchesEvents> {
  readonly ingest: Ingest
  readonly confirmations: number
  readonly #identity: Identity
  readonly #chain: BatchChain
  readonly #users: ReadonlySet<string> | undefined
  /** per batch: the tail of its queue of state changes */
  readonly #tails = new Map<string, Promise<unknown>>()
  #settling: Promise<unknown> = Promise.resolve()
  readonly #offs: Array<() => void> = []
  readonly #waiters = new Map<string, Array<(txid: string) => void>>()
  /**
   * The state this process recorded of each batch it closed or stepped (its
   * sealed bytes not kept), until the batch leaves the store: a step on such
   * a batch reads no row to learn where it is. This process is the store's
   * only writer of batch states and every change of one goes through #put
   * under the batch's lock, so the map never lags the store; a batch stored
   * before a restart is read from the store until its next step.
   */
  readonly #known = new Map<string, BatchState>()

  constructor (o: DurableBatchesOptions) {
    super()
    this.ingest = o.ingest
    this.#identity = o.identity
    this.#chain = o.chain
    this.#users = o.users === undefined ? undefined : new Set(o.users)
    this.confirmations = o.confirmations ?? 3
    const onBatch = (b: BatchRecord): void => {
      if (!this.#mine(b.user)) return
      const state: BatchState = { stage: 'closed' }
      this.#known.set(b.id, state)
      this.emit('open', { batch: b, state })
    }
    this.ingest.on('batch', onBatch)
    this.#offs.push(() => { this.ingest.off('batch', onBatch) })
    this.#offs.push(this.#chain.onTip(() => { this.settle().catch((e: Error) => this.emit('error', e)) }))
  }

  #mine (user: string): boolean { return this.#users === undefined || this.#users.has(user) }

  /**
   * One state change of a batch at a time. Batches do not wait for each
   * other: each step waits for its own durable write, and one queue for all
   * of them made every batch wait for every other batch's writes (the group
   * commits the readings' PUBACKs wait on too).
   */
  async #one<T> (id: string, fn: () => Promise<T>): Promise<T> {
    const run = (this.#tails.get(id) ?? Promise.resolve()).then(fn, fn)
    const tail = run.catch(() => {})
    this.#tails.set(id, tail)
    void tail.then(() => { if (this.#tails.get(id) === tail) this.#tails.delete(id) })
    return await run
  }

  /** The recorded stage of a stored batch (a batch with none is closed); with `sealed`, its sealed bytes too. */
  async #stored (id: string, sealed = false): Promise<BatchState> {
    const state = this.#known.get(id) ?? await this.ingest.store.get<BatchState>(stateKey(id)) ?? { stage: 'closed' }
    // a state recorded with its bytes inline (as a hub stored them before they had their own row) carries them already
    if (!sealed || state.stage === 'closed' || state.sealed !== undefined) return state
    const bytes = await this.ingest.store.get<string>(sealedKey(id))
    return bytes === undefined ? state : { ...state, sealed: bytes }
  }

  /**
   * A batch's state, its readings not read (they are sealed at rest: a step
   * needs only where the batch is) and, unless `sealed`, its sealed bytes
   * not read either; undefined once it is gone.
   */
  async stateOf (id: string, opts: { sealed?: boolean } = {}): Promise<BatchState | undefined> {
    return this.#known.has(id) || await this.ingest.hasBatch(id) ? await this.#stored(id, opts.sealed) : undefined
  }

  async #state (id: string): Promise<BatchState> {
    const state = await this.stateOf(id)
    if (state === undefined) throw new UnknownBatchError(id)
    return state
  }

  /** One batch not yet confirmed, with its readings and state (its sealed bytes included); undefined once it is gone. */
  async get (id: string): Promise<OpenBatch | undefined> {
    const batch = await this.ingest.batch(id)
    if (batch === undefined || !this.#mine(batch.user)) return undefined
    return { batch, state: await this.#stored(id, true) }
  }

  /** Records the state; sealed bytes it carries go to their own row, in the same atomic write. */
  async #put (id: string, state: BatchState): Promise<void> {
    const { sealed, ...rest } = state
    await this.ingest.store.write([
      { type: 'put', key: stateKey(id), value: JSON.stringify(rest) },
      ...(sealed === undefined ? [] : [{ type: 'put' as const, key: sealedKey(id), value: JSON.stringify(sealed) }])
    ])
    this.#known.set(id, rest)
  }

  /** Every batch not yet confirmed, oldest first, with its state (its sealed bytes not read). */
  async open (): Promise<OpenBatch[]> {
    const out: OpenBatch[] = []
    for (const b of await this.ingest.batches()) {
      if (!this.#mine(b.user)) continue
      out.push({ batch: b, state: await this.#stored(b.id) })
    }
    return out
  }

  /** Every batch not yet confirmed with its state, oldest first, its readings not read (they are sealed at rest). */
  async states (): Promise<Array<{ readonly id: string, readonly state: BatchState }>> {
    const out: Array<{ id: string, state: BatchState }> = []
    for (const id of await this.ingest.batchIds()) {
      if (!this.#mine(id.split('!')[1]!)) continue
      out.push({ id, state: await this.#stored(id) })
    }
    return out
  }

  /** Batches by stage (status, page, API). */
  async counts (): Promise<Record<Stage, number>> {
    const n: Record<Stage, number> = { closed: 0, sealed: 0, uploaded: 0, tx: 0, accepted: 0 }
    for (const o of await this.states()) n[o.state.stage]++
    return n
  }

  /** Closes the pending readings of this hub's users into batches now (resolves once they are durable). */
  async close (): Promise<number> {
    let n = 0
    for (const user of this.#users ?? []) if (await this.ingest.flush(user, 'manual') !== null) n++
    return n
  }

  /**
   * Records the batch's sealed bytes before they leave the hub. A batch
   * sealed before keeps its first bytes: those are returned, and the new
   * ones (a second nonce) are discarded unused.
   */
  async sealed (id: string, sealed: Uint8Array, epoch: number): Promise<{ readonly sealed: Uint8Array, readonly epoch: number }> {
    return await this.#one(id, async () => {
      const state = await this.#state(id)
      if (state.stage !== 'closed') {
        const first = (await this.#stored(id, true)).sealed
        if (first === undefined) throw new BatchStageError(id, 'sealing', `${state.stage} without its sealed bytes`)
        return { sealed: new Uint8Array(Buffer.from(first, 'base64')), epoch: state.epoch! }
      }
      await this.#put(id, { stage: 'sealed', sealed: Buffer.from(sealed).toString('base64'), epoch })
      return { sealed, epoch }
    })
  }

  /** Records the CID the storage nodes acknowledged. */
  async uploaded (id: string, cid: string): Promise<void> {
    await this.#one(id, async () => {
      const state = await this.#state(id)
      if (state.stage === 'closed') throw new BatchStageError(id, 'sealing', state.stage)
      if (state.stage === 'sealed') await this.#put(id, { ...state, stage: 'uploaded', cid })
    })
  }

  /**
   * The batch's tx_IoT naming `heiot`: built, signed and persisted before it
   * is submitted; a batch recorded before resubmits its stored transaction.
   */
  async record (id: string, heiot: Uint8Array, epoch: number): Promise<{ readonly id: string, readonly tx: TxIoT }> {
    return await this.#one(id, async () => {
      const state = await this.#state(id)
      if (state.stage === 'closed' || state.stage === 'sealed') throw new BatchStageError(id, 'uploading', state.stage)
      let s = state
      if (s.tx === undefined) s = await this.#build(id, s, heiot, epoch)
      return await this.#submit(id, s)
    })
  }

  async #build (id: string, s: BatchState, heiot: Uint8Array, epoch: number): Promise<BatchState> {
    const tx = buildTxIoT(this.#identity, { ts: this.#chain.now(), heiot, epoch })
    const next: BatchState = { ...s, stage: 'tx', tx: toHex(encodeTx(tx)), txids: [...s.txids ?? [], toHex(bodyTx(tx).id)] }
    await this.#put(id, next)
    return next
  }

  async #submit (id: string, s: BatchState): Promise<{ readonly id: string, readonly tx: TxIoT }> {
    let state = s
    let tx = decodeTx(fromHex('tx', state.tx!)) as TxIoT
    let txid = bodyTx(tx).id
    if (this.#chain.depth(txid) === undefined && !this.#chain.pooled(txid)) {
      let r = await this.#chain.submit(tx)
      if (!r.accepted && r.code === 'ERR_TX_TIME' && this.#chain.depth(txid) === undefined && !this.#chain.pooled(txid)) {
        // expired unmined: the same batch under a fresh timestamp
        state = await this.#build(id, state, tx.heiot, tx.epoch)
        tx = decodeTx(fromHex('tx', state.tx!)) as TxIoT
        txid = bodyTx(tx).id
        r = await this.#chain.submit(tx)
      }
      if (!r.accepted && this.#chain.depth(txid) === undefined && !this.#chain.pooled(txid)) {
        throw new BatchTxRefusedError(toHex(txid), r.code ?? 'ERR_TX_REJECTED', r.reason ?? 'refused')
      }
    }
    if (state.stage !== 'accepted') {
      await this.#put(id, { ...state, stage: 'accepted' })
      this.emit('accepted', { id, txid: toHex(txid) })
    }
    return { id: toHex(txid), tx }
  }

  /** Resolves with the tx_IoT id once the batch is confirmed. */
  async whenConfirmed (id: string): Promise<string> {
    await this.#state(id)
    return await new Promise((resolve) => {
      const ws = this.#waiters.get(id) ?? []
      ws.push(resolve)
      this.#waiters.set(id, ws)
    })
  }

  /**
   * After each tip: a batch whose tx_IoT is deep enough leaves the store; a
   * tx_IoT the mempool lost is submitted again.
   */
  async settle (): Promise<void> {
    const run = this.#settling.then(async () => { await this.#settle() })
    this.#settling = run.catch(() => {})
    await run
  }

  /** One settle pass (settles run one after another); each batch under its own lock, its state read again there. */
  async #settle (): Promise<void> {
    for (const { id, state: listed } of await this.states()) {
      if (listed.tx === undefined) continue
      await this.#one(id, async () => {
        const state = await this.stateOf(id)
        if (state?.tx === undefined) return
        const deep = (state.txids ?? []).find((t) => (this.#chain.depth(fromHex('txid', t)) ?? 0) >= this.confirmations)
        if (deep !== undefined) {
          const readings = (await this.ingest.batch(id))?.readings.length ?? 0
          // the rows in one atomic write, then the batch's keys (Ingest.deleteBatch: its readings never decrypt again)
          try {
            await this.ingest.deleteBatch(id, [{ type: 'del', key: stateKey(id) }, { type: 'del', key: sealedKey(id) }])
          } finally {
            // gone, or (the write failed) to be read from the store again
            this.#known.delete(id)
          }
          this.emit('confirmed', { id, txid: deep, readings })
          for (const w of this.#waiters.get(id) ?? []) w(deep)
          this.#waiters.delete(id)
          return
        }
        if ((state.txids ?? []).some((t) => this.#chain.depth(fromHex('txid', t)) !== undefined)) return
        try { await this.#submit(id, state) } catch (err) { this.emit('error', err as Error) }
      })
    }
  }

  stop (): void { for (const off of this.#offs.splice(0)) off() }
}
