/**
 * Signature checks across all cores (issue: "signature checks run in worker
 * threads across all cores"). A batch of transactions is split into one
 * slice per worker; each answers with its first failing index. Small batches
 * run inline, where a worker round trip would cost more than it saves.
 */
import { Worker } from 'node:worker_threads'
import { availableParallelism } from 'node:os'
import { txSigner, txSigningMessage, verify, type BodyTx } from '../../core/index.ts'

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
    return await this.scatter(items.length, (from, to) => ({ items: items.slice(from, to) }))
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
    return await this.scatter(txs.length, (from, to) => packTxs(txs.slice(from, to)))
  }

  /** Every index whose signature fails (for independent transactions, e.g. a burst into the mempool). */
  async invalidTxs (txs: readonly BodyTx[]): Promise<number[]> {
    if (txs.length < this.inlineBelow) {
      const out: number[] = []
      txs.forEach((t, i) => { const item = sigItem(t); if (item !== null && !verify(...item)) out.push(i) })
      return out
    }
    this.ensureWorkers()
    const per = Math.ceil(txs.length / this.workers.length)
    const jobs: Array<Promise<number[]>> = []
    for (let w = 0; w < this.workers.length && w * per < txs.length; w++) {
      const id = this.nextId++
      const msg = { id, all: true, ...packTxs(txs.slice(w * per, (w + 1) * per)) }
      jobs.push(new Promise<number[]>((resolve, reject) => {
        this.waiting.set(id, (bad, all) => { if (bad === -2) reject(new Error('a signature worker failed')); else resolve((all ?? []).map((i) => w * per + i)) })
        this.workers[w]!.postMessage(msg)
      }))
    }
    return (await Promise.all(jobs)).flat()
  }

  /** Splits [0, n) into one slice per worker; returns the first failing index overall. */
  private async scatter (n: number, job: (from: number, to: number) => object): Promise<number> {
    this.ensureWorkers()
    const per = Math.ceil(n / this.workers.length)
    const jobs: Array<Promise<number>> = []
    for (let w = 0; w < this.workers.length && w * per < n; w++) {
      const id = this.nextId++
      const msg = { id, ...job(w * per, Math.min(n, (w + 1) * per)) }
      jobs.push(new Promise<number>((resolve) => {
        this.waiting.set(id, (bad) => resolve(bad < 0 ? bad : w * per + bad))
        this.workers[w]!.postMessage(msg)
      }))
    }
    const results = await Promise.all(jobs)
    if (results.includes(-2)) throw new Error('a signature worker failed')
    const bad = results.filter((r) => r >= 0)
    return bad.length === 0 ? -1 : Math.min(...bad)
  }

  async close (): Promise<void> {
    await Promise.all(this.workers.map(async (w) => await w.terminate()))
    this.workers.length = 0
  }
}
