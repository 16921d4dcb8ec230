/**
 * Every number the pages and the analyzer show about a vital sign, in one
 * place: its unit, its rounding and its words. The alert, the vitals tile
 * and the diagnosis all print a value through `vitalText`, so the same
 * measurement reads the same everywhere; the clinical ranges of the charts
 * (fixed per vital, with the NEWS2 zero-score band as "normal") are here too.
 */

import type { Observations } from './news2.ts'

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
  /** the middle of health: of two values scoring the same, the one further from it is the worse */
  readonly target: number
  /** a move this much further from `target` is a material change (an episode worsened), beyond sensor noise */
  readonly step: number
  /** the analyzer's observation this vital is */
  readonly observation: keyof Observations
}

export const VITALS: Readonly<Record<Vital, VitalSpec>> = {
  spo2: { name: 'blood oxygen', short: 'SpO₂', unit: '%', decimals: 0, range: [80, 100], normal: [96, 100], target: 98, step: 3, observation: 'spo2' },
  hr: { name: 'heart rate', short: 'Heart rate', unit: '/min', decimals: 0, range: [40, 160], normal: [51, 90], target: 70, step: 15, observation: 'pulse' },
  temp: { name: 'temperature', short: 'Temperature', unit: '°C', decimals: 1, range: [34, 41], normal: [36.1, 38.0], target: 37, step: 0.5, observation: 'temperature' },
  bp: { name: 'blood pressure (upper number)', short: 'Systolic', unit: 'mmHg', decimals: 0, range: [60, 200], normal: [111, 219], target: 125, step: 15, observation: 'systolic' },
  rr: { name: 'breathing rate', short: 'Respiratory rate', unit: '/min', decimals: 0, range: [4, 40], normal: [12, 20], target: 16, step: 4, observation: 'respRate' }
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

/** The vital an analyzer observation is (pulse → hr …). */
export function vitalOf (observation: keyof Observations): Vital | undefined {
  return (Object.keys(VITALS) as Vital[]).find((v) => VITALS[v].observation === observation)
}

/** How far a value is from health (0 at the target). */
export function distanceFromHealth (t: Vital, v: number): number { return Math.abs(v - VITALS[t].target) }
