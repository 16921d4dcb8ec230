/**
 * FHIR R4 search parameters (http://hl7.org/fhir/R4/search.html), parsed
 * and checked before any data is read. Pure: no I/O, no clock.
 * - date (§3.1.1.4.1 / §3.1.1.5.x): a value is the range its precision
 *   implies (2026-09 is the whole month); the prefixes eq, ne, gt, lt, ge,
 *   le, sa and eb compare that range with the resource's (an Observation's
 *   instant, a DiagnosticReport's effectivePeriod) as the specification's
 *   table says; a time without a zone is taken as UTC;
 * - token (code): `system|code`, `code`, `|code`, `system|`; a comma ORs;
 * - reference (patient, subject): `id` or `Patient/id`;
 * - _count (page size, at most MAX_COUNT), _offset (paging), _sort, _include.
 * Unknown parameters are ignored and reported (an OperationOutcome in the
 * Bundle) unless the client sent `Prefer: handling=strict` (§3.1.1.5.7);
 * a known parameter with a bad value is always an error (400).
 */
import { BadSearchError, UnknownParameterError } from './errors.ts'

/** Largest page a search returns. */
export const MAX_COUNT = 1000
/** Page size when the client gives no _count. */
export const DEFAULT_COUNT = 100
/** Most values one query may carry (a bound on the work a query costs). */
const MAX_VALUES = 64
const MAX_VALUE_LENGTH = 256

export type DatePrefix = 'eq' | 'ne' | 'gt' | 'lt' | 'ge' | 'le' | 'sa' | 'eb'
const PREFIXES: readonly DatePrefix[] = ['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb']

/** A date parameter: its prefix and the range [lo, hi] (ms, both inclusive) its precision implies. */
export interface DateTest { readonly prefix: DatePrefix, readonly lo: number, readonly hi: number, readonly text: string }

export interface TokenTest { readonly system?: string, readonly code?: string }

export type ResourceType = 'Patient' | 'Observation' | 'DiagnosticReport'

export interface Search {
  readonly type: ResourceType
  readonly ids?: readonly string[]
  readonly patient?: string
  readonly codes?: readonly TokenTest[]
  readonly dates: readonly DateTest[]
  readonly count: number
  readonly offset: number
  readonly sort: 'date' | '-date'
  readonly include: readonly ('result' | 'subject')[]
  /** unknown parameters, ignored */
  readonly ignored: readonly string[]
}

/** Which parameters each type knows (also listed in the CapabilityStatement). */
export const SEARCH_PARAMS: Record<ResourceType, readonly string[]> = {
  Patient: ['_id'],
  Observation: ['_id', 'patient', 'subject', 'code', 'date'],
  DiagnosticReport: ['_id', 'patient', 'subject', 'code', 'date']
}
const COMMON = ['_count', '_offset', '_sort', '_include', '_format', '_pretty']
export const INCLUDES: Record<ResourceType, readonly string[]> = {
  Patient: [],
  Observation: ['Observation:subject', 'Observation:patient'],
  DiagnosticReport: ['DiagnosticReport:result', 'DiagnosticReport:result:Observation', 'DiagnosticReport:subject', 'DiagnosticReport:patient']
}

const HEX64 = /^[0-9a-f]{64}$/
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/
const DATE_RE = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/

/**
 * The range a FHIR date/dateTime value stands for: [first ms, last ms].
 * Throws BadSearchError on anything that is not a real calendar date.
 */
