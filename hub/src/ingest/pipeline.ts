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
 *
 * With batch keys (batch-keys.ts; the hub always gives them) every reading
 * and batch row is sealed under its batch's data key: the key of a user's
 * open batch is made durable before the first reading under it is written
 * (a spare is made as soon as a batch closes, so readings rarely wait for
 * it), the batch row names the keys of its readings, and deleteBatch
 * destroys them once the rows are gone. A crash between the two leaves a key
 * no row names; opening the store destroys every such key.
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
import type { Migrated } from '../store/format.ts'
import type { BatchRecord, Mark, Op, PendingReading } from './store.ts'
import { sealedRow, type BatchKeys } from './batch-keys.ts'
import { BatchKeyGoneError, IngestLockedError } from './batch-errors.ts'

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
  /** told when opening migrated the store from an older format (default: a line on stderr) */
  migrated?: (m: Migrated) => void
  /** clock, ms since epoch (tests) */
  now?: () => number
  /** how often device counters are written back (ms, default 1000) */
  persistEveryMs?: number
  /** seal every reading and batch row under per-batch keys, destroyed with the batch (the hub's; without: JSON at rest) */
  batchKeys?: BatchKeys
}

/** Readings of one open batch sealed at rest as one row, in the commit that makes them durable (its row: the first one's key). */
interface Chunk { readonly row: string, readonly kid: string, readonly values: string[] }

/** A user's open batch: the readings acknowledged since the last close and the keys they are sealed under. */
interface Gathering {
  /** the batch key new readings are sealed under, durable once it resolves (made on first use) */
  key: Promise<string> | undefined
  /** every key its readings were sealed under */
  readonly keys: Set<string>
  /** each reading and the row it is stored in (a chunk's row holds several) */
  readonly entries: Array<{ key: string, p: PendingReading }>
  /** the chunk readings being written join until its commit is formed */
  chunk: Chunk | undefined
  /** readings being written */
  inflight: number
  readonly settled: Array<() => void>
}

const gathering = (key?: string): Gathering => ({ key: key === undefined ? undefined : Promise.resolve(key), keys: new Set(key === undefined ? [] : [key]), entries: [], chunk: undefined, inflight: 0, settled: [] })

export interface IngestCounters {
  accepted: number
  /** dropped lines and refused connections/publishes by error code */
  dropped: Record<string, number>
  batches: number
}

