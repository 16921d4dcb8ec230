/**
 * The analyzer's labelled scenarios: seeded traces of 10 minutes, one
 * reading of each vital every 5 s (the paper's batch window), normal or
 * with one abnormal condition. The analyzer tests classify whole traces;
 * the episode tests cut them into batches.
 */
import type { VitalReading } from '../../hub/src/ai/analyzer.ts'

export function rng (seed: number): () => number {
  let s = seed >>> 0
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32 }
}
export type Vitals = { hr: number, spo2: number, temp: number, sys: number, rr: number }
export const NORMAL: Vitals = { hr: 72, spo2: 98, temp: 36.8, sys: 122, rr: 15 }
export const T0 = 1_790_000_000_000
export const STEP_MS = 5000

export function trace (seed: number, vitals: (i: number) => Partial<Vitals>, extra: (i: number, ts: number) => VitalReading[] = () => []): VitalReading[] {
  const r = rng(seed)
  const n = (sd: number): number => (r() + r() + r() - 1.5) * sd * 2
  const out: VitalReading[] = []
  for (let i = 0; i < 120; i++) {
    const ts = T0 + i * STEP_MS
    const v = { ...NORMAL, ...vitals(i) }
    out.push({ t: 'hr', v: Math.round(v.hr + n(2)), ts }, { t: 'spo2', v: Math.min(100, Math.round(v.spo2 + n(0.7))), ts },
      { t: 'temp', v: Math.round((v.temp + n(0.05)) * 10) / 10, ts }, { t: 'bp', v: [Math.round(v.sys + n(3)), 80], ts },
      { t: 'rr', v: Math.round(v.rr + n(0.7)), ts }, ...extra(i, ts))
  }
  return out
}

export interface Scenario {
  readonly name: string
  /** the abnormal vitals (normal when empty) */
  readonly vitals: Partial<Vitals>
  readonly extra?: (i: number, ts: number) => VitalReading[]
  /** the finding codes the analyzer must give a trace of it */
  readonly codes: readonly string[]
}

/** The 5 labelled scenarios. */
export const SCENARIOS: readonly Scenario[] = [
  { name: 'normal', vitals: {}, codes: [] },
  { name: 'fever', vitals: { temp: 38.9, hr: 92 }, codes: ['fever'] },
  { name: 'tachycardia', vitals: { hr: 126 }, codes: ['tachycardia'] },
  { name: 'hypoxia', vitals: { spo2: 87, hr: 90 }, codes: ['hypoxaemia'] },
  { name: 'fall', vitals: {}, extra: (i, ts) => i === 60 ? [{ t: 'fall', v: 1, ts }] : [], codes: ['fall'] }
]
