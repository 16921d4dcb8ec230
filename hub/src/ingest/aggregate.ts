/**
 * Aggregation of readings into per-user batches (paper §III-A: a device
 * sends periodically or on events; §VI: batches of a 10-minute window).
 * A user's batch closes when its window has elapsed since its first
 * reading, when it reaches `maxReadings` or `maxBytes`, or at once when a
 * device's vital sign crosses an event threshold (e.g. SpO2 < 90 %) — the
 * real-time alert path must not wait for the window. Only the crossing
 * fires (flush-rule.ts, the rule the Node-RED batch node uses too). Pure
 * logic: the caller owns the clock and the timer (see pipeline.ts).
 */
import type { Reading } from './line.ts'
import { DEFAULT_THRESHOLDS, FlushRule, type FlushCondition } from './flush-rule.ts'

export { DEFAULT_THRESHOLDS, crosses, parseThreshold, parseFlushCondition, type Threshold, type FlushCondition } from './flush-rule.ts'

export const DEFAULT_WINDOW_MS = 10 * 60 * 1000
export const DEFAULT_MAX_READINGS = 2000
/** Plaintext bytes per batch: the 1 MiB sealed-batch limit less room for the envelope. */
export const DEFAULT_MAX_BYTES = 1024 * 1024 - 4096

export type FlushReason = 'window' | 'size' | 'bytes' | 'event' | 'close'

export interface AggregateOptions {
  windowMs?: number
  maxReadings?: number
  maxBytes?: number
  /** what closes a batch at once (flush-rule.ts): thresholds, `news2>=N` */
  thresholds?: FlushCondition[]
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
  readonly thresholds: FlushCondition[]
  readonly #open = new Map<string, Open>()
  readonly #rule: FlushRule

  constructor (opts: AggregateOptions = {}) {
    this.windowMs = opts.windowMs ?? DEFAULT_WINDOW_MS
    this.maxReadings = opts.maxReadings ?? DEFAULT_MAX_READINGS
    this.maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES
    this.thresholds = opts.thresholds ?? DEFAULT_THRESHOLDS
    this.#rule = new FlushRule(this.thresholds)
  }

  /** Add a reading of `bytes` serialized size at time `now`; the reason to close, if any. */
  add (user: string, r: Reading, bytes: number, now: number): FlushReason | null {
    let o = this.#open.get(user)
    if (o === undefined) { o = { since: now, count: 0, bytes: 0 }; this.#open.set(user, o) }
    o.count++
    o.bytes += bytes + 1
    if (this.#rule.fires(r, user)) return 'event'
    if (o.count >= this.maxReadings) return 'size'
    if (o.bytes + bytes + 1 > this.maxBytes) return 'bytes'
    if (now - o.since >= this.windowMs) return 'window'
    return null
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
