/**
 * The AI health analyzer (paper §III-A: a doctor node may be "an artificial
 * intelligence health analyzer"). Input: the decrypted readings of one or
 * more batches (the device line fields t, v, ts). Output: a structured
 * diagnosis — findings, the NEWS2 early-warning score, severity and a
 * recommendation, plus what readings it used. Pure and deterministic.
 *
 * Each vital is summarised by its worst sustained value: the medians of
 * every five consecutive readings, and of those the one NEWS2 scores
 * highest, so an episode anywhere in the batch counts and a lone spike
 * does not. Detectors add findings NEWS2 has no row for: falls, arrhythmia
 * (irregular R–R intervals on ECG) and deteriorating trends.
 */
import { news2, scorePulse, scoreRespRate, scoreSpo2Scale1, scoreSystolic, scoreTemperature, type News2Result, type Observations } from './news2.ts'
import { rPeaks, rrIrregularity, slopePerMinute, windowMedians } from './signals.ts'
import { distanceFromHealth, slopeText, vitalText, type Vital } from './units.ts'
import type { EpisodeRef } from './episodes.ts'

export type SensorType = 'hr' | 'spo2' | 'temp' | 'bp' | 'rr' | 'ecg' | 'fall'

/** One reading as carried in a batch (the device line's t, v, ts; d optional). */
export interface VitalReading {
  readonly t: SensorType | string
  readonly v: number | readonly number[]
  /** milliseconds */
  readonly ts: number
  readonly d?: string
}

export type Severity = 'routine' | 'low' | 'urgent' | 'emergency'
const SEVERITY_ORDER: Severity[] = ['routine', 'low', 'urgent', 'emergency']
export const maxSeverity = (a: Severity, b: Severity): Severity => SEVERITY_ORDER.indexOf(a) >= SEVERITY_ORDER.indexOf(b) ? a : b

export interface Finding {
  /** Stable code, also the scenario label in tests. */
  readonly code: 'hypoxaemia' | 'tachycardia' | 'bradycardia' | 'fever' | 'hypothermia' | 'hypotension' | 'hypertension' | 'tachypnoea' | 'bradypnoea' | 'fall' | 'arrhythmia' | 'deteriorating-trend'
  readonly text: string
  readonly severity: Severity
  /** SNOMED CT concept for the finding. */
  readonly snomed: string
}

export interface Diagnosis {
  readonly version: 1
  readonly analyzer: string
  readonly status: 'preliminary' | 'final'
  readonly severity: Severity
  readonly findings: readonly Finding[]
  readonly news2: News2Result
  readonly observations: Observations
  readonly recommendation: string
  readonly readings: { readonly count: number, readonly from: number, readonly to: number, readonly types: string[] }
  /** Filled by the doctor role: htxI (hex) of the tx_IoT whose batches were read. */
  readonly causes?: readonly string[]
  readonly reviewedBy?: string
  readonly note?: string
  /** Filled by the doctor role: the episode this diagnosis opens, updates or closes (episodes.ts). */
  readonly episode?: EpisodeRef
}

export const ANALYZER_ID = 'healthchain-news2/1'

const SNOMED: Record<Finding['code'], string> = {
  hypoxaemia: '389087006', tachycardia: '3424008', bradycardia: '48867003', fever: '386661006', hypothermia: '386689009',
  hypotension: '45007003', hypertension: '38341003', tachypnoea: '271823003', bradypnoea: '86684002', fall: '1912002',
  arrhythmia: '698247007', 'deteriorating-trend': '390772001'
}

function num (v: VitalReading['v'], i = 0): number | undefined {
  const x = typeof v === 'number' ? (i === 0 ? v : undefined) : v[i]
  return typeof x === 'number' && Number.isFinite(x) ? x : undefined
}

