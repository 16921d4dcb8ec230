/**
 * A diagnosis as a FHIR R4 DiagnosticReport (http://hl7.org/fhir/R4/diagnosticreport.html):
 * status preliminary until a human doctor reviews it, conclusion text,
 * conclusionCode in SNOMED CT, and the NEWS2 total as a contained Observation.
 * Served by the FHIR API (hub/src/fhir) it also carries its id (htxd), the
 * tx_diag as its provenance, and cites the Observations of the batches the
 * doctor read (the tx_diag's causes, paper §IV-B5).
 */
import type { Diagnosis } from './analyzer.ts'

export interface ReportSubject {
  /** the patient's ID (hex) */
  user: string
  /** the doctor's ID (hex) */
  doctor: string
  issued: string
  /** resource id and identifier: the tx_diag's htxd (hex) */
  htxd?: string
  /** ids of the Observations the diagnosis was made from */
  results?: readonly string[]
}

export function toDiagnosticReport (d: Diagnosis, subject: ReportSubject): Record<string, unknown> {
  const cited = (subject.results ?? []).map((id) => ({ reference: `Observation/${id}` }))
  return {
    resourceType: 'DiagnosticReport',
    ...(subject.htxd === undefined
      ? {}
      : { id: subject.htxd, meta: { source: `urn:healthchain:tx-diag:${subject.htxd}` }, identifier: [{ system: 'urn:healthchain:tx-diag', value: subject.htxd }] }),
    status: d.status,
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0074', code: 'PHY', display: 'Physician' }] }],
    code: { coding: [{ system: 'http://loinc.org', code: '85353-1', display: 'Vital signs, weight, height, head circumference, oxygen saturation and BMI panel' }], text: 'Remote vital-signs review' },
    subject: { reference: `Patient/${subject.user}`, identifier: { system: 'urn:healthchain:user', value: subject.user } },
    performer: [{ identifier: { system: 'urn:healthchain:doctor', value: subject.doctor }, display: d.reviewedBy ?? d.analyzer }],
    issued: subject.issued,
    effectivePeriod: { start: new Date(d.readings.from).toISOString(), end: new Date(d.readings.to).toISOString() },
    contained: [{
      resourceType: 'Observation',
      id: 'news2',
      status: 'final',
      code: { text: 'NEWS2 total score' },
      valueInteger: d.news2.total,
      interpretation: [{ text: d.news2.risk }]
    }],
    result: [...cited, { reference: '#news2' }],
    conclusion: `${d.severity}: ${d.findings.map((f) => f.text).join('; ') || 'no abnormal findings'}. ${d.recommendation}`,
    conclusionCode: d.findings.map((f) => ({ coding: [{ system: 'http://snomed.info/sct', code: f.snomed, display: f.code }] }))
  }
}
