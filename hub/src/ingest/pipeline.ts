/**
 * The ingest pipeline shared by every source (serial, MQTT, Firmata):
 * parse → check the device → drop replays → append durably → aggregate.
 * Paper §III-A (periodic or event-triggered sends to the user node).
 *
 * `submit` resolves only after the reading is committed to LevelDB, so a
 * source acknowledges (MQTT PUBACK) only what survives a crash. A reading
 * lives under `pend!` until its user's batch closes; closing writes the
 * batch and deletes its pending readings in one atomic LevelDB batch, so
 * after any crash each accepted reading is in exactly one place.
 */
import { EventEmitter } from 'node:events'
import { HealthchainError } from '../core/index.ts'
import { Aggregator } from './aggregate.ts'
import type { AggregateOptions, FlushReason } from './aggregate.ts'
import { BadFieldError, PortDeviceError, ReplayError, SensorTypeRefusedError, UnknownDeviceError } from './errors.ts'
import { parseLine, readingToWire } from './line.ts'
import type { Reading } from './line.ts'
import { DeviceRegistry } from './registry.ts'
import { ReplayGuard } from './replay.ts'
import { IngestStore, keys } from './store.ts'
import type { BatchRecord, Op, PendingReading } from './store.ts'

export type Source = 'serial' | 'mqtt' | 'firmata' | 'api'

export interface SubmitContext {
  source: Source
  /** the authenticated device (MQTT username) or the device bound to the port; the line's `d` must equal it */
  device?: string
  /** the serial port the line came from (its device is `device`) */
  port?: string
}

export type SubmitResult =
  | { ok: true, reading: Reading, user: string }
  | { ok: false, error: HealthchainError }

export interface IngestOptions extends AggregateOptions {
  /** fsync each group commit (default true) */
  sync?: boolean
  /** clock, ms since epoch (tests) */
  now?: () => number
  /** how often device counters are written back (ms, default 1000) */
  persistEveryMs?: number
}

export interface IngestCounters {
  accepted: number
  /** dropped lines and refused connections/publishes by error code */
  dropped: Record<string, number>
  batches: number
}

export interface IngestEvents {
  reading: [Reading, string]
  dropped: [HealthchainError, SubmitContext]
  batch: [BatchRecord]
  error: [Error]
}

export class Ingest extends EventEmitter<IngestEvents> {
  readonly store: IngestStore
  readonly registry: DeviceRegistry
  readonly aggregator: Aggregator
  readonly counters: IngestCounters = { accepted: 0, dropped: {}, batches: 0 }
  readonly #guard = new ReplayGuard()
  readonly #pending = new Map<string, Array<{ key: string, p: PendingReading }>>()
  readonly #now: () => number
  #batchSeq = 0
  #timer: NodeJS.Timeout | undefined
  #persistTimer: NodeJS.Timeout
  #closed = false

  private constructor (store: IngestStore, registry: DeviceRegistry, opts: IngestOptions) {
    super()
    this.store = store
    this.registry = registry
    this.aggregator = new Aggregator(opts)
    this.#now = opts.now ?? Date.now
    this.#persistTimer = setInterval(() => { this.registry.persist().catch((e: Error) => this.emit('error', e)) }, opts.persistEveryMs ?? 1000)
    this.#persistTimer.unref()
  }

  /** Open the store in `dir`, reload marks and pending readings. */
  static async open (dir: string, opts: IngestOptions = {}): Promise<Ingest> {
    const store = await IngestStore.open(dir, { sync: opts.sync })
    const ing = new Ingest(store, await DeviceRegistry.load(store), opts)
    for await (const [k, seq] of store.scan<number>('mark!')) {
      const [, d, b] = k.split('!')
      ing.#guard.accept(d!, parseInt(b!, 16), seq)
    }
    const closeNow = new Map<string, FlushReason>()
    for await (const [k, p] of store.scan<PendingReading>('pend!')) {
      const user = k.split('!')[1]!
      ing.#queue(user).push({ key: k, p })
      const reason = ing.aggregator.add(user, wireToReading(p), k.length + JSON.stringify(p).length, p.at)
      if (reason !== null && !closeNow.has(user)) closeNow.set(user, reason)
    }
    ing.#batchSeq = (await store.get<number>(keys.batchSeq)) ?? 0
    // a crash between a reading's write and its batch's flush: close those batches now
    for (const [user, reason] of closeNow) await ing.flush(user, reason)
    ing.#schedule()
    return ing
  }

  #queue (user: string): Array<{ key: string, p: PendingReading }> {
    let q = this.#pending.get(user)
    if (q === undefined) { q = []; this.#pending.set(user, q) }
    return q
  }

  /** Count a refusal that never reached parsing (bad credentials, topic ACL). */
  refuse (error: HealthchainError, ctx: SubmitContext): void {
    this.#drop(error, ctx)
  }

