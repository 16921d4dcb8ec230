/**
 * NEWS2 — National Early Warning Score 2 (Royal College of Physicians, 2017),
 * chart 1 (scoring) and chart 2 (clinical response). Pure functions over one
 * set of observations. SpO2 uses Scale 1 unless `spo2Scale2` is set (Scale 2
 * is for patients with hypercapnic respiratory failure, prescribed by a
 * clinician).
 */

export interface Observations {
  /** breaths per minute */
  respRate?: number
  /** % */
  spo2?: number
  /** true when on supplemental oxygen */
  onOxygen?: boolean
  /** use SpO2 Scale 2 (target 88–92 %) */
  spo2Scale2?: boolean
  /** mmHg */
  systolic?: number
  /** beats per minute */
  pulse?: number
  /** ACVPU: 'A' alert, anything else (new confusion, voice, pain, unresponsive) scores 3 */
  consciousness?: 'A' | 'C' | 'V' | 'P' | 'U'
  /** °C */
  temperature?: number
}

export type Parameter = 'respRate' | 'spo2' | 'air' | 'systolic' | 'pulse' | 'consciousness' | 'temperature'

/** Chart 2 clinical risk: low (0–4), low-medium (a single red 3), medium (5–6), high (≥ 7). */
export type Risk = 'low' | 'low-medium' | 'medium' | 'high'

export interface News2Result {
  readonly total: number
  readonly subscores: Partial<Record<Parameter, number>>
  readonly risk: Risk
  /** Chart 2 response. */
  readonly response: string
  /** Parameters that were measured. */
  readonly measured: Parameter[]
}

export function scoreRespRate (r: number): number {
  if (r <= 8) return 3
  if (r <= 11) return 1
  if (r <= 20) return 0
  if (r <= 24) return 2
  return 3
}

export function scoreSpo2Scale1 (s: number): number {
  if (s <= 91) return 3
  if (s <= 93) return 2
  if (s <= 95) return 1
  return 0
}

export function scoreSpo2Scale2 (s: number, onOxygen: boolean): number {
  if (s <= 83) return 3
  if (s <= 85) return 2
  if (s <= 87) return 1
  if (s <= 92 || !onOxygen) return 0
  if (s <= 94) return 1
  if (s <= 96) return 2
  return 3
}

export function scoreSystolic (p: number): number {
  if (p <= 90) return 3
  if (p <= 100) return 2
  if (p <= 110) return 1
  if (p <= 219) return 0
  return 3
}

export function scorePulse (p: number): number {
  if (p <= 40) return 3
  if (p <= 50) return 1
  if (p <= 90) return 0
  if (p <= 110) return 1
  if (p <= 130) return 2
  return 3
}

export function scoreTemperature (t: number): number {
  // chart bands are to one decimal: ≤35.0 | 35.1–36.0 | 36.1–38.0 | 38.1–39.0 | ≥39.1
  const x = Math.round(t * 10) / 10
  if (x <= 35.0) return 3
  if (x <= 36.0) return 1
  if (x <= 38.0) return 0
  if (x <= 39.0) return 1
  return 2
}

const RESPONSE: Record<Risk, string> = {
  low: 'ward-based response: assessment by a competent registered nurse',
  'low-medium': 'urgent ward-based response: registered nurse to inform the medical team',
  medium: 'key threshold for urgent response: urgent review by a clinician competent in acute illness',
  high: 'urgent or emergency response: emergency assessment by a critical-care team'
}

export function news2 (o: Observations): News2Result {
  const s: Partial<Record<Parameter, number>> = {}
  if (o.respRate !== undefined) s.respRate = scoreRespRate(o.respRate)
  if (o.spo2 !== undefined) s.spo2 = o.spo2Scale2 === true ? scoreSpo2Scale2(o.spo2, o.onOxygen === true) : scoreSpo2Scale1(o.spo2)
  if (o.onOxygen !== undefined) s.air = o.onOxygen ? 2 : 0
  if (o.systolic !== undefined) s.systolic = scoreSystolic(o.systolic)
  if (o.pulse !== undefined) s.pulse = scorePulse(o.pulse)
  if (o.consciousness !== undefined) s.consciousness = o.consciousness === 'A' ? 0 : 3
  if (o.temperature !== undefined) s.temperature = scoreTemperature(o.temperature)
  const values = Object.values(s)
  const total = values.reduce((a, b) => a + b, 0)
  const risk: Risk = total >= 7 ? 'high' : total >= 5 ? 'medium' : values.includes(3) ? 'low-medium' : 'low'
  return { total, subscores: s, risk, response: RESPONSE[risk], measured: Object.keys(s) as Parameter[] }
}