export function dateRange (param: string, text: string): { lo: number, hi: number } {
  const m = DATE_RE.exec(text)
  if (m === null) throw new BadSearchError(param, `"${text}" is not a FHIR date (YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm[:ss[.sss]][Z|±hh:mm])`)
  const [, y, mo, d, h, mi, s, frac, zone] = m
  const year = Number(y)
  const month = mo === undefined ? 1 : Number(mo)
  const day = d === undefined ? 1 : Number(d)
  const hour = h === undefined ? 0 : Number(h)
  const minute = mi === undefined ? 0 : Number(mi)
  const second = s === undefined ? 0 : Number(s)
  const ms = frac === undefined ? 0 : Number(frac.slice(0, 3).padEnd(3, '0'))
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59) throw new BadSearchError(param, `"${text}" is not a valid date or time`)
  let offset = 0
  if (zone !== undefined && zone !== 'Z') {
    const sign = zone[0] === '-' ? -1 : 1
    const zh = Number(zone.slice(1, 3))
    const zm = Number(zone.slice(4, 6))
    if (zh > 14 || zm > 59) throw new BadSearchError(param, `"${text}" has an invalid time zone`)
    offset = sign * (zh * 60 + zm) * 60_000
  }
  const lo = Date.UTC(year, month - 1, day, hour, minute, second, ms) - offset
  const back = new Date(lo + offset)
  if (back.getUTCFullYear() !== year || back.getUTCMonth() !== month - 1 || back.getUTCDate() !== day) throw new BadSearchError(param, `"${text}" is not a calendar date`)
  let next: number
  if (mo === undefined) next = Date.UTC(year + 1, 0, 1)
  else if (d === undefined) next = Date.UTC(year, month, 1)
  else if (h === undefined) next = Date.UTC(year, month - 1, day + 1)
  else if (s === undefined) next = lo + offset + 60_000
  else if (frac === undefined) next = lo + offset + 1000
  else next = lo + offset + 1
  return { lo, hi: next - offset - 1 }
}

function dateTest (param: string, raw: string): DateTest {
  const p = raw.slice(0, 2)
  const has = /^[a-z]{2}/.test(raw)
  if (has && !PREFIXES.includes(p as DatePrefix)) {
    throw new BadSearchError(param, p === 'ap' ? 'the prefix ap (approximately) is not supported' : `unknown prefix "${p}" (use eq, ne, gt, lt, ge, le, sa or eb)`)
  }
  const prefix = has ? p as DatePrefix : 'eq'
  const text = has ? raw.slice(2) : raw
  return { prefix, ...dateRange(param, text), text: raw }
}

/**
 * Does a resource whose time is [lo, hi] (an instant: lo = hi) match? The
 * table of R4 §3.1.1.4.1 (search.html#prefix): "the range above the search
 * value intersects the range of the target value", etc.
 */
export function dateMatches (t: DateTest, lo: number, hi: number): boolean {
  const eq = t.lo <= lo && hi <= t.hi
  switch (t.prefix) {
    case 'eq': return eq
    case 'ne': return !eq
    case 'gt': return hi > t.hi
    case 'lt': return lo < t.lo
    case 'ge': return hi > t.hi || eq
    case 'le': return lo < t.lo || eq
    case 'sa': return lo > t.hi
    case 'eb': return hi < t.lo
  }
}

function tokenTest (param: string, raw: string): TokenTest {
  const bar = raw.indexOf('|')
  if (bar < 0) return { code: raw }
  const system = raw.slice(0, bar)
  const code = raw.slice(bar + 1)
  if (code.includes('|')) throw new BadSearchError(param, `"${raw}" has more than one "|" (use system|code)`)
  if (system === '' && code === '') throw new BadSearchError(param, 'empty token')
  // |code: a code without a system; system|: any code of that system
  return { ...(system === '' ? { system: '' } : { system }), ...(code === '' ? {} : { code }) }
}

export function tokenMatches (t: TokenTest, coding: { system?: string, code?: string }): boolean {
  if (t.system !== undefined && (t.system === '' ? coding.system !== undefined : coding.system !== t.system)) return false
  return t.code === undefined || coding.code === t.code
}

/** A patient reference: `id`, `Patient/id` (a Healthchain user ID: 64 hex digits). */
export function patientRef (param: string, raw: string): string {
  const id = raw.startsWith('Patient/') ? raw.slice('Patient/'.length) : raw
  if (!HEX64.test(id)) throw new BadSearchError(param, `"${raw}" is not a patient reference (Patient/<user ID, 64 lower-case hex digits>)`)
  return id
}

function intParam (param: string, raw: string, max: number): number {
  if (!/^\d{1,9}$/.test(raw)) throw new BadSearchError(param, `"${raw}" is not an integer ≥ 0`)
  return Math.min(Number(raw), max)
}

/** The query's values as lists (express may give a string, an array or, for a[b]=c, an object). */
export type RawQuery = Record<string, unknown>

function values (q: RawQuery, name: string): string[] {
  const v = q[name]
  if (v === undefined) return []
  const list = Array.isArray(v) ? v : [v]
  return list.map((x) => {
    if (typeof x !== 'string') throw new BadSearchError(name, 'must be a plain value (no nested parameters)')
    if (x.length > MAX_VALUE_LENGTH) throw new BadSearchError(name, `value longer than ${MAX_VALUE_LENGTH} characters`)
    return x
  })
}

