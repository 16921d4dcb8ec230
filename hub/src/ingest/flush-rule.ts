/**
 * When a batch closes at once instead of waiting for its window (paper
 * §III-A: a device sends periodically or on events; DESIGN §7): on a fall,
 * or when a vital sign turns abnormal — beyond a threshold (`spo2<90`,
 * `bp[1]>120`) or scoring at least N on NEWS2 chart 1 (`news2>=3`: chart 2's
 * "single red score", which calls for an urgent clinical review). Only the
 * crossing fires: the readings that stay abnormal travel in the window's
 * batches, since every batch is a tx_IoT and, once a doctor reads it, a
 * diagnosis the patient pays for — one desaturation must not become one
 * batch per reading. A sign that recovers and turns abnormal again fires
 * again; a condition naming only a sensor type (`fall`) fires on every
 * reading of it. One rule serves the ingest aggregator (aggregate.ts, per
 * user) and the Node-RED batch node (nodered/batcher.ts).
 */
import { scorePulse, scoreRespRate, scoreSpo2Scale1, scoreSystolic, scoreTemperature } from '../ai/news2.ts'
import { BadFieldError } from './errors.ts'
import { SENSOR_UNITS, type SensorType } from './line.ts'

/** A threshold that flushes a batch at once. */
export interface Threshold {
  type: SensorType
  /** compared value: the number, bp systolic (index 0) or diastolic (1); `any`: every reading of the type (a fall) */
  op: '<' | '>' | 'any'
  limit: number
  /** for bp: 0 = systolic, 1 = diastolic */
  index?: number
}

/** A reading whose own NEWS2 chart-1 score is at least `news2`. */
export interface News2Condition { readonly news2: number }

export type FlushCondition = Threshold | News2Condition

/** What a rule looks at in a reading (ingest's Reading, or the wire form's d/t/v renamed). */
export interface RuleReading {
  readonly device: string
  readonly type: string
  readonly value: number | readonly number[]
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
  if (m === null || !Object.hasOwn(SENSOR_UNITS, m[1]!)) throw new BadFieldError('threshold', `cannot parse ${JSON.stringify(text)}; e.g. spo2<90, fall or news2>=3`)
  const type = m[1] as SensorType
  if (m[3] === undefined) return { type, op: 'any', limit: 0 }
  return { type, op: m[3] as '<' | '>', limit: Number(m[4]), ...(m[2] !== undefined ? { index: Number(m[2]) } : {}) }
}

/** Parse a flush condition: `news2>=N`, or a threshold (parseThreshold). */
export function parseFlushCondition (text: string): FlushCondition {
  const m = /^news2\s*>=\s*(\d+)$/.exec(text.trim())
  return m === null ? parseThreshold(text) : { news2: Number(m[1]) }
}

export function crosses (t: Threshold, r: RuleReading): boolean {
  if (t.type !== r.type) return false
  if (t.op === 'any') return true
  const values = Array.isArray(r.value) ? (r.type === 'bp' ? [r.value[t.index ?? 0]!] : r.value) : [r.value as number]
  return values.some((v) => t.op === '<' ? v < t.limit : v > t.limit)
}

/**
 * One reading's NEWS2 chart-1 score for the parameter it measures (SpO₂ on
 * Scale 1, pulse, temperature, respiration rate, systolic pressure), or
 * null for a reading NEWS2 does not score.
 */
export function readingNews2 (r: Pick<RuleReading, 'type' | 'value'>): number | null {
  const v = r.value
  switch (r.type) {
    case 'spo2': return typeof v === 'number' ? scoreSpo2Scale1(v) : null
    case 'hr': return typeof v === 'number' ? scorePulse(v) : null
    case 'temp': return typeof v === 'number' ? scoreTemperature(v) : null
    case 'rr': return typeof v === 'number' ? scoreRespRate(v) : null
    case 'bp': return Array.isArray(v) && typeof v[0] === 'number' ? scoreSystolic(v[0]) : null
    default: return null
  }
}

const abnormal = (c: FlushCondition, r: RuleReading): boolean => {
  if ('news2' in c) { const s = readingNews2(r); return s !== null && s >= c.news2 }
  return c.op !== 'any' && crosses(c, r)
}

/**
 * The crossing state of a set of conditions, per scope (whose batch: a
 * user), device and vital sign; one instance per aggregator or batch node.
 */
export class FlushRule {
  readonly conditions: readonly FlushCondition[]
  /** scope, device and sensor type whose last reading was abnormal */
  readonly #abnormal = new Set<string>()
  /** sensor types every reading of which fires (`fall`) */
  readonly #always: ReadonlySet<string>

  constructor (conditions: readonly FlushCondition[]) {
    this.conditions = conditions
    this.#always = new Set(conditions.flatMap((c) => !('news2' in c) && c.op === 'any' ? [c.type] : []))
  }

  /** Whether `r` closes its batch now (and it updates the crossing state). */
  fires (r: RuleReading, scope = ''): boolean {
    if (this.#always.has(r.type)) return true
    let hit = false
    for (const c of this.conditions) if (abnormal(c, r)) { hit = true; break }
    // a normal reading while no sign is abnormal: nothing to record (the common case, once per reading)
    if (!hit && this.#abnormal.size === 0) return false
    const key = `${scope}\u0000${r.device}\u0000${r.type}`
    if (!hit) { this.#abnormal.delete(key); return false }
    const was = this.#abnormal.has(key)
    this.#abnormal.add(key)
    return !was
  }
}
