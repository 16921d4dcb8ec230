/**
 * Reads and searches over a FhirSource (source.ts), the same code on the
 * hub and on the doctor node. A batch is opened (fetched, decrypted,
 * decoded) once and its readings kept as Observation entries in a bounded
 * cache (least recently used batches go first); batches this node cannot
 * open are withheld and said so in an OperationOutcome of the Bundle. Access
 * is checked per patient before anything is read: a patient never granted is
 * refused (403 with the reason), and on a doctor node revoked by a later
 * key epoch a search for data after the revocation only is refused too — a
 * search reaching back before it is served what was granted, with a warning.
 */
import { HealthchainError } from '../core/index.ts'
import { CODES } from '../ingest/fhir.ts'
import { decodeBatch } from '../nodered/batcher.ts'
import { AccessDeniedError, ResourceNotFoundError } from './errors.ts'
import { diagnosticReport, observation, observationId, patient, type BundleEntry, type Issue, type ObservationEntry, type Resource } from './resources.ts'
import { dateMatches, tokenMatches, type DateTest, type Search } from './search.ts'
import type { BatchRef, DiagnosisRef, FhirSource } from './source.ts'

/** A reading is received before the tx_IoT of its batch is built: a batch recorded this long before a search's lower bound holds nothing for it. */
const RECORD_SLACK_MS = 10 * 60_000
const REPORT_CODE = { system: 'http://loinc.org', code: '85353-1' }

export interface Found {
  readonly total: number
  readonly entries: BundleEntry[]
}

/** Lower bound (ms) of what a set of date tests can match, or -Infinity. */
function lowerBound (dates: readonly DateTest[]): number {
  let lo = -Infinity
  for (const t of dates) {
    if (t.prefix === 'eq' || t.prefix === 'ge') lo = Math.max(lo, t.lo)
    if (t.prefix === 'gt' || t.prefix === 'sa') lo = Math.max(lo, t.hi + 1)
  }
  return lo
}

export class FhirRepository {
  readonly source: FhirSource
  private readonly log: (line: string) => void
  private readonly maxCached: number
  /** batch id → its Observation entries (null: does not decode); insertion order = least recently used first */
  private readonly cache = new Map<string, ObservationEntry[] | null>()
  private cached = 0

  constructor (source: FhirSource, opts: { maxCachedReadings?: number, log?: (line: string) => void } = {}) {
    this.source = source
    this.log = opts.log ?? (() => {})
    this.maxCached = opts.maxCachedReadings ?? 200_000
  }

  /** The patients a query covers, each checked; a named patient this node may not serve throws. */
  private async patients (named: string | undefined, issues: Issue[]): Promise<Array<{ id: string, revokedAt?: number }>> {
    if (named !== undefined && !/^[0-9a-f]{64}$/.test(named)) throw new ResourceNotFoundError('Patient', named.slice(0, 80))
    const ids = named === undefined ? await this.source.patients() : [named]
    const out: Array<{ id: string, revokedAt?: number }> = []
    for (const id of ids) {
      const a = await this.source.access(id)
      if (!a.ok) {
        if (named === undefined) continue
        if (a.status === 404) throw new ResourceNotFoundError('Patient', id)
        throw new AccessDeniedError(id, a.reason)
      }
      if (a.revoked !== undefined) {
        issues.push({ severity: 'warning', code: 'suppressed', text: `patient ${id}: this doctor's access was revoked by key epoch ${a.revoked.epoch} at ${new Date(a.revoked.at).toISOString()}: nothing sealed after it is served` })
        out.push({ id, revokedAt: a.revoked.at })
      } else out.push({ id })
    }
    return out
  }

  /** Refuses a query that can only match data sealed after the patient's revocation. */
  private afterRevocation (p: { id: string, revokedAt?: number }, dates: readonly DateTest[]): void {
    if (p.revokedAt !== undefined && lowerBound(dates) >= p.revokedAt) {
      throw new AccessDeniedError(p.id, `access was revoked at ${new Date(p.revokedAt).toISOString()} (a later key epoch no longer names this doctor): data after it cannot be read here`)
    }
  }

