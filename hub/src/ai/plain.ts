/**
 * The patient's voice of a diagnosis: what was seen, what to do and whom to
 * call, in plain words (the clinical text — NEWS2, the Royal College of
 * Physicians' ward responses — is written for staff and stays behind a
 * disclosure on the patient page). Numbers come from the diagnosis'
 * observations, printed by units.ts like everywhere else.
 */
import type { Finding, Severity } from './analyzer.ts'
import type { Observations } from './news2.ts'
import { vitalText } from './units.ts'

type Code = Finding['code']
const v = (t: Parameters<typeof vitalText>[0], x: number | undefined): string => x === undefined ? '' : ` (${vitalText(t, x)})`

const SEEN: Record<Code, (o: Observations) => string> = {
  hypoxaemia: (o) => `Your blood oxygen stayed low${v('spo2', o.spo2)}.`,
  tachycardia: (o) => `Your heart beat fast for a while${v('hr', o.pulse)}.`,
  bradycardia: (o) => `Your heart beat slowly for a while${v('hr', o.pulse)}.`,
  fever: (o) => `You have a fever${v('temp', o.temperature)}.`,
  hypothermia: (o) => `Your body temperature is low${v('temp', o.temperature)}.`,
  hypotension: (o) => `Your blood pressure is low${v('bp', o.systolic)}.`,
  hypertension: (o) => `Your blood pressure is high${v('bp', o.systolic)}.`,
  tachypnoea: (o) => `You were breathing fast${v('rr', o.respRate)}.`,
  bradypnoea: (o) => `You were breathing slowly${v('rr', o.respRate)}.`,
  fall: () => 'A fall was detected.',
  arrhythmia: () => 'Your heartbeat was irregular.',
  'deteriorating-trend': () => 'Your readings were getting worse over time.'
}

/** Short plain names for a card's heading. */
export const PLAIN_NAME: Record<Code, string> = {
  hypoxaemia: 'Low blood oxygen', tachycardia: 'Fast heartbeat', bradycardia: 'Slow heartbeat', fever: 'Fever', hypothermia: 'Low body temperature',
  hypotension: 'Low blood pressure', hypertension: 'High blood pressure', tachypnoea: 'Fast breathing', bradypnoea: 'Slow breathing', fall: 'Fall',
  arrhythmia: 'Irregular heartbeat', 'deteriorating-trend': 'Worsening readings'
}

const TODO: Record<Severity, string> = {
  emergency: 'Call the emergency number now, or ask someone to call for you. Do not stay alone.',
  urgent: 'Sit upright and rest. Your doctor should contact you within the hour; if you feel short of breath, confused or faint, call the emergency number.',
  low: 'Nothing urgent: keep your sensors on. Your doctor will look at it at your next check-up.',
  routine: 'Your readings are back to normal. Nothing to do.'
}

const CALL: Record<Severity, (doctor: string) => string> = {
  emergency: () => 'The emergency number (112 in Europe, 911 in North America).',
  urgent: (d) => `${d}. If you cannot reach them, the emergency number.`,
  low: (d) => `${d}, at your next appointment.`,
  routine: () => 'No one.'
}

export interface PlainText {
  readonly seen: string
  readonly todo: string
  readonly call: string
}

/** The plain summary of a diagnosis for the patient; `doctor` names who to call. */
export function plainSummary (d: { readonly severity: Severity, readonly findings: ReadonlyArray<{ readonly code: string }>, readonly observations: Observations }, doctor = 'Your doctor'): PlainText {
  const seen = d.findings.map((f) => SEEN[f.code as Code]?.(d.observations)).filter((x): x is string => x !== undefined)
  return {
    seen: seen.length === 0 ? 'Your readings were in the normal range.' : seen.join(' '),
    todo: TODO[d.severity],
    call: CALL[d.severity](doctor)
  }
}

export function plainName (code: string): string { return PLAIN_NAME[code as Code] ?? code }
