/**
 * Batching readings before encryption (paper Alg. 2 line 1: the user node
 * "packages the IoT data collected in a period" into one batch; DESIGN §4:
 * a sealed batch is at most 1 MiB). Pure logic; the batch node runs the
 * window timer. A batch closes when it holds `size` readings, when adding
 * one more would pass `maxBytes`, when a reading matches a flush rule (a
 * fall, an abnormal vital sign by NEWS2) — urgent data must not wait for
 * the window — or on flush (window
 * elapsed, or a flush message).
 *
 * Plaintext of a batch: UTF-8 JSON `{"v":1,"readings":[…]}` with each reading
 * in the wire form of the line contract (d, b, s, t, v, u, ts), in arrival
 * order (roles/doctor's parseBatch reads it).
 */
import { HealthchainError, MAX_SEALED_BYTES, utf8Bytes } from '../core/index.ts'
import { checkedWire } from '../ingest/line.ts'
import { BadMessageError } from './errors.ts'
import type { SensorReading } from './runtime.ts'
import { FlushRule, parseFlushCondition } from '../ingest/flush-rule.ts'

/**
 * The flush rules of a batch node (its `events` field, comma-separated,
 * ingest/flush-rule.ts): a sensor type (`fall`) closes the batch on any
 * reading of that type; a threshold (`spo2<90`) or `news2>=N` closes it on
 * the reading that crosses it — `news2>=3` is chart 2's "single red score"
 * that calls for an urgent clinical review, so the first abnormal reading of
 * an episode never waits for the window, while the rest of the episode
 * travels in the window's batches. The returned rule keeps the per-device
 * state; one rule per batch node.
 */
export function flushRule (rules: readonly string[]): (r: SensorReading) => boolean {
  const conditions = rules.map((rule) => {
    try { return parseFlushCondition(rule) } catch {
      throw new BadMessageError('events', `"${rule}" is neither a sensor type, a threshold (spo2<90) nor news2>=N`)
    }
  })
  const rule = new FlushRule(conditions)
  return (r) => rule.fires({ device: r.d, type: r.t, value: r.v })
}

export type Trigger = 'size' | 'bytes' | 'event' | 'window' | 'flush'

export interface BatchOptions {
  /** Readings per batch; 0 = no size trigger. */
  readonly size: number
  /** Bytes of plaintext per batch (default and maximum: the sealed-batch limit less the AES-GCM overhead). */
  readonly maxBytes?: number
  /** Flush rules that close the batch at once (flushRule: e.g. ['fall', 'news2>=3']). */
  readonly eventTypes?: readonly string[]
  /**
   * false: the readings only count toward the triggers and are not kept —
   * the batches are made elsewhere (the hub's durable store, which bounds
   * their bytes itself), so a reading is measured only against a `maxBytes`
   * given here. Default true.
   */
  readonly keep?: boolean
}

export interface Batch {
  readonly readings: SensorReading[]
  readonly trigger: Trigger
  /** Plaintext size (encodeBatch(readings).length). */
  readonly bytes: number
}

const OVERHEAD = 12 + 16 // nonce + tag
export const MAX_PLAINTEXT_BYTES = MAX_SEALED_BYTES - OVERHEAD
const ENVELOPE = '{"v":1,"readings":[]}'.length
const AT: ReadonlySet<string> = new Set(['at'])
/** msg.payload as a reading in wire form, checked by the shared line contract (ingest/line.ts). */
export function asReading (x: unknown, field = 'payload'): SensorReading {
  // `at`: the hub's receive time (ms since 1970), beside the device's own ms-since-boot `ts`
  const at = x !== null && typeof x === 'object' ? (x as { at?: unknown }).at : undefined
  if (at !== undefined && (typeof at !== 'number' || !Number.isFinite(at) || at < 0)) throw new BadMessageError(`${field}.at`, 'the hub receive time must be milliseconds ≥ 0')
  try {
    const r: { -readonly [K in keyof SensorReading]: SensorReading[K] } = checkedWire(x, AT)
    if (at !== undefined) r.at = at
    return r
  } catch (err) {
    if (err instanceof HealthchainError) throw new BadMessageError(`${field}.${err.field}`, err.message)
    throw err
  }
}

export function encodeBatch (readings: readonly SensorReading[]): Uint8Array {
  return utf8Bytes(JSON.stringify({ v: 1, readings }))
}

/** The readings of a batch plaintext (each checked as a reading). */
export function decodeBatch (plaintext: Uint8Array): SensorReading[] {
  let doc: unknown
  try { doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(plaintext)) } catch (err) {
    throw new BadMessageError('payload', `batch is not UTF-8 JSON: ${(err as Error).message}`)
  }
  const d = doc as { v?: unknown, readings?: unknown }
  if (d?.v !== 1 || !Array.isArray(d.readings)) throw new BadMessageError('payload', 'batch must be {"v":1,"readings":[…]}')
  return d.readings.map((r, i) => asReading(r, `readings[${i}]`))
}

export class Batcher {
  readonly size: number
  readonly maxBytes: number
  private readonly event: (r: SensorReading) => boolean
  /** whether readings are kept, and measured (JSON-encoded: the costliest step per reading) */
  private readonly keep: boolean
  private readonly measure: boolean
  private readings: SensorReading[] = []
  private count = 0
  private bytes = ENVELOPE

  constructor (opts: BatchOptions) {
    if (!Number.isSafeInteger(opts.size) || opts.size < 0) throw new BadMessageError('size', 'must be an integer ≥ 0')
    this.size = opts.size
    this.maxBytes = Math.min(opts.maxBytes ?? MAX_PLAINTEXT_BYTES, MAX_PLAINTEXT_BYTES)
    this.event = flushRule(opts.eventTypes ?? [])
    this.keep = opts.keep ?? true
    this.measure = this.keep || opts.maxBytes !== undefined
  }

  /** Readings in the open batch. */
  get pending (): number { return this.count }

  /** Adds a reading; returns the batches it closed (none, one, or the full one before it and then itself). */
  add (r: SensorReading): Batch[] {
    const len = this.measure ? Buffer.byteLength(JSON.stringify(r)) : 0
    if (ENVELOPE + len > this.maxBytes) throw new BadMessageError('payload', `one reading of ${len} bytes exceeds the batch limit ${this.maxBytes}`)
    const out: Batch[] = []
    if (this.bytes + len + (this.count > 0 ? 1 : 0) > this.maxBytes) out.push(this.flush('bytes')!)
    this.bytes += len + (this.count > 0 ? 1 : 0)
    if (this.keep) this.readings.push(r)
    this.count++
    const trigger: Trigger | null = this.event(r) ? 'event' : this.size > 0 && this.count >= this.size ? 'size' : null
    if (trigger !== null) out.push(this.flush(trigger)!)
    return out
  }

  /** Closes the open batch (null when empty); its readings are empty when they are not kept. */
  flush (trigger: Trigger): Batch | null {
    if (this.count === 0) return null
    const b: Batch = { readings: this.readings, trigger, bytes: this.bytes }
    this.readings = []
    this.count = 0
    this.bytes = ENVELOPE
    return b
  }
}
