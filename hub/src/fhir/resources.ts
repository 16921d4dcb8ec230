/**
 * The FHIR R4 resources both daemons serve (http://hl7.org/fhir/R4/):
 * Patient (a Healthchain user: its ID is the Patient's id), Observation
 * (one reading: ingest/fhir.ts maps LOINC codes and UCUM units), the
 * DiagnosticReport of a tx_diag (ai/fhir.ts), OperationOutcome, Bundle and
 * the CapabilityStatement. Pure: the clock comes in as an argument.
 */
import { createHash } from 'node:crypto'
import type { Reading } from '../ingest/line.ts'
import type { SensorReading } from '../nodered/runtime.ts'
import { toObservation } from '../ingest/fhir.ts'
import { toDiagnosticReport } from '../ai/fhir.ts'
import type { IssueCode } from './errors.ts'
import { INCLUDES, MAX_COUNT, SEARCH_PARAMS, type ResourceType } from './search.ts'
import type { DiagnosisRef } from './source.ts'

export type Resource = Record<string, unknown>

export const FHIR_VERSION = '4.0.1'
export const FHIR_JSON = 'application/fhir+json'

/**
 * An Observation's id: 32 hex digits of SHA-256(patient ‖ device/boot/seq).
 * The reading's own name can pass FHIR's 64 characters, and two patients'
 * devices may share a name on a doctor node; a batch sealed twice (a lease
 * that expired, DESIGN §7) yields the same ids, so its readings count once.
 */
export function observationId (patient: string, r: Pick<SensorReading, 'd' | 'b' | 's'>): string {
  return createHash('sha256').update(`${patient}/${r.d}/${r.b}/${r.s}`).digest('hex').slice(0, 32)
}

export function readingOf (r: SensorReading): Reading {
  return { device: r.d, boot: r.b, seq: r.s, type: r.t as Reading['type'], value: r.v as number | number[], unit: r.u, ts: r.ts }
}

/** One reading of a batch, with what the Observation says of where it comes from. */
export interface ObservationEntry {
  readonly id: string
  readonly patient: string
  /** effective time: the hub's receive time (ms), else the tx_IoT's */
  readonly at: number
  readonly system: string
  readonly code: string
  readonly reading: SensorReading
  /** htxI (hex) of the tx_IoT whose batch carried it */
  readonly batch: string
  /** the tx_IoT's timestamp (ms) */
  readonly recorded: number
}

export function observation (e: ObservationEntry): Resource {
  return toObservation(readingOf(e.reading), { user: e.patient, receivedAt: e.at, id: e.id, batch: e.batch, issued: e.recorded })
}

export function patient (id: string, kind: 'hub' | 'doctor'): Resource {
  return {
    resourceType: 'Patient',
    id,
    identifier: [{ system: 'urn:healthchain:user', value: id }],
    active: true,
    text: {
      status: 'generated',
      div: `<div xmlns="http://www.w3.org/1999/xhtml">Healthchain user ${id}${kind === 'doctor' ? ' (data this doctor was granted)' : ''}</div>`
    }
  }
}

export function diagnosticReport (d: DiagnosisRef, results: readonly string[]): Resource {
  return toDiagnosticReport(d.diagnosis, { user: d.patient, doctor: d.doctor, issued: new Date(d.issued).toISOString(), htxd: d.id, results })
}

export interface Issue { readonly severity: 'fatal' | 'error' | 'warning' | 'information', readonly code: IssueCode, readonly text: string, readonly expression?: string }

export function operationOutcome (issues: readonly Issue[]): Resource {
  return {
    resourceType: 'OperationOutcome',
    issue: issues.map((i) => ({ severity: i.severity, code: i.code, diagnostics: i.text, ...(i.expression === undefined ? {} : { expression: [i.expression] }) }))
  }
}

export interface BundleEntry { readonly resource: Resource, readonly mode: 'match' | 'include' | 'outcome' }

/** A searchset Bundle with paging links (http://hl7.org/fhir/R4/http.html#paging). */
export function searchset (base: string, total: number, entries: readonly BundleEntry[], links: ReadonlyArray<{ relation: string, url: string }>, now: number): Resource {
  return {
    resourceType: 'Bundle',
    meta: { lastUpdated: new Date(now).toISOString() },
    type: 'searchset',
    total,
    link: links,
    entry: entries.map((e) => ({
      ...(e.resource.id === undefined ? {} : { fullUrl: `${base}/${String(e.resource.resourceType)}/${String(e.resource.id)}` }),
      resource: e.resource,
      search: { mode: e.mode }
    }))
  }
}

const PARAM_DOCS: Record<string, { type: string, documentation: string }> = {
  _id: { type: 'token', documentation: 'logical id; a comma matches any of several' },
  patient: { type: 'reference', documentation: 'Patient/<user ID> (64 hex digits)' },
  subject: { type: 'reference', documentation: 'the same as patient' },
  code: { type: 'token', documentation: 'system|code, code, |code or system|; a comma matches any (LOINC http://loinc.org, SNOMED CT, MDC)' },
  date: { type: 'date', documentation: 'prefixes eq (default), ne, gt, lt, ge, le, sa, eb; repeat to bound both ends; a time without zone is UTC' }
}

/** The CapabilityStatement at /metadata (http://hl7.org/fhir/R4/capabilitystatement.html). */
export function capabilityStatement (base: string, kind: 'hub' | 'doctor', date: string): Resource {
  const types: ResourceType[] = ['Patient', 'Observation', 'DiagnosticReport']
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date,
    publisher: 'Healthchain',
    kind: 'instance',
    software: { name: `Healthchain ${kind === 'hub' ? 'hub' : 'doctor node'} FHIR API` },
    implementation: { description: kind === 'hub' ? 'The user\'s own vitals and diagnoses, read from Userchain and the sealed batches' : 'The vitals and diagnoses of the patients whose key epochs grant this doctor', url: base },
    fhirVersion: FHIR_VERSION,
    format: ['json'],
    rest: [{
      mode: 'server',
      documentation: `Read-only. Searches return at most ${MAX_COUNT} entries per page (_count, _offset, next/previous links).`,
      security: {
        cors: false,
        service: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'OAuth', display: 'OAuth' }], text: 'the page login: a bearer token from its OAuth 2.0 password grant, or the page\'s session cookie' }],
        description: `Log in as on the pages (POST ${base}/token with username and password gives a bearer token; the page's session cookie works too). Everything but /metadata needs it.`
      },
      resource: types.map((type) => ({
        type,
        interaction: [{ code: 'read' }, { code: 'search-type' }],
        searchParam: SEARCH_PARAMS[type].map((name) => ({ name, type: PARAM_DOCS[name]!.type, documentation: PARAM_DOCS[name]!.documentation })),
        ...(INCLUDES[type].length === 0 ? {} : { searchInclude: [...INCLUDES[type]] }),
        ...(type === 'Patient'
          ? { operation: [{ name: 'everything', definition: 'http://hl7.org/fhir/OperationDefinition/Patient-everything', documentation: 'start and end (dates) bound the Observations and DiagnosticReports; without _count the whole range in one Bundle' }] }
          : {})
      }))
    }]
  }
}