/** The window median that scores worst (ties: the one furthest from health, units.ts). */
function worst (values: readonly number[], score: (x: number) => number, vital: Vital): number | undefined {
  const meds = windowMedians(values)
  if (meds.length === 0) return undefined
  return meds.reduce((best, m) => {
    const d = score(m) - score(best)
    return d > 0 || (d === 0 && distanceFromHealth(vital, m) > distanceFromHealth(vital, best)) ? m : best
  })
}

export interface AnalyzeOptions {
  readonly onOxygen?: boolean
  readonly spo2Scale2?: boolean
  /** ECG sample rate when it cannot be derived from timestamps (default 250 Hz). */
  readonly ecgHz?: number
}

function finding (code: Finding['code'], text: string, severity: Severity): Finding {
  return { code, text, severity, snomed: SNOMED[code] }
}

const RISK_SEVERITY = { low: 'low', 'low-medium': 'urgent', medium: 'urgent', high: 'emergency' } as const

export function analyze (readings: readonly VitalReading[], opts: AnalyzeOptions = {}): Diagnosis {
  const valid = readings.filter((r) => r !== null && typeof r === 'object' && typeof r.ts === 'number' && Number.isFinite(r.ts))
  const by = (t: string): VitalReading[] => valid.filter((r) => r.t === t).sort((a, b) => a.ts - b.ts)
  const series = (t: string, i = 0): number[] => by(t).map((r) => num(r.v, i)).filter((x): x is number => x !== undefined)

  const obs: { -readonly [K in keyof Observations]: Observations[K] } = {}
  const hr = series('hr')
  const spo2 = series('spo2')
  const temp = series('temp')
  const sys = series('bp', 0)
  const rr = series('rr')
  if (rr.length > 0) obs.respRate = worst(rr, scoreRespRate, 'rr')
  if (spo2.length > 0) obs.spo2 = worst(spo2, scoreSpo2Scale1, 'spo2')
  if (sys.length > 0) obs.systolic = worst(sys, scoreSystolic, 'bp')
  if (hr.length > 0) obs.pulse = worst(hr, scorePulse, 'hr')
  if (temp.length > 0) obs.temperature = worst(temp, scoreTemperature, 'temp')
  if (opts.onOxygen !== undefined) obs.onOxygen = opts.onOxygen
  if (opts.spo2Scale2 === true) obs.spo2Scale2 = true
  const score = news2(obs)
  const sub = score.subscores
  const findings: Finding[] = []
  const sevOf = (s: number | undefined): Severity => s === undefined || s === 0 ? 'routine' : s >= 3 ? 'urgent' : 'low'

  // every value is printed by units.ts, as the pages print it
  if (obs.spo2 !== undefined && (sub.spo2 ?? 0) > 0) findings.push(finding('hypoxaemia', `SpO₂ ${vitalText('spo2', obs.spo2)} sustained`, sevOf(sub.spo2)))
  if (obs.pulse !== undefined && obs.pulse > 100) findings.push(finding('tachycardia', `heart rate ${vitalText('hr', obs.pulse)} sustained`, sevOf(sub.pulse)))
  if (obs.pulse !== undefined && obs.pulse < 50) findings.push(finding('bradycardia', `heart rate ${vitalText('hr', obs.pulse)} sustained`, sevOf(sub.pulse)))
  if (obs.temperature !== undefined && obs.temperature >= 38.1) findings.push(finding('fever', `temperature ${vitalText('temp', obs.temperature)}`, sevOf(sub.temperature)))
  if (obs.temperature !== undefined && obs.temperature <= 35.0) findings.push(finding('hypothermia', `temperature ${vitalText('temp', obs.temperature)}`, sevOf(sub.temperature)))
  if (obs.systolic !== undefined && obs.systolic <= 100) findings.push(finding('hypotension', `systolic ${vitalText('bp', obs.systolic)}`, sevOf(sub.systolic)))
  if (obs.systolic !== undefined && obs.systolic >= 180) findings.push(finding('hypertension', `systolic ${vitalText('bp', obs.systolic)}`, obs.systolic >= 220 ? 'urgent' : 'low'))
  if (obs.respRate !== undefined && obs.respRate >= 21) findings.push(finding('tachypnoea', `respiratory rate ${vitalText('rr', obs.respRate)}`, sevOf(sub.respRate)))
  if (obs.respRate !== undefined && obs.respRate <= 11) findings.push(finding('bradypnoea', `respiratory rate ${vitalText('rr', obs.respRate)}`, sevOf(sub.respRate)))

  const falls = by('fall').filter((r) => (num(r.v) ?? 0) > 0)
  if (falls.length > 0) findings.push(finding('fall', `${falls.length} fall event(s) detected`, 'urgent'))

  const ecg = by('ecg')
  if (ecg.length > 0) {
    const samples = ecg.flatMap((r) => typeof r.v === 'number' ? [r.v] : [...r.v])
    const span = ecg.length > 1 ? (ecg[ecg.length - 1]!.ts - ecg[0]!.ts) / 1000 : 0
    const perReading = samples.length / ecg.length
    const hz = span > 0 ? perReading * (ecg.length - 1) / span : (opts.ecgHz ?? 250)
    const { cv, meanRr } = rrIrregularity(rPeaks(samples, hz))
    if (cv > 0.15) findings.push(finding('arrhythmia', `irregular R–R intervals (CV ${cv.toFixed(2)}, mean ${Math.round(60 * hz / meanRr)} /min)`, 'urgent'))
  }

  // a trend counts when it is steep and its fitted change over the readings is larger than the
  // sensor's noise (±1 % of SpO₂ over one minute is a steep slope but no trend)
  const trendOf = (t: string): { slope: number, change: number } => {
    const pts = by(t).map((r) => ({ t: r.ts, y: num(r.v) ?? NaN })).filter((p) => Number.isFinite(p.y))
    const slope = slopePerMinute(pts)
    return { slope, change: pts.length < 5 ? 0 : slope * (pts[pts.length - 1]!.t - pts[0]!.t) / 60_000 }
  }
  const spo2Trend = trendOf('spo2')
  const hrTrend = trendOf('hr')
  // only the trends that crossed their threshold are named (a steady heart rate is not a trend)
  const trends = [
    ...(spo2Trend.slope <= -1 && spo2Trend.change <= -3 ? [`SpO₂ ${slopeText('spo2', spo2Trend.slope)}`] : []),
    ...(hrTrend.slope >= 10 && hrTrend.change >= 15 ? [`heart rate ${slopeText('hr', hrTrend.slope)}`] : [])
  ]
  if (trends.length > 0) findings.push(finding('deteriorating-trend', `worsening trend: ${trends.join(', ')}`, 'low'))

  let severity: Severity = score.total === 0 ? 'routine' : RISK_SEVERITY[score.risk]
  for (const f of findings) severity = maxSeverity(severity, f.severity)
  const recommendation = severity === 'emergency'
    ? `Emergency: ${score.response}. Call the patient and emergency services now.`
    : severity === 'urgent'
      ? `Urgent: ${score.response}. Contact the patient within the hour.`
      : severity === 'low' ? `Low risk: ${score.response}. Review at the next routine check.` : 'No action needed; continue monitoring.'
  const times = valid.map((r) => r.ts)
  return {
    version: 1,
    analyzer: ANALYZER_ID,
    status: 'preliminary',
    severity,
    findings,
    news2: score,
    observations: obs,
    recommendation,
    readings: { count: valid.length, from: times.length > 0 ? Math.min(...times) : 0, to: times.length > 0 ? Math.max(...times) : 0, types: [...new Set(valid.map((r) => String(r.t)))].sort() }
  }
}

/** A human doctor reviews the analyzer's output: signs it as is, or amends severity/note. */
export function review (d: Diagnosis, reviewer: string, amend: { severity?: Severity, note?: string } = {}): Diagnosis {
  return { ...d, status: 'final', reviewedBy: reviewer, ...(amend.severity === undefined ? {} : { severity: amend.severity }), ...(amend.note === undefined ? {} : { note: amend.note }) }
}