  private remember (id: string, v: ObservationEntry[] | null): void {
    this.cache.set(id, v)
    this.cached += v?.length ?? 0
    while (this.cached > this.maxCached && this.cache.size > 1) {
      const [k, old] = this.cache.entries().next().value as [string, ObservationEntry[] | null]
      this.cache.delete(k)
      this.cached -= old?.length ?? 0
    }
  }

  /**
   * The Observation entries of one batch (opened once, then from the cache).
   * A batch that does not open or decode is the sealer's fault: remembered
   * as such ('bad') and withheld; one that cannot be fetched now (storage
   * nodes unreachable) is withheld this time only ('unavailable').
   */
  async entries (b: BatchRef): Promise<{ list: ObservationEntry[], state: 'ok' | 'bad' | 'unavailable' }> {
    const hit = this.cache.get(b.id)
    if (hit !== undefined) { this.cache.delete(b.id); this.cache.set(b.id, hit); return hit === null ? { list: [], state: 'bad' } : { list: hit, state: 'ok' } }
    let plain: Uint8Array
    try { plain = await this.source.open(b) } catch (err) {
      if (err instanceof HealthchainError) { this.bad(b, err); return { list: [], state: 'bad' } }
      this.log(`fhir: batch ${b.id.slice(0, 12)}… of ${b.patient.slice(0, 12)}… not fetched: ${(err as Error).message}`)
      return { list: [], state: 'unavailable' }
    }
    let list: ObservationEntry[]
    try {
      list = decodeBatch(plain).map((r) => {
        const c = CODES[r.t as keyof typeof CODES]
        return { id: observationId(b.patient, r), patient: b.patient, at: r.at ?? b.ts, system: c?.system ?? '', code: c?.code ?? '', reading: r, batch: b.id, recorded: b.ts }
      })
    } catch (err) {
      if (!(err instanceof HealthchainError)) throw err
      this.bad(b, err)
      return { list: [], state: 'bad' }
    }
    this.remember(b.id, list)
    return { list, state: 'ok' }
  }

  private bad (b: BatchRef, err: Error): void {
    this.log(`fhir: batch ${b.id.slice(0, 12)}… of ${b.patient.slice(0, 12)}… withheld: ${err.message}`)
    this.remember(b.id, null)
  }

  /** Every Observation entry of a patient that may match `dates`, deduplicated, with the batches withheld and why. */
  private async observationsOf (p: { id: string, revokedAt?: number }, dates: readonly DateTest[]): Promise<{ list: ObservationEntry[], withheld: number, undecodable: number, unavailable: number }> {
    const lo = lowerBound(dates)
    const seen = new Set<string>()
    const list: ObservationEntry[] = []
    let withheld = 0
    let undecodable = 0
    let unavailable = 0
    for (const b of await this.source.batches(p.id)) {
      if (!b.readable) { withheld++; continue }
      if (b.ts + RECORD_SLACK_MS < lo) continue
      const r = await this.entries(b)
      if (r.state === 'bad') undecodable++
      if (r.state === 'unavailable') unavailable++
      for (const e of r.list) if (!seen.has(e.id)) { seen.add(e.id); list.push(e) }
    }
    return { list, withheld, undecodable, unavailable }
  }

  private withheldIssues (p: string, w: { withheld: number, undecodable: number, unavailable: number }, issues: Issue[]): void {
    if (w.withheld > 0) issues.push({ severity: 'information', code: 'suppressed', text: `patient ${p}: ${w.withheld} batch(es) sealed under key epochs this node holds no key for are not served` })
    if (w.undecodable > 0) issues.push({ severity: 'warning', code: 'exception', text: `patient ${p}: ${w.undecodable} batch(es) did not open or decode and are not served` })
    if (w.unavailable > 0) issues.push({ severity: 'warning', code: 'incomplete', text: `patient ${p}: ${w.unavailable} batch(es) could not be fetched from storage now and are missing from this answer: try again` })
  }

