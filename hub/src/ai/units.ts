/**
 * Every number the pages and the analyzer show about a vital sign, in one
 * place: its unit, its rounding and its words. The alert, the vitals tile
 * and the diagnosis all print a value through `vitalText`, so the same
 * measurement reads the same everywhere; the clinical ranges of the charts
 * (fixed per vital, with the NEWS2 zero-score band as "normal") are here too.
 */

export type Vital = 'spo2' | 'hr' | 'temp' | 'bp' | 'rr'

interface VitalSpec {
  /** plain name (patient) */
  readonly name: string
  /** short clinical name (doctor, charts) */
  readonly short: string
  readonly unit: string
  readonly decimals: number
  /** the chart's fixed y range: a wobble of one point never looks like a crash */
  readonly range: readonly [number, number]
  /** the NEWS2 chart 1 band that scores 0 (shaded on the charts) */
  readonly normal: readonly [number, number]
}

export const VITALS: Readonly<Record<Vital, VitalSpec>> = {
  spo2: { name: 'blood oxygen', short: 'SpO₂', unit: '%', decimals: 0, range: [80, 100], normal: [96, 100] },
  hr: { name: 'heart rate', short: 'Heart rate', unit: '/min', decimals: 0, range: [40, 160], normal: [51, 90] },
  temp: { name: 'temperature', short: 'Temperature', unit: '°C', decimals: 1, range: [34, 41], normal: [36.1, 38.0] },
  bp: { name: 'blood pressure (upper number)', short: 'Systolic', unit: 'mmHg', decimals: 0, range: [60, 200], normal: [111, 219] },
  rr: { name: 'breathing rate', short: 'Respiratory rate', unit: '/min', decimals: 0, range: [4, 40], normal: [12, 20] }
}

export function isVital (t: string): t is Vital { return Object.hasOwn(VITALS, t) }

/** A vital's value rounded as it is shown (the one rounding rule). */
export function roundVital (t: Vital, v: number): number {
  const f = 10 ** VITALS[t].decimals
  return Math.round(v * f) / f
}

/** "85 %", "36.8 °C", "96 /min": value and unit as every page shows them. */
export function vitalText (t: Vital, v: number): string {
  const s = VITALS[t]
  return `${roundVital(t, v).toFixed(s.decimals)} ${s.unit}`
}

/** A rate of change: "−4.5 % per minute". */
export function slopeText (t: Vital, perMinute: number): string {
  const x = Math.round(perMinute * 10) / 10
  return `${x < 0 ? '−' : x > 0 ? '+' : ''}${Math.abs(x).toFixed(1)} ${VITALS[t].unit} per minute`
}
