/**
 * Signature checks across all cores (issue: "signature checks run in worker
 * threads across all cores"). A batch of transactions is split into one
 * slice per worker; each answers with its first failing index. Small batches
 * run inline, where a worker round trip would cost more than it saves.
 */
import { Worker } from 'node:worker_threads'
import { availableParallelism } from 'node:os'
import { txSigner, txSigningMessage, verify, type BodyTx } from '../../core/index.ts'

/** Chunks per worker in a big batch, and the smallest chunk worth a message. */
const CHUNKS_PER_WORKER = 8
const CHUNK_MIN = 128

export type SigItem = [pub: Uint8Array, msg: Uint8Array, sig: Uint8Array]

/** The (public key, message, signature) of a transaction, or null for the unsigned coinbase. */
export function sigItem (t: BodyTx): SigItem | null {
  const msg = txSigningMessage(t.tx)
  return msg === null ? null : [txSigner(t.tx)!, msg, t.tx.sig]
}

/** Transactions as one buffer and their end offsets (one copy, cheap to post). */
function packTxs (slice: readonly BodyTx[]): { txs: Uint8Array, ends: Uint32Array } {
  const ends = new Uint32Array(slice.length)
  let n = 0
  slice.forEach((t, i) => { n += t.bytes.length; ends[i] = n })
  const buf = new Uint8Array(n)
  slice.forEach((t, i) => buf.set(t.bytes, i === 0 ? 0 : ends[i - 1]!))
  return { txs: buf, ends }
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
    if (items.length < this.inlineBelow) {
      for (let i = 0; i < items.length; i++) if (!verify(...items[i]!)) return i
      return -1
    }
    return await this.firstOf(items.length, (from, to) => ({ items: items.slice(from, to) }))
  }

  /**
   * Index of the first transaction whose signature fails, or -1. Big batches
   * go to the workers as raw bytes: each worker decodes and rebuilds the
   * signing messages of its slice, so the main thread does almost nothing.
   */
  async firstInvalidTx (txs: readonly BodyTx[]): Promise<number> {
    if (txs.length < this.inlineBelow) {
      for (let i = 0; i < txs.length; i++) {
        const item = sigItem(txs[i]!)
        if (item !== null && !verify(...item)) return i
      }
      return -1
    }
    return await this.firstOf(txs.length, (from, to) => packTxs(txs.slice(from, to)))
  }

  /** Every index whose signature fails (for independent transactions, e.g. a burst into the mempool). */
  async invalidTxs (txs: readonly BodyTx[]): Promise<number[]> {
    if (txs.length < this.inlineBelow) {
      const out: number[] = []
      txs.forEach((t, i) => { const item = sigItem(t); if (item !== null && !verify(...item)) out.push(i) })
      return out
    }
    const out: number[] = []
    await this.scatter(txs.length, (from, to) => ({ all: true, ...packTxs(txs.slice(from, to)) }), (from, _bad, all) => {
      for (const i of all ?? []) out.push(from + i)
    })
    return out.sort((a, b) => a - b)
  }

  /**
   * Splits [0, n) into chunks handed to whichever worker is free, so a core
   * shared with other work (the main thread checking the same block) does
   * less and no worker waits for a slower one at the end; `done` gets each
   * chunk's answer with its start offset; no chunk starts at or after `stopAt()`.
   */
  private async scatter (n: number, job: (from: number, to: number) => object, done: (from: number, bad: number, all?: number[]) => void, stopAt = (): number => n): Promise<void> {
    this.ensureWorkers()
    const chunk = Math.max(CHUNK_MIN, Math.ceil(n / (this.workers.length * CHUNKS_PER_WORKER)))
    let next = 0
    let failed = false
    await Promise.all(this.workers.map(async (w) => {
      while (next < Math.min(n, stopAt()) && !failed) {
        const from = next
        const to = Math.min(n, from + chunk)
        next = to
        const id = this.nextId++
        const msg = { id, ...job(from, to) }
        const [bad, all] = await new Promise<[number, number[] | undefined]>((resolve) => {
          this.waiting.set(id, (b, a) => resolve([b, a]))
          w.postMessage(msg)
        })
        if (bad === -2) { failed = true; break }
        done(from, bad, all)
      }
    }))
    if (failed) throw new Error('a signature worker failed')
  }

  /** The first failing index of a scatter, or -1. */
  private async firstOf (n: number, job: (from: number, to: number) => object): Promise<number> {
    let first = -1
    // once a failure is known, chunks after it need not run
    await this.scatter(n, job, (from, bad) => { if (bad >= 0 && (first < 0 || from + bad < first)) first = from + bad }, () => first < 0 ? n : first)
    return first
  }

  async close (): Promise<void> {
    await Promise.all(this.workers.map(async (w) => await w.terminate()))
    this.workers.length = 0
  }
}