  async searchObservations (s: Search, issues: Issue[]): Promise<ObservationEntry[]> {
    const out: ObservationEntry[] = []
    for (const p of await this.patients(s.patient, issues)) {
      this.afterRevocation(p, s.dates)
      const { list, ...w } = await this.observationsOf(p, s.dates)
      this.withheldIssues(p.id, w, issues)
      for (const e of list) {
        if (s.ids !== undefined && !s.ids.includes(e.id)) continue
        if (s.codes !== undefined && !s.codes.some((t) => tokenMatches(t, e))) continue
        if (!s.dates.every((t) => dateMatches(t, e.at, e.at))) continue
        out.push(e)
      }
    }
    const dir = s.sort === '-date' ? -1 : 1
    return out.sort((a, b) => dir * (a.at - b.at) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  }

  async searchReports (s: Search, issues: Issue[]): Promise<DiagnosisRef[]> {
    const out: DiagnosisRef[] = []
    for (const p of await this.patients(s.patient, issues)) {
      this.afterRevocation(p, s.dates)
      for (const d of await this.source.diagnoses(p.id)) {
        if (s.ids !== undefined && !s.ids.includes(d.id)) continue
        if (s.codes !== undefined && !s.codes.some((t) => tokenMatches(t, REPORT_CODE))) continue
        const from = d.diagnosis.readings.from
        const to = Math.max(from, d.diagnosis.readings.to)
        if (!s.dates.every((t) => dateMatches(t, from, to))) continue
        out.push(d)
      }
    }
    const dir = s.sort === '-date' ? -1 : 1
    return out.sort((a, b) => dir * (a.diagnosis.readings.from - b.diagnosis.readings.from) || (a.id < b.id ? -1 : 1))
  }

  async searchPatients (s: Search, issues: Issue[]): Promise<string[]> {
    const ps = (await this.patients(undefined, issues)).map((p) => p.id)
    return s.ids === undefined ? ps.sort() : ps.filter((id) => s.ids!.includes(id)).sort()
  }

  /** The Observations a report cites: the readings of its causes' batches this node can open. */
  async cited (d: DiagnosisRef): Promise<ObservationEntry[]> {
    const causes = new Set(d.causes)
    const out: ObservationEntry[] = []
    const seen = new Set<string>()
    for (const b of await this.source.batches(d.patient)) {
      if (!causes.has(b.id) || !b.readable) continue
      for (const e of (await this.entries(b)).list) if (!seen.has(e.id)) { seen.add(e.id); out.push(e) }
    }
    return out
  }

  async report (d: DiagnosisRef): Promise<Resource> {
    return diagnosticReport(d, (await this.cited(d)).map((e) => e.id))
  }

  async readPatient (id: string): Promise<Resource> {
    await this.patients(id, [])
    return patient(id, this.source.kind)
  }

  async readObservation (id: string): Promise<Resource> {
    const issues: Issue[] = []
    for (const p of await this.patients(undefined, issues)) {
      for (const e of (await this.observationsOf(p, [])).list) if (e.id === id) return observation(e)
    }
    throw new ResourceNotFoundError('Observation', id)
  }

  async readReport (id: string): Promise<Resource> {
    for (const p of await this.patients(undefined, [])) {
      const d = (await this.source.diagnoses(p.id)).find((x) => x.id === id)
      if (d !== undefined) return await this.report(d)
    }
    throw new ResourceNotFoundError('DiagnosticReport', id)
  }

  /** Patient/$everything: the Patient, then its Observations and DiagnosticReports within `dates`, oldest first. */
  async everything (id: string, dates: readonly DateTest[], issues: Issue[]): Promise<Resource[]> {
    const [p] = await this.patients(id, issues)
    this.afterRevocation(p!, dates)
    const { list, ...w } = await this.observationsOf(p!, dates)
    this.withheldIssues(id, w, issues)
    const obs = list.filter((e) => dates.every((t) => dateMatches(t, e.at, e.at))).sort((a, b) => a.at - b.at || (a.id < b.id ? -1 : 1))
    const reports: Resource[] = []
    for (const d of await this.source.diagnoses(id)) {
      const from = d.diagnosis.readings.from
      if (dates.every((t) => dateMatches(t, from, Math.max(from, d.diagnosis.readings.to)))) reports.push(await this.report(d))
    }
    return [patient(id, this.source.kind), ...obs.map(observation), ...reports]
  }
}
