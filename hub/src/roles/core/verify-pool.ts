/**
 * Signature checks across all cores (issue: "signature checks run in worker
 * threads across all cores"). A batch of transactions is copied once into
 * shared memory and every worker takes chunks of it from a shared counter
 * until none is left, so the workers never wait for the calling thread (busy
 * with the rest of block validation) and a worker sharing its core with it
 * simply takes fewer chunks. Small batches run inline, where a worker round
 * trip would cost more than it saves.
 */
import { Worker } from 'node:worker_threads'
import { availableParallelism } from 'node:os'
import { txSigner, txSigningMessage, verify, type BodyTx } from '../../core/index.ts'

/** Chunks per worker in a big batch, and the smallest chunk worth a message. */
const CHUNKS_PER_WORKER = 8
const CHUNK_MIN = 128
/** Transactions per take from a shared batch: an atomic add each, so small chunks keep the workers even to the end. */
const SHARED_CHUNK = 32

export type SigItem = [pub: Uint8Array, msg: Uint8Array, sig: Uint8Array]

/** The (public key, message, signature) of a transaction, or null for the unsigned coinbase. */
export function sigItem (t: BodyTx): SigItem | null {
  const msg = txSigningMessage(t.tx)
  return msg === null ? null : [txSigner(t.tx)!, msg, t.tx.sig]
}

/** A batch of transactions in shared memory: tx i is data[starts[i], ends[i]). */
export interface PackedTxs { readonly data: Uint8Array, readonly starts: Uint32Array, readonly ends: Uint32Array }

/**
 * Copies transactions into shared memory once, for every worker to read. A
 * decoded block's transactions are views of its bytes in order: then the
 * span holding them all is copied at once, not each transaction.
 */
export function packTxs (txs: readonly BodyTx[]): PackedTxs {
  const n = txs.length
  const starts = new Uint32Array(new SharedArrayBuffer(4 * n))
  const ends = new Uint32Array(new SharedArrayBuffer(4 * n))
  const first = txs[0]!.bytes
  let inOrder = true
  let total = 0
  for (let i = 0; i < n; i++) {
    const b = txs[i]!.bytes
    total += b.length
    const at = b.byteOffset - first.byteOffset
    if (b.buffer !== first.buffer || (i > 0 && at < ends[i - 1]!)) inOrder = false
    starts[i] = at
    ends[i] = at + b.length
  }
  if (inOrder && ends[n - 1]! <= 2 * total) {
    const data = new Uint8Array(new SharedArrayBuffer(ends[n - 1]!))
    data.set(new Uint8Array(first.buffer, first.byteOffset, data.length))
    return { data, starts, ends }
  }
  const data = new Uint8Array(new SharedArrayBuffer(total))
  let o = 0
  for (let i = 0; i < n; i++) {
    const b = txs[i]!.bytes
    data.set(b, o)
    starts[i] = o
    o += b.length
    ends[i] = o
  }
  return { data, starts, ends }
}

/**
 * Gathers the signature checks asked for in one turn of the event loop and
 * runs them as one batch: a burst of transactions (gossip) is verified on
 * all cores, a lone one inline.
 */
export class TxVerifyQueue {
  private readonly pool: VerifyPool
  private queue: Array<{ t: BodyTx, done: (ok: boolean) => void, fail: (err: unknown) => void }> = []
  private scheduled = false

  constructor (pool: VerifyPool) { this.pool = pool }

  async verify (t: BodyTx): Promise<boolean> {
    return await new Promise<boolean>((resolve, reject) => {
      this.queue.push({ t, done: resolve, fail: reject })
      if (!this.scheduled) { this.scheduled = true; setImmediate(() => { void this.flush() }) }
    })
  }

  private async flush (): Promise<void> {
    const batch = this.queue
    this.queue = []
    this.scheduled = false
    try {
      const bad = new Set(await this.pool.invalidTxs(batch.map((b) => b.t)))
      batch.forEach((b, i) => { b.done(!bad.has(i)) })
    } catch (err) {
      for (const b of batch) b.fail(err)
    }
  }
}

export class VerifyPool {
  readonly threads: number
  /** Batches smaller than this are verified on the calling thread. */
  readonly inlineBelow: number
  private readonly workers: Worker[] = []
  private readonly waiting = new Map<number, (bad: number, all?: number[]) => void>()
  private nextId = 0
  /** Signatures handed to this pool to check (the cost a peer can make us pay: counted for tests and operators). */
  requested = 0