function one (q: RawQuery, name: string): string | undefined {
  const v = values(q, name)
  if (v.length > 1) throw new BadSearchError(name, 'given more than once')
  return v[0]
}

/** Parses one search (or the start/end of Patient/$everything as date ge/le). Throws BadSearchError / UnknownParameterError. */
export function parseSearch (type: ResourceType, q: RawQuery, opts: { strict?: boolean } = {}): Search {
  const known = new Set([...SEARCH_PARAMS[type], ...COMMON])
  const ignored: string[] = []
  let n = 0
  for (const [k, v] of Object.entries(q)) {
    n += Array.isArray(v) ? v.length : 1
    // modifiers (code:text, date:missing) are not supported: the base name must be known and bare
    if (!known.has(k)) {
      if (opts.strict === true) throw new UnknownParameterError(k, type)
      ignored.push(k)
    }
  }
  if (n > MAX_VALUES) throw new BadSearchError('query', `more than ${MAX_VALUES} parameter values`)
  const ids = values(q, '_id').flatMap((v) => v.split(','))
  for (const id of ids) if (!FHIR_ID.test(id)) throw new BadSearchError('_id', `"${id}" is not a FHIR id`)
  const p1 = one(q, 'patient')
  const p2 = one(q, 'subject')
  const patients = [p1 === undefined ? undefined : patientRef('patient', p1), p2 === undefined ? undefined : patientRef('subject', p2)].filter((x): x is string => x !== undefined)
  if (patients.length === 2 && patients[0] !== patients[1]) throw new BadSearchError('subject', 'names another patient than patient=')
  const codeVals = values(q, 'code')
  if (codeVals.length > 1) throw new BadSearchError('code', 'given more than once (use a comma to match any of several codes)')
  const codes = codeVals.length === 0 ? undefined : codeVals[0]!.split(',').map((c) => tokenTest('code', c))
  const dates = values(q, 'date').map((d) => dateTest('date', d))
  const c = one(q, '_count')
  const o = one(q, '_offset')
  const s = one(q, '_sort')
  if (s !== undefined && s !== 'date' && s !== '-date') throw new BadSearchError('_sort', `"${s}" is not supported (use date or -date)`)
  const include = values(q, '_include').map((v) => {
    if (!INCLUDES[type].includes(v)) throw new BadSearchError('_include', `"${v}" is not supported for ${type} (supported: ${INCLUDES[type].join(', ') || 'none'})`)
    return v.split(':')[1] === 'result' ? 'result' as const : 'subject' as const
  })
  return {
    type,
    ...(ids.length === 0 ? {} : { ids }),
    ...(patients.length === 0 ? {} : { patient: patients[0]! }),
    ...(codes === undefined ? {} : { codes }),
    dates,
    count: c === undefined ? DEFAULT_COUNT : intParam('_count', c, MAX_COUNT),
    offset: o === undefined ? 0 : intParam('_offset', o, Number.MAX_SAFE_INTEGER),
    sort: s === '-date' ? '-date' : 'date',
    include: [...new Set(include)],
    ignored
  }
}

/** Patient/$everything's start and end (dates; start as ge, end as le) and paging. */
export function parseEverything (q: RawQuery, opts: { strict?: boolean } = {}): { dates: DateTest[], count: number | undefined, offset: number, ignored: string[] } {
  const ignored: string[] = []
  for (const k of Object.keys(q)) {
    if (['start', 'end', '_count', '_offset', '_format', '_pretty'].includes(k)) continue
    if (opts.strict === true) throw new UnknownParameterError(k, 'Patient/$everything')
    ignored.push(k)
  }
  const start = one(q, 'start')
  const end = one(q, 'end')
  const dates: DateTest[] = []
  if (start !== undefined) dates.push({ prefix: 'ge', ...dateRange('start', start), text: `ge${start}` })
  if (end !== undefined) dates.push({ prefix: 'le', ...dateRange('end', end), text: `le${end}` })
  if (start !== undefined && end !== undefined && dates[0]!.lo > dates[1]!.hi) throw new BadSearchError('end', 'is before start')
  const c = one(q, '_count')
  const o = one(q, '_offset')
  return { dates, count: c === undefined ? undefined : intParam('_count', c, Number.MAX_SAFE_INTEGER), offset: o === undefined ? 0 : intParam('_offset', o, Number.MAX_SAFE_INTEGER), ignored }
}