  #drop (error: HealthchainError, ctx: SubmitContext): SubmitResult {
    this.counters.dropped[error.code] = (this.counters.dropped[error.code] ?? 0) + 1
    if (ctx.device !== undefined) this.registry.noteDropped(ctx.device, error.code)
    this.emit('dropped', error, ctx)
    return { ok: false, error }
  }

  /** Parse and accept one line; resolves after the durable write (or with the drop reason). */
  async submit (text: string, ctx: SubmitContext): Promise<SubmitResult> {
    let r: Reading
    try {
      r = parseLine(text)
    } catch (err) {
      if (err instanceof HealthchainError) return this.#drop(err, ctx)
      throw err
    }
    return await this.submitReading(r, ctx)
  }

  /** Accept a reading already parsed (Firmata samples); same checks as submit. */
  async submitReading (r: Reading, ctx: SubmitContext): Promise<SubmitResult> {
    if (this.#closed) throw new Error('ingest is closed')
    const device = this.registry.get(r.device)
    if (device === undefined) return this.#drop(new UnknownDeviceError(r.device), ctx)
    if (ctx.device !== undefined && ctx.device !== r.device) {
      const err = ctx.port !== undefined ? new PortDeviceError(ctx.port, ctx.device, r.device) : new BadFieldError('d', `line of ${r.device} sent by authenticated device ${ctx.device}`)
      return this.#drop(err, ctx)
    }
    const dctx = { ...ctx, device: r.device }
    // a device reports only what it was paired with (an oximeter sends no temperatures)
    if (!device.sensors.includes(r.type)) return this.#drop(new SensorTypeRefusedError(r.device, r.type), dctx)
    if (!this.#guard.isFresh(r.device, r.boot, r.seq)) return this.#drop(new ReplayError(r.device, r.boot, r.seq), dctx)
    const previous = this.#guard.mark(r.device, r.boot)
    this.#guard.accept(r.device, r.boot, r.seq)
    const user = device.user
    const p: PendingReading = { w: readingToWire(r), at: this.#now() }
    const key = keys.pending(user, r.device, r.boot, r.seq)
    const value = JSON.stringify(p)
    try {
      await this.store.write([{ type: 'put', key, value }], { device: r.device, boot: r.boot, seq: r.seq })
    } catch (err) {
      this.#guard.rollback(r.device, r.boot, r.seq, previous)
      throw err
    }
    this.counters.accepted++
    this.registry.noteAccepted(r.device, p.at)
    this.#queue(user).push({ key, p })
    this.emit('reading', r, user)
    const reason = this.aggregator.add(user, r, value.length, p.at)
    if (reason !== null) this.#flushSoon(user, reason)
    else if (this.#timer === undefined) this.#schedule()
    return { ok: true, reading: r, user }
  }

  #flushSoon (user: string, reason: FlushReason): void {
    this.flush(user, reason).catch((e: Error) => this.emit('error', e))
  }

  /** Close the user's open batch now; resolves with it once it is durable (null if empty). */
  async flush (user: string, reason: FlushReason | 'manual' = 'manual'): Promise<BatchRecord | null> {
    const q = this.#pending.get(user)
    this.aggregator.reset(user)
    if (q === undefined || q.length === 0) return null
    this.#pending.delete(user)
    const n = ++this.#batchSeq
    const batch: BatchRecord = { id: keys.batch(user, n), user, reason, createdAt: this.#now(), readings: q.map((e) => e.p) }
    const ops: Op[] = q.map((e) => ({ type: 'del', key: e.key }))
    ops.push({ type: 'put', key: batch.id, value: JSON.stringify(batch) }, { type: 'put', key: keys.batchSeq, value: String(n) })
    try {
      await this.store.write(ops)
    } catch (err) {
      this.#queue(user).unshift(...q)
      throw err
    }
    this.counters.batches++
    this.emit('batch', batch)
    this.#schedule()
    return batch
  }

  #schedule (): void {
    if (this.#closed) return
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    const deadline = this.aggregator.nextDeadline()
    if (deadline === undefined) return
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      for (const u of this.aggregator.due(this.#now())) this.#flushSoon(u, 'window')
      this.#schedule()
    }, Math.max(0, deadline - this.#now()))
  }

  /** Closed batches not yet taken by the user node, oldest first. */
  async batches (user?: string): Promise<BatchRecord[]> {
    const out: BatchRecord[] = []
    for await (const [, b] of this.store.scan<BatchRecord>(user === undefined ? 'batch!' : `batch!${user}!`)) out.push(b)
    return out
  }

  /** The user node has sealed and uploaded a batch: forget it. */
  async deleteBatch (id: string): Promise<void> {
    await this.store.write([{ type: 'del', key: id }])
  }

  /** Readings accepted but not yet in a closed batch. */
  pendingCount (user?: string): number {
    if (user !== undefined) return this.#pending.get(user)?.length ?? 0
    let n = 0
    for (const q of this.#pending.values()) n += q.length
    return n
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    clearInterval(this.#persistTimer)
    await this.registry.persist()
    await this.store.close()
  }
}

export function wireToReading (p: PendingReading): Reading {
  const w = p.w
  return { device: w.d, boot: w.b, seq: w.s, type: w.t, value: w.v, unit: w.u, ts: w.ts }
}