  constructor (opts: { threads?: number, inlineBelow?: number } = {}) {
    this.threads = Math.max(1, opts.threads ?? availableParallelism())
    this.inlineBelow = opts.inlineBelow ?? 64
  }

  private ensureWorkers (): void {
    if (this.workers.length > 0) return
    for (let i = 0; i < this.threads; i++) {
      const w = new Worker(new URL('./verify-worker.ts', import.meta.url))
      w.on('message', (m: { id: number, bad: number, all?: number[] }) => {
        const done = this.waiting.get(m.id)
        this.waiting.delete(m.id)
        done?.(m.bad, m.all)
      })
      w.on('error', (err) => { for (const done of this.waiting.values()) done(-2); this.waiting.clear(); void err })
      this.workers.push(w)
    }
  }

  /** Index of the first item whose signature fails, or -1 when all verify. */
  async firstInvalid (items: readonly SigItem[]): Promise<number> {
    this.requested += items.length
    if (items.length < this.inlineBelow) {
      for (let i = 0; i < items.length; i++) if (!verify(...items[i]!)) return i
      return -1
    }
    return await this.firstOfItems(items)
  }

  /** Index of the first transaction whose signature fails, or -1. */
  async firstInvalidTx (txs: readonly BodyTx[]): Promise<number> {
    this.requested += txs.length
    if (txs.length < this.inlineBelow) {
      for (let i = 0; i < txs.length; i++) {
        const item = sigItem(txs[i]!)
        if (item !== null && !verify(...item)) return i
      }
      return -1
    }
    const { first } = await this.shared(txs, false)
    return first
  }

  /** Every index whose signature fails (for independent transactions, e.g. a burst into the mempool). */
  async invalidTxs (txs: readonly BodyTx[]): Promise<number[]> {
    this.requested += txs.length
    if (txs.length < this.inlineBelow) {
      const out: number[] = []
      txs.forEach((t, i) => { const item = sigItem(t); if (item !== null && !verify(...item)) out.push(i) })
      return out
    }
    const { all } = await this.shared(txs, true)
    return all.sort((a, b) => a - b)
  }

  /**
   * Hands the whole batch to every worker as raw bytes in shared memory
   * (./verify-worker.ts decodes and rebuilds each signing message itself);
   * the workers take chunks from a shared counter (`ctl[0]`) and lower the
   * first failing index (`ctl[1]`, n while none) — without `all`, no chunk
   * starts after a known failure.
   */
  private async shared (txs: readonly BodyTx[], all: boolean): Promise<{ first: number, all: number[] }> {
    this.ensureWorkers()
    const n = txs.length
    const ctl = new Int32Array(new SharedArrayBuffer(8))
    ctl[1] = n
    const job = { ...packTxs(txs), ctl, chunk: SHARED_CHUNK, all }
    const out: number[] = []
    let failed = false
    await Promise.all(this.workers.map(async (w) => {
      const [bad, found] = await this.post(w, job)
      if (bad === -2) failed = true
      else out.push(...(found ?? []))
    }))
    if (failed) throw new Error('a signature worker failed')
    const first = Atomics.load(ctl, 1)
    return { first: first === n ? -1 : first, all: out }
  }

  /**
   * Prepared triples (not laid out for sharing): chunks posted to whichever
   * worker is free; once a failure is known, no chunk starts after it.
   */
  private async firstOfItems (items: readonly SigItem[]): Promise<number> {
    this.ensureWorkers()
    const n = items.length
    const chunk = Math.max(CHUNK_MIN, Math.ceil(n / (this.workers.length * CHUNKS_PER_WORKER)))
    let next = 0
    let first = -1
    let failed = false
    await Promise.all(this.workers.map(async (w) => {
      while (next < (first < 0 ? n : first) && !failed) {
        const from = next
        const to = Math.min(n, from + chunk)
        next = to
        const [bad] = await this.post(w, { items: items.slice(from, to) })
        if (bad === -2) { failed = true; break }
        if (bad >= 0 && (first < 0 || from + bad < first)) first = from + bad
      }
    }))
    if (failed) throw new Error('a signature worker failed')
    return first
  }

  /** One job to one worker: its first failing index (-2 when the worker died) and, if asked, all of them. */
  private async post (w: Worker, job: object): Promise<[bad: number, all: number[] | undefined]> {
    const id = this.nextId++
    return await new Promise((resolve) => {
      this.waiting.set(id, (b, a) => resolve([b, a]))
      w.postMessage({ id, ...job })
    })
  }

  async close (): Promise<void> {
    await Promise.all(this.workers.map(async (w) => await w.terminate()))
    this.workers.length = 0
  }
}
