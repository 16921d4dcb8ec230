/**
 * A reading as a FHIR R4 Observation (http://hl7.org/fhir/R4/observation.html,
 * vital-signs profile http://hl7.org/fhir/R4/observation-vitalsigns.html),
 * with LOINC codes and UCUM units. ECG samples become a SampledData value;
 * blood pressure is the LOINC panel 85354-9 with systolic/diastolic
 * components; a fall is a yes/no finding.
 */
import type { Reading, SensorType } from './line.ts'

interface Code { system: string, code: string, display: string }

const LOINC_SYSTEM = 'http://loinc.org'
const MDC_SYSTEM = 'urn:iso:std:iso:11073:10101'
const SNOMED = 'http://snomed.info/sct'
const UCUM = 'http://unitsofmeasure.org'

/**
 * The code of each sensor type: LOINC vital-signs codes; ECG lead samples
 * as the ISO/IEEE 11073 MDC code (LOINC has no code for raw samples); a
 * fall as the SNOMED CT event.
 */
export const CODES: Record<SensorType, Code> = {
  hr: { system: LOINC_SYSTEM, code: '8867-4', display: 'Heart rate' },
  spo2: { system: LOINC_SYSTEM, code: '59408-5', display: 'Oxygen saturation in Arterial blood by Pulse oximetry' },
  temp: { system: LOINC_SYSTEM, code: '8310-5', display: 'Body temperature' },
  bp: { system: LOINC_SYSTEM, code: '85354-9', display: 'Blood pressure panel with all children optional' },
  rr: { system: LOINC_SYSTEM, code: '9279-1', display: 'Respiratory rate' },
  ecg: { system: MDC_SYSTEM, code: '131328', display: 'MDC_ECG_ELEC_POTL: ECG lead potential' },
  fall: { system: SNOMED, code: '1912002', display: 'Fall' }
}
export const LOINC_SYSTOLIC: Code = { system: LOINC_SYSTEM, code: '8480-6', display: 'Systolic blood pressure' }
export const LOINC_DIASTOLIC: Code = { system: LOINC_SYSTEM, code: '8462-4', display: 'Diastolic blood pressure' }

function codeable (c: Code): Record<string, unknown> {
  return { coding: [{ system: c.system, code: c.code, display: c.display }], text: c.display }
}

function quantity (value: number, unit: string): Record<string, unknown> {
  return { value, unit, system: UCUM, code: unit }
}

export interface ObservationContext {
  /** the user (patient) the device belongs to */
  user: string
  /** when the hub received the reading (ms since epoch), the effective time */
  receivedAt: number
  /** ECG sampling period in ms (default 4 ms = 250 Hz) */
  ecgPeriodMs?: number
  /** The resource id (default device-boot-seq, which may pass FHIR's 64 characters) */
  id?: string
  /** Provenance: the tx_IoT (htxI, hex) whose sealed batch carried the reading; becomes meta.source */
  batch?: string
  /** When the reading was recorded on Userchain (the tx_IoT's ts, ms): Observation.issued */
  issued?: number
}

/**
 * Provenance of a reading: the tx_IoT that recorded its sealed batch on
 * Userchain (paper Alg. 2), as a URI for Observation.meta.source.
 */
export function batchSource (htxI: string): string { return `urn:healthchain:tx-iot:${htxI}` }

/** The FHIR Observation of one reading. */
export function toObservation (r: Reading, ctx: ObservationContext): Record<string, unknown> {
  const obs: Record<string, unknown> = {
    resourceType: 'Observation',
    id: ctx.id ?? `${r.device}-${r.boot}-${r.seq}`,
    ...(ctx.batch === undefined ? {} : { meta: { source: batchSource(ctx.batch) } }),
    identifier: [{ system: 'urn:healthchain:reading', value: `${r.device}/${r.boot}/${r.seq}` }],
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: r.type === 'fall' ? 'survey' : 'vital-signs' }] }],
    code: codeable(CODES[r.type]),
    subject: { reference: `Patient/${ctx.user}`, identifier: { system: 'urn:healthchain:user', value: ctx.user } },
    effectiveDateTime: new Date(ctx.receivedAt).toISOString(),
    ...(ctx.issued === undefined ? {} : { issued: new Date(ctx.issued).toISOString() }),
    device: { identifier: { system: 'urn:healthchain:device', value: r.device }, display: `device ${r.device} (boot ${r.boot}, reading ${r.seq})` }
  }
  switch (r.type) {
    case 'bp': {
      const [sys, dia] = r.value as number[]
      obs.component = [
        { code: codeable(LOINC_SYSTOLIC), valueQuantity: quantity(sys!, r.unit) },
        { code: codeable(LOINC_DIASTOLIC), valueQuantity: quantity(dia!, r.unit) }
      ]
      break
    }
    case 'ecg':
      obs.valueSampledData = {
        origin: quantity(0, r.unit),
        period: ctx.ecgPeriodMs ?? 4,
        dimensions: 1,
        data: (r.value as number[]).join(' ')
      }
      break
    case 'fall':
      obs.valueBoolean = true
      break
    default:
      obs.valueQuantity = quantity(r.value as number, r.unit)
  }
  return obs
}
