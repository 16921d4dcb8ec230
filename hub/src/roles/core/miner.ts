/**
 * The PoW miner of a core user node (paper §IV-B3, Alg. 1): builds a
 * template on the best tip (coinbase to the miner's ID, mempool txs), then
 * searches nonces on N worker threads (default: all cores), each hashing the
 * whole header with its own nonce slice (start = thread, stride = N). It
 * never blocks the event loop. When a better tip arrives (Alg. 1 line 8) the
 * job word in shared memory moves on and every thread drops the job within
 * one chunk of hashes; the miner then starts over on the new tip.
 */
import { EventEmitter } from 'node:events'
import { Worker } from 'node:worker_threads'
import { availableParallelism } from 'node:os'
import { performance } from 'node:perf_hooks'
import { bitsToTarget, toHex, type Ublock, type UblockHeader, encodeUblockHeader } from '../../core/index.ts'
import type { BlockOutcome, CoreNode } from './node.ts'

export interface MinerOptions {
  /** Worker threads (default: all cores). */
  readonly threads?: number
  /** ID that the coinbase pays. */
  readonly miner: Uint8Array
  /** Rebuild the template this often to take in new transactions (ms, default 5000). */
  readonly refreshMs?: number
}

function targetBytes (bits: number): Uint8Array {
  const out = new Uint8Array(32)
  let t = bitsToTarget(bits)
  for (let i = 31; i >= 0; i--) { out[i] = Number(t & 0xffn); t >>= 8n }
  return out
}

/** A pool of hashing threads that solves one header at a time. */
export class HashPool {
  readonly threads: number
  private readonly workers: Worker[] = []
  private readonly control = new Int32Array(new SharedArrayBuffer(4))
  private readonly counter: Float64Array
  private job = 0

  constructor (threads = availableParallelism()) {
    this.threads = Math.max(1, threads)
    this.counter = new Float64Array(new SharedArrayBuffer(8 * this.threads))
  }

  /** The hashing threads, started by the first solve: a hub that does not mine keeps none (each costs some 25 MB resident). */
  private ensureWorkers (): void {
    if (this.workers.length > 0) return
    for (let i = 0; i < this.threads; i++) this.workers.push(new Worker(new URL('./miner-worker.ts', import.meta.url)))
  }

  /** Total hashes done by all threads so far. */
  get hashes (): number { let n = 0; for (const c of this.counter) n += c; return n }
  /** Hashes done by each thread so far. */
  get perThread (): number[] { return [...this.counter] }

  /**
   * Searches nonces for `header` until one meets its target (resolves the
   * solved header), `abort()` is called or `maxHashes` per thread are done
   * (resolves null).
   */
  async solve (header: UblockHeader, maxHashes = 0): Promise<UblockHeader | null> {
    this.ensureWorkers()
    const job = ++this.job
    Atomics.store(this.control, 0, job)
    const bytes = encodeUblockHeader({ ...header, nonce: 0 })
    const target = targetBytes(header.bits)
    return await new Promise((resolve) => {
      let pending = this.workers.length
      let found: number | null = null
      const listeners: Array<() => void> = []
      const finish = (): void => {
        for (const off of listeners) off()
        resolve(found === null ? null : { ...header, nonce: found })
      }
      this.workers.forEach((w, thread) => {
        const onMessage = (m: { job: number, type: string, nonce?: number }): void => {
          if (m.job !== job) return
          if (m.type === 'found' && found === null) {
            found = m.nonce!
            Atomics.store(this.control, 0, ++this.job) // the others stop
          }
          if (--pending === 0) finish()
        }
        w.on('message', onMessage)
        listeners.push(() => w.off('message', onMessage))
        w.postMessage({ job, header: bytes, target, start: thread, stride: this.workers.length, control: this.control, counter: this.counter, thread, maxHashes })
      })
    })
  }

  /** Makes the running job stop (each thread within one chunk). */
  abort (): void { Atomics.store(this.control, 0, ++this.job) }

  async close (): Promise<void> {
    this.abort()
    await Promise.all(this.workers.map(async (w) => await w.terminate()))
  }
}

export class Miner extends EventEmitter {
  readonly node: CoreNode
  readonly hashPool: HashPool
  readonly minerId: Uint8Array
  private readonly refreshMs: number
  private running = false
  private loop: Promise<void> | null = null
  private readonly onTip = (): void => { this.hashPool.abort() }
  /** When the last abort because of a new tip was asked (performance.now()). */
  lastAbortAt = 0

  constructor (node: CoreNode, opts: MinerOptions) {
    super()
    this.node = node
    this.minerId = opts.miner
    this.refreshMs = opts.refreshMs ?? 5000
    this.hashPool = new HashPool(opts.threads)
  }

  get threads (): number { return this.hashPool.threads }
  /** True between start() and stop(). */
  get mining (): boolean { return this.running }
  get hashes (): number { return this.hashPool.hashes }

  /** Mines one block on the current tip and submits it. Null when aborted (a new tip came first). */
  async mineOnce (): Promise<BlockOutcome | null> {
    const tpl = this.node.template(this.minerId)
    const timer = setTimeout(() => { this.hashPool.abort() }, this.refreshMs)
    let header: UblockHeader | null
    try {
      header = await this.hashPool.solve(tpl.header)
    } finally {
      clearTimeout(timer)
    }
    if (header === null) return null
    // A new tip may have arrived between the template and the search: that block would be stale.
    if (this.node.store.tip.hex !== toHex(tpl.header.prehash)) return null
    const block: Ublock = { header, txs: tpl.txs }
    const out = await this.node.submitBlock(block)
    this.emit('mined', out, block)
    return out
  }

  /** Mines until `stop()`, restarting on every new tip. */
  start (): void {
    if (this.running) return
    this.running = true
    this.node.on('tip', this.onTip)
    this.loop = (async () => {
      while (this.running) {
        try {
          const out = await this.mineOnce()
          if (out !== null && !out.accepted) {
            // E.g. the chain's median time ran ahead of the clock: wait instead of spinning.
            if (this.listenerCount('error') > 0) this.emit('error', new Error(`mined block rejected: ${out.reason}`))
            await new Promise((resolve) => setTimeout(resolve, 1000))
          }
        } catch (err) {
          // An EventEmitter throws an unheard 'error': only report it to a listener.
          if (this.listenerCount('error') > 0) this.emit('error', err)
          await new Promise((resolve) => setTimeout(resolve, 100))
        }
      }
    })()
  }

  /** Stops mining and waits for the threads to go idle. */
  async stop (): Promise<void> {
    this.running = false
    this.node.off('tip', this.onTip)
    this.hashPool.abort()
    await this.loop
    this.loop = null
  }

  async close (): Promise<void> {
    await this.stop()
    await this.hashPool.close()
  }
}

/** Measures how long the threads take to drop a job after abort (ms). */
export async function measureStop (pool: HashPool, header: UblockHeader): Promise<number> {
  const hard = { ...header, bits: 0x1d00ffff }
  const p = pool.solve(hard)
  await new Promise((resolve) => setTimeout(resolve, 50))
  const t0 = performance.now()
  pool.abort()
  await p
  return performance.now() - t0
}
