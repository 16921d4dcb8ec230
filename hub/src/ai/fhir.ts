/**
 * A diagnosis as a FHIR R4 DiagnosticReport (http://hl7.org/fhir/R4/diagnosticreport.html):
 * status preliminary until a human doctor reviews it, conclusion text,
 * conclusionCode in SNOMED CT, and the NEWS2 total as a contained Observation.
 */
import type { Diagnosis } from './analyzer.ts'

export function toDiagnosticReport (d: Diagnosis, subject: { user: string, doctor: string, issued: string }): Record<string, unknown> {
  return {
    resourceType: 'DiagnosticReport',
    status: d.status,
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0074', code: 'PHY', display: 'Physician' }] }],
    code: { coding: [{ system: 'http://loinc.org', code: '85353-1', display: 'Vital signs, weight, height, head circumference, oxygen saturation and BMI panel' }], text: 'Remote vital-signs review' },
    subject: { identifier: { system: 'urn:healthchain:user', value: subject.user } },
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
    result: [{ reference: '#news2' }],
    conclusion: `${d.severity}: ${d.findings.map((f) => f.text).join('; ') || 'no abnormal findings'}. ${d.recommendation}`,
    conclusionCode: d.findings.map((f) => ({ coding: [{ system: 'http://snomed.info/sct', code: f.snomed, display: f.code }] }))
  }
}
