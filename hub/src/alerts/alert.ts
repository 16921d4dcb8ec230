/**
 * One alert the hub sends out, the same on every channel: a finding a doctor
 * signed on the patient's readings (preliminary: gossiped before Docchain
 * commits it, paper §IV-B3's real-time path; certified: read from a
 * committed Dblock), a paired sensor gone silent, or a test from the page.
 */
export type AlertKind = 'preliminary' | 'diagnosis' | 'silent-sensor' | 'test'

export interface Alert {
  /** Stable per event: the tx_diag id, or `silent:<device>:<since>`, or `test:<time>`; receivers may use it to drop repeats (a retry after a lost answer). */
  readonly id: string
  readonly kind: AlertKind
  /** routine, low, urgent, emergency (findings); urgent for a silent sensor; low for a test. */
  readonly severity: string
  /** One line for a notification title or a sensor's state. */
  readonly title: string
  /** The plain text for the patient (what was seen, what to do, whom to call). */
  readonly text: string
  /** Milliseconds since 1970, when the hub raised it. */
  readonly at: number
  readonly patient: string
  readonly device?: string
}

/** The JSON every channel carries (the webhook's body, the MQTT state payload, the e-mail's attachment-free text source). */
export function alertJson (a: Alert): Record<string, unknown> {
  return { id: a.id, kind: a.kind, severity: a.severity, title: a.title, text: a.text, at: new Date(a.at).toISOString(), patient: a.patient, ...(a.device === undefined ? {} : { device: a.device }) }
}
