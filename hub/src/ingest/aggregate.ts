/**
 * Aggregation of readings into per-user batches (paper §III-A: a device
 * sends periodically or on events; §VI: batches of a 10-minute window).
 * A user's batch closes when its window has elapsed since its first
 * reading, when it reaches `maxReadings` or `maxBytes`, or at once when a
 * device's vital sign crosses an event threshold (e.g. SpO2 < 90 %) — the
 * real-time alert path must not wait for the window. Only the crossing
 * fires: the readings that stay beyond the threshold travel in the window's
 * batches, since every batch is a tx_IoT and, once a doctor reads it, a
 * diagnosis the patient pays for; a sign that recovers and crosses again
 * fires again, and a fall always fires. Pure logic: the caller owns the
 * clock and the timer (see pipeline.ts).
 */
import type { Reading, SensorType } from './line.ts'
import { BadFieldError } from './errors.ts'
import { SENSOR_UNITS } from './line.ts'

export const DEFAULT_WINDOW_MS = 10 * 60 * 1000
export const DEFAULT_MAX_READINGS = 2000
/** Plaintext bytes per batch: the 1 MiB sealed-batch limit less room for the envelope. */
export const DEFAULT_MAX_BYTES = 1024 * 1024 - 4096

/** A threshold that flushes the user's batch at once. */
export interface Threshold {
  type: SensorType
  /** compared value: the number, bp systolic (index 0) or diastolic (1); a fall always fires */
  op: '<' | '>' | 'any'
  limit: number
  /** for bp: 0 = systolic, 1 = diastolic */
  index?: number
}

/** Defaults after NEWS2's red scores (Royal College of Physicians, 2017). */
export const DEFAULT_THRESHOLDS: Threshold[] = [
  { type: 'spo2', op: '<', limit: 90 },
  { type: 'hr', op: '<', limit: 40 },
  { type: 'hr', op: '>', limit: 130 },
  { type: 'rr', op: '<', limit: 9 },
  { type: 'rr', op: '>', limit: 24 },
  { type: 'temp', op: '<', limit: 35 },
  { type: 'temp', op: '>', limit: 39 },
  { type: 'bp', op: '<', limit: 91, index: 0 },
  { type: 'bp', op: '>', limit: 219, index: 0 },
  { type: 'fall', op: 'any', limit: 0 }
]

/** Parse "spo2<90", "hr>130", "bp[1]>120", "fall". */
export function parseThreshold (text: string): Threshold {
  const m = /^([a-z0-9]+)(?:\[([01])\])?(?:([<>])(-?\d+(?:\.\d+)?))?$/.exec(text.trim())
  if (m === null || !Object.hasOwn(SENSOR_UNITS, m[1]!)) throw new BadFieldError('threshold', `cannot parse ${JSON.stringify(text)}; e.g. spo2<90`)
  const type = m[1] as SensorType
  if (m[3] === undefined) return { type, op: 'any', limit: 0 }
  return { type, op: m[3] as '<' | '>', limit: Number(m[4]), ...(m[2] !== undefined ? { index: Number(m[2]) } : {}) }
}

export function crosses (t: Threshold, r: Reading): boolean {
  if (t.type !== r.type) return false
  if (t.op === 'any') return true
  const values = Array.isArray(r.value) ? (r.type === 'bp' ? [r.value[t.index ?? 0]!] : r.value) : [r.value]
  return values.some((v) => t.op === '<' ? v < t.limit : v > t.limit)
}

export type FlushReason = 'window' | 'size' | 'bytes' | 'event' | 'close'

export interface AggregateOptions {
  windowMs?: number
  maxReadings?: number
  maxBytes?: number
  thresholds?: Threshold[]
}

interface Open { since: number, count: number, bytes: number }

/**
 * Tracks each user's open batch. `add` says whether the batch must close now;
 * `due` lists users whose window has elapsed; `reset` starts a new batch.
 */
export class Aggregator {
  readonly windowMs: number
  readonly maxReadings: number
  readonly maxBytes: number
  readonly thresholds: Threshold[]
  readonly #open = new Map<string, Open>()
  /** user, device and sensor type whose last reading was beyond a threshold */
  readonly #beyond = new Set<string>()

  constructor (opts: AggregateOptions = {}) {
    this.windowMs = opts.windowMs ?? DEFAULT_WINDOW_MS
    this.maxReadings = opts.maxReadings ?? DEFAULT_MAX_READINGS
    this.maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES
    this.thresholds = opts.thresholds ?? DEFAULT_THRESHOLDS
  }

  /** Add a reading of `bytes` serialized size at time `now`; the reason to close, if any. */
  add (user: string, r: Reading, bytes: number, now: number): FlushReason | null {
    let o = this.#open.get(user)
    if (o === undefined) { o = { since: now, count: 0, bytes: 0 }; this.#open.set(user, o) }
    o.count++
    o.bytes += bytes + 1
    if (this.#crossesNow(user, r)) return 'event'
    if (o.count >= this.maxReadings) return 'size'
    if (o.bytes + bytes + 1 > this.maxBytes) return 'bytes'
    if (now - o.since >= this.windowMs) return 'window'
    return null
  }

  #crossesNow (user: string, r: Reading): boolean {
    const hit = this.thresholds.filter((t) => crosses(t, r))
    if (hit.some((t) => t.op === 'any')) return true
    const key = `${user}\u0000${r.device}\u0000${r.type}`
    const was = this.#beyond.has(key)
    if (hit.length === 0) { this.#beyond.delete(key); return false }
    this.#beyond.add(key)
    return !was
  }

  /** Users whose window has elapsed at `now`. */
  due (now: number): string[] {
    return [...this.#open].filter(([, o]) => now - o.since >= this.windowMs).map(([u]) => u)
  }

  /** When the next window closes (ms since epoch), or undefined when nothing is open. */
  nextDeadline (): number | undefined {
    let min: number | undefined
    for (const o of this.#open.values()) if (min === undefined || o.since + this.windowMs < min) min = o.since + this.windowMs
    return min
  }

  users (): string[] { return [...this.#open.keys()] }

  reset (user: string): void { this.#open.delete(user) }
}