export interface IngestEvents {
  /** the reading, its user, and the form it is stored in (its wire form and the hub's receive time) */
  reading: [Reading, string, PendingReading]
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
  readonly #open = new Map<string, Gathering>()
  readonly #keys: BatchKeys | undefined
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
    this.#keys = opts.batchKeys
    this.#persistTimer = setInterval(() => { this.registry.persist().catch((e: Error) => this.emit('error', e)) }, opts.persistEveryMs ?? 1000)
    this.#persistTimer.unref()
  }

  /** Open the store in `dir`, reload marks and pending readings. */
  static async open (dir: string, opts: IngestOptions = {}): Promise<Ingest> {
    const store = await IngestStore.open(dir, { sync: opts.sync, ...(opts.migrated === undefined ? {} : { migrated: opts.migrated }) })
    const ing = new Ingest(store, await DeviceRegistry.load(store), opts)
    try {
      await ing.#load(opts.batchKeys)
    } catch (err) {
      ing.#closed = true
      clearInterval(ing.#persistTimer)
      await store.close()
      throw err
    }
    ing.#schedule()
    return ing
  }

  /** Reloads replay marks and pending readings; destroys every batch key no stored row names. */
  async #load (batchKeys: BatchKeys | undefined): Promise<void> {
    const store = this.store
    for await (const [k, seq] of store.scan<number>('mark!')) {
      const [, d, b] = k.split('!')
      this.#guard.accept(d!, parseInt(b!, 16), seq)
    }
    const closeNow = new Map<string, FlushReason>()
    // the keys a stored row names; every other key in the key file is destroyed below
    const named = new Set<string>()
    for await (const [k, v] of store.scanRaw('pend!')) {
      const user = k.split('!')[1]!
      const stored = JSON.parse(this.#unseal(k, v, named)) as PendingReading | PendingReading[]
      let g = this.#open.get(user)
      if (g === undefined) { g = gathering(); this.#open.set(user, g) }
      for (const id of sealedRow(k, v)?.k ?? []) { g.keys.add(id); g.key ??= Promise.resolve(id) }
      for (const p of Array.isArray(stored) ? stored : [stored]) {
        g.entries.push({ key: k, p })
        const reason = this.aggregator.add(user, wireToReading(p), k.length + JSON.stringify(p).length, p.at)
        if (reason !== null && !closeNow.has(user)) closeNow.set(user, reason)
      }
    }
    for await (const [k, v] of store.scanRaw('batch!')) for (const id of sealedRow(k, v)?.k ?? []) named.add(id)
    // a key made for a batch that got no reading, or left by a crash after its batch's rows were deleted
    await batchKeys?.retain(named)
    this.#batchSeq = (await store.get<number>(keys.batchSeq)) ?? 0
    // a crash between a reading's write and its batch's flush: close those batches now
    for (const [user, reason] of closeNow) await this.flush(user, reason)
  }

  /** A row's JSON: opened under its batch key (noting the keys it names), or as stored without batch keys. */
  #unseal (row: string, value: string, named?: Set<string>): string {
    const env = sealedRow(row, value)
    if (env === null) return value
    if (this.#keys === undefined) throw new IngestLockedError(row)
    for (const id of env.k) named?.add(id)
    return this.#keys.open(row, value)
  }

  /** The user's open batch (a new one, its key being made, after a close). */
  #gathering (user: string): Gathering {
    let g = this.#open.get(user)
    if (g === undefined) {
      g = gathering()
      this.#open.set(user, g)
      this.#keyOf(g)?.catch(() => {})
    }
    return g
  }

  /** The key new readings of `g` are sealed under, made (durably) on first use; undefined without batch keys. */
  #keyOf (g: Gathering): Promise<string> | undefined {
    if (this.#keys === undefined) return undefined
    if (g.key === undefined) {
      const made = this.#keys.create()
      g.key = made
      // a failed key is made again by the next reading
      made.then((id) => { g.keys.add(id) }, () => { if (g.key === made) g.key = undefined })
    }
    return g.key
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
    // the reading belongs to the open batch whose key seals it, even if that batch closes meanwhile (flush waits for it)
    const g = this.#gathering(user)
    g.inflight++
    let row = key
    try {
      const kid = await this.#keyOf(g)
      const mark = { device: r.device, boot: r.boot, seq: r.seq }
      if (kid === undefined) await this.store.write([{ type: 'put', key, value }], mark)
      else {
        const written = this.#chunked(g, kid, key, value, mark)
        row = written.row
        await written.done
      }
    } catch (err) {
      this.#guard.rollback(r.device, r.boot, r.seq, previous)
      throw err
    } finally {
      if (--g.inflight === 0) for (const f of g.settled.splice(0)) f()
    }
    this.counters.accepted++
    this.registry.noteAccepted(r.device, p.at)
    g.entries.push({ key: row, p })
    this.emit('reading', r, user, p)
    const reason = this.aggregator.add(user, r, value.length, p.at)
    if (reason !== null) this.#flushSoon(user, reason)
    else if (this.#timer === undefined) this.#schedule()
    return { ok: true, reading: r, user }
  }

  /**
   * Writes a reading sealed at rest: it joins the chunk of its open batch
   * whose commit is not formed yet, or starts one. A chunk is sealed once,
   * under one nonce, when its commit is formed (IngestStore.write), so
   * sealing costs one AES-GCM per user per commit, not one per reading; each
   * reading still resolves only once the commit holding it is durable.
   */
  #chunked (g: Gathering, kid: string, key: string, value: string, mark: Mark): { readonly row: string, readonly done: Promise<void> } {
    const c = g.chunk
    if (c !== undefined && c.kid === kid) {
      c.values.push(value)
      return { row: c.row, done: this.store.write([], mark) }
    }
    const chunk: Chunk = { row: key, kid, values: [value] }
    g.chunk = chunk
    const done = this.store.write(() => {
      if (g.chunk === chunk) g.chunk = undefined
      return [{ type: 'put', key: chunk.row, value: this.#keys!.seal([kid], chunk.row, `[${chunk.values.join(',')}]`) }]
    }, mark)
    return { row: chunk.row, done }
  }

  #flushSoon (user: string, reason: FlushReason): void {
    this.flush(user, reason).catch((e: Error) => this.emit('error', e))
  }

  /** Close the user's open batch now; resolves with it once it is durable (null if empty). */
  async flush (user: string, reason: FlushReason | 'manual' = 'manual'): Promise<BatchRecord | null> {
    const g = this.#open.get(user)
    this.aggregator.reset(user)
    if (g === undefined || (g.entries.length === 0 && g.inflight === 0)) return null
    // readings from now on gather under a new key; those being written still join this batch
    this.#open.delete(user)
    if (g.inflight > 0) await new Promise<void>((resolve) => { g.settled.push(resolve) })
    if (g.entries.length === 0) { this.#rejoin(user, g); return null }
    const n = ++this.#batchSeq
    const batch: BatchRecord = { id: keys.batch(user, n), user, reason, createdAt: this.#now(), readings: g.entries.map((e) => e.p) }
    const json = JSON.stringify(batch)
    const ops: Op[] = [...new Set(g.entries.map((e) => e.key))].map((key) => ({ type: 'del', key }))
    ops.push({ type: 'put', key: batch.id, value: this.#keys === undefined ? json : this.#keys.seal([...g.keys], batch.id, json) }, { type: 'put', key: keys.batchSeq, value: String(n) })
    try {
      await this.store.write(ops)
    } catch (err) {
      this.#rejoin(user, g)
      throw err
    }
    this.counters.batches++
    // the next batch's key is made now, not when its first reading waits for it
    if (this.#keys !== undefined && !this.#closed) this.#gathering(user)
    this.emit('batch', batch)
    this.#schedule()
    return batch
  }

  /** A batch that could not close: its readings and keys go back in front of the user's open batch. */
  #rejoin (user: string, g: Gathering): void {
    const cur = this.#open.get(user)
    if (cur === undefined) { this.#open.set(user, g); return }
    cur.entries.unshift(...g.entries)
    for (const id of g.keys) cur.keys.add(id)
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
    for await (const [k, v] of this.store.scanRaw(user === undefined ? 'batch!' : `batch!${user}!`)) {
      const b = await this.#batchRow(k, v)
      if (b !== undefined) out.push(b)
    }
    return out
  }

  /** The ids of the closed batches, oldest first, without reading them. */
  async batchIds (user?: string): Promise<string[]> {
    const prefix = user === undefined ? 'batch!' : `batch!${user}!`
    const out: string[] = []
    for await (const k of this.store.db.keys({ gte: prefix, lt: prefix + '\xff' })) out.push(k)
    return out
  }

  /** Whether a closed batch is still stored (its row not read, so not opened). */
  async hasBatch (id: string): Promise<boolean> {
    return id.startsWith('batch!') && await this.store.db.has(id)
  }

  /** One closed batch (undefined once deleted). */
  async batch (id: string): Promise<BatchRecord | undefined> {
    if (!id.startsWith('batch!')) return undefined
    const v = await this.store.db.get(id)
    return v === undefined ? undefined : await this.#batchRow(id, v)
  }

  /** A batch row read a moment ago; undefined if it was deleted (and its key destroyed) since. */
  async #batchRow (row: string, value: string): Promise<BatchRecord | undefined> {
    try {
      return JSON.parse(this.#unseal(row, value)) as BatchRecord
    } catch (err) {
      if (err instanceof BatchKeyGoneError && await this.store.db.get(row) === undefined) return undefined
      throw err
    }
  }

  /**
   * The batch is done with (its tx_IoT confirmed, or acknowledged by a
   * consumer): its row, and `also` with it, leave the store in one atomic
   * write, then its batch keys are destroyed, so whatever LevelDB still
   * holds of its readings never decrypts again.
   */
  async deleteBatch (id: string, also: readonly Op[] = []): Promise<void> {
    const v = id.startsWith('batch!') ? await this.store.db.get(id) : undefined
    const env = v === undefined ? null : sealedRow(id, v)
    await this.store.write([{ type: 'del', key: id }, ...also])
    if (env !== null) await this.#keys?.destroy(env.k)
  }

  /** Readings accepted but not yet in a closed batch. */
  pendingCount (user?: string): number {
    if (user !== undefined) return this.#open.get(user)?.entries.length ?? 0
    let n = 0
    for (const g of this.#open.values()) n += g.entries.length
    return n
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    clearInterval(this.#persistTimer)
    await this.registry.persist()
    await this.store.close()
    // spare keys of open batches that got no reading
    const spare: string[] = []
    for (const g of this.#open.values()) if (g.entries.length === 0 && g.inflight === 0) spare.push(...(await g.key?.catch(() => undefined) === undefined ? [] : g.keys))
    await this.#keys?.destroy(spare)
  }
}

export function wireToReading (p: PendingReading): Reading {
  const w = p.w
  return { device: w.d, boot: w.b, seq: w.s, type: w.t, value: w.v, unit: w.u, ts: w.ts }
}
