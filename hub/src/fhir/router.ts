/**
 * The read-only FHIR R4 REST API (http://hl7.org/fhir/R4/http.html) as an
 * express 4 Router, mounted at /fhir beside the pages on the hub and on the
 * doctor node: read and search-type on Patient, Observation and
 * DiagnosticReport, Patient/$everything for a date range, and the
 * CapabilityStatement at /metadata. Errors are OperationOutcomes, never a
 * crash: every parameter is checked (search.ts) before data is read.
 *
 * Authentication is the pages' (web/router.ts): the same login, the same
 * session store. A browser sends its session cookie; a machine client (a
 * FHIR client library) gets a bearer token from POST /fhir/token with the
 * login (OAuth 2.0 password grant, RFC 6749 §4.3; throttled like the login
 * form) — the token is a session of that store, so it ends as a session
 * does (idle and absolute lifetime, restart). Only /metadata is public
 * (it says what the server can do, nothing about anyone's data).
 */
import express, { type NextFunction, type Request, type Response, type Router } from 'express'
import helmet from 'helmet'
import { checkLogin, type LoadedCredentials } from '../web/credentials.ts'
import { loginLimiters, type RateLimitOptions } from '../web/ratelimit.ts'
import { COOKIE_NAME, readCookie, type SessionStore } from '../web/session.ts'
import { FhirError, LoginRequiredError, NotSupportedError } from './errors.ts'
import { FhirRepository } from './repository.ts'
import { capabilityStatement, diagnosticReport, FHIR_JSON, observation, operationOutcome, patient, searchset, type BundleEntry, type Issue, type Resource } from './resources.ts'
import { parseEverything, parseSearch, type RawQuery, type ResourceType } from './search.ts'
import type { FhirSource } from './source.ts'

export interface FhirRouterOptions {
  readonly source: FhirSource
  /** The pages' login and sessions (WebRouter). */
  readonly web: { readonly sessions: SessionStore, readonly credentials: LoadedCredentials }
  readonly rateLimit?: RateLimitOptions
  readonly log?: (line: string) => void
  readonly now?: () => number
  /** Readings kept decoded in memory (default 200,000). */
  readonly maxCachedReadings?: number
}

export interface FhirRouter {
  readonly router: Router
  readonly repository: FhirRepository
}

const ID = /^[A-Za-z0-9\-.]{1,64}$/
const FORMATS = new Set(['json', 'application/json', 'application/fhir+json', 'application/json+fhir'])

const headers = helmet({
  contentSecurityPolicy: { useDefaults: false, directives: { 'default-src': ["'none'"], 'frame-ancestors': ["'none'"] } },
  strictTransportSecurity: { maxAge: 31_536_000, includeSubDomains: false },
  crossOriginResourcePolicy: { policy: 'same-origin' }
})

function send (res: Response, status: number, resource: Resource, pretty: boolean): void {
  res.status(status).type(FHIR_JSON).send(JSON.stringify(resource, null, pretty ? 2 : undefined))
}

export function createFhirRouter (o: FhirRouterOptions): FhirRouter {
  const repo = new FhirRepository(o.source, { ...(o.maxCachedReadings === undefined ? {} : { maxCachedReadings: o.maxCachedReadings }), ...(o.log === undefined ? {} : { log: o.log }) })
  const log = o.log ?? ((line: string) => console.error(line))
  const now = o.now ?? Date.now
  const started = new Date(now()).toISOString()
  const router = express.Router()
  const base = (req: Request): string => `${req.protocol}://${req.get('host') ?? 'localhost'}${req.baseUrl}`
  const pretty = (req: Request): boolean => req.query._pretty === 'true'
  const strict = (req: Request): boolean => /handling\s*=\s*strict/.test(req.get('prefer') ?? '')

  router.use(headers, (req, res, next) => {
    res.set('Cache-Control', 'no-store')
    const f = req.query._format
    if (f !== undefined && (typeof f !== 'string' || !FORMATS.has(f))) {
      send(res, 406, operationOutcome([{ severity: 'error', code: 'not-supported', text: '_format: this server speaks JSON only (application/fhir+json)' }]), false)
      return
    }
    next()
  })

  router.get('/metadata', (req, res) => { send(res, 200, capabilityStatement(base(req), o.source.kind, started), pretty(req)) })

  // a bearer token for machine clients: the page login, as an OAuth 2.0 password grant (RFC 6749 §4.3)
  const parse = [express.urlencoded({ extended: false, limit: '4kb', parameterLimit: 10 }), express.json({ limit: '4kb' })]
  const field = (req: Request, name: string): string => {
    const v = (req.body as Record<string, unknown> | undefined)?.[name]
    return typeof v === 'string' ? v.slice(0, 1024) : ''
  }
  const limited = loginLimiters((req) => field(req, 'username'), o.rateLimit, (_req, res, wait) => {
    res.status(429).json({ error: 'slow_down', error_description: `too many failed logins: try again in ${wait} s` })
  })
  router.post('/token', ...parse, ...limited.middleware, async (req, res, next) => {
    try {
      if (field(req, 'grant_type') !== 'password') { res.status(400).json({ error: 'unsupported_grant_type', error_description: 'use grant_type=password with the page login\'s username and password' }); return }
      const username = field(req, 'username')
      if (!(await checkLogin(o.web.credentials.record, username, field(req, 'password')))) {
        res.status(400).json({ error: 'invalid_grant', error_description: 'wrong user name or password' })
        return
      }
      limited.succeeded(req)
      const s = o.web.sessions.create(username)
      res.json({ access_token: o.web.sessions.cookieValue(s), token_type: 'Bearer' })
    } catch (err) { next(err) }
  })

  // everything else needs the login: a bearer token or the pages' session cookie
  router.use((req, res, next) => {
    const h = req.get('authorization')
    const bearer = h !== undefined && /^Bearer /i.test(h) ? h.slice(7).trim() : undefined
    const s = o.web.sessions.fromCookie(bearer ?? readCookie(req.headers.cookie, COOKIE_NAME))
    if (s?.user !== undefined) { next(); return }
    res.set('WWW-Authenticate', `Bearer realm="healthchain"${bearer === undefined ? '' : ', error="invalid_token"'}`)
    next(new LoginRequiredError(bearer === undefined
      ? `log in first: POST ${req.baseUrl}/token (grant_type=password, username, password) for a bearer token, or the page's session cookie`
      : 'the bearer token is unknown or expired: get a new one from POST /fhir/token'))
  })

  /** Answers a searchset: `entries` is the page already unless `slice` (then it is every match, sliced here). */
  const entriesPage = (req: Request, res: Response, entries: BundleEntry[], total: number, count: number | undefined, offset: number, issues: Issue[], slice = false): void => {
    const url = new URL(req.originalUrl, 'http://x')
    const link = (off: number): string => {
      const q = new URLSearchParams(url.search)
      q.delete('_offset')
      if (off > 0) q.set('_offset', String(off))
      const qs = q.toString()
      return `${base(req)}${req.path}${qs === '' ? '' : `?${qs}`}`
    }
    const links = [{ relation: 'self', url: link(offset) }]
    let page = entries
    if (count !== undefined) {
      if (slice) page = entries.slice(offset, offset + count)
      links.push({ relation: 'first', url: link(0) })
      if (offset > 0) links.push({ relation: 'previous', url: link(Math.max(0, offset - Math.max(count, 1))) })
      if (count > 0 && offset + count < total) links.push({ relation: 'next', url: link(offset + count) })
      if (count > 0) links.push({ relation: 'last', url: link(total === 0 ? 0 : Math.floor((total - 1) / count) * count) })
    }
    if (issues.length > 0) page = [...page, { resource: operationOutcome(issues), mode: 'outcome' }]
    send(res, 200, searchset(base(req), total, page, links, now()), pretty(req))
  }

  const ignoredIssues = (ignored: readonly string[]): Issue[] => ignored.map((p) => ({ severity: 'warning', code: 'not-supported', text: `parameter ${p} is not supported and was ignored`, expression: p }))

  const search = (type: ResourceType) => async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    try {
      const s = parseSearch(type, req.query as RawQuery, { strict: strict(req) })
      const issues = ignoredIssues(s.ignored)
      let matches: Resource[] = []
      let included: Resource[] = []
      if (type === 'Observation') {
        const found = await repo.searchObservations(s, issues)
        const page = found.slice(s.offset, s.offset + s.count)
        matches = page.map(observation)
        if (s.include.includes('subject')) included = [...new Set(page.map((e) => e.patient))].map((p) => patient(p, o.source.kind))
        entriesPage(req, res, [...matches.map((r) => ({ resource: r, mode: 'match' as const })), ...included.map((r) => ({ resource: r, mode: 'include' as const }))], found.length, s.count, s.offset, issues)
        return
      }
      if (type === 'DiagnosticReport') {
        const found = await repo.searchReports(s, issues)
        const page = found.slice(s.offset, s.offset + s.count)
        const seen = new Set<string>()
        for (const d of page) {
          const cited = await repo.cited(d)
          matches.push(diagnosticReport(d, cited.map((e) => e.id)))
          if (s.include.includes('result')) for (const e of cited) if (!seen.has(e.id)) { seen.add(e.id); included.push(observation(e)) }
          if (s.include.includes('subject') && !seen.has(d.patient)) { seen.add(d.patient); included.push(patient(d.patient, o.source.kind)) }
        }
        entriesPage(req, res, [...matches.map((r) => ({ resource: r, mode: 'match' as const })), ...included.map((r) => ({ resource: r, mode: 'include' as const }))], found.length, s.count, s.offset, issues)
        return
      }
      const ids = await repo.searchPatients(s, issues)
      matches = ids.slice(s.offset, s.offset + s.count).map((id) => patient(id, o.source.kind))
      entriesPage(req, res, matches.map((r) => ({ resource: r, mode: 'match' as const })), ids.length, s.count, s.offset, issues)
    } catch (err) { next(err) }
  }

  const read = (type: string, fn: (id: string) => Promise<Resource>) => async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    try {
      const id = req.params.id ?? ''
      if (!ID.test(id)) throw new NotSupportedError(`${type}/${id.slice(0, 80)} (not a FHIR id)`)
      send(res, 200, await fn(id), pretty(req))
    } catch (err) { next(err) }
  }

  router.get('/Patient', search('Patient'))
  router.get(/^\/Patient\/([^/]+)\/\$everything$/, async (req, res, next) => {
    try {
      const id = (req.params as Record<string, string>)[0] ?? ''
      const e = parseEverything(req.query as RawQuery, { strict: strict(req) })
      const issues = ignoredIssues(e.ignored)
      const all = await repo.everything(id, e.dates, issues)
      entriesPage(req, res, all.map((r) => ({ resource: r, mode: 'match' as const })), all.length, e.count, e.offset, issues, true)
    } catch (err) { next(err) }
  })
  router.get('/Patient/:id', read('Patient', async (id) => await repo.readPatient(id)))
  router.get('/Observation', search('Observation'))
  router.get('/Observation/:id', read('Observation', async (id) => await repo.readObservation(id)))
  router.get('/DiagnosticReport', search('DiagnosticReport'))
  router.get('/DiagnosticReport/:id', read('DiagnosticReport', async (id) => await repo.readReport(id)))

  router.use((req, res) => {
    const status = req.method === 'GET' || req.method === 'HEAD' ? 404 : 405
    const text = status === 405 ? `${req.method}: this FHIR API is read-only` : `${req.path.slice(0, 120)}: not offered (see ${req.baseUrl}/metadata)`
    send(res, status, operationOutcome([{ severity: 'error', code: 'not-supported', text }]), false)
  })

  router.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (res.headersSent) return
    if (err instanceof FhirError) {
      send(res, err.status, operationOutcome([{ severity: 'error', code: err.issue, text: err.message, ...(err.field === '' ? {} : { expression: err.field }) }]), false)
      return
    }
    // body-parser's errors (too large, bad JSON) carry their status
    const status = (err as { status?: number }).status
    if (typeof status === 'number' && status >= 400 && status < 500) {
      send(res, status, operationOutcome([{ severity: 'error', code: 'invalid', text: (err as Error).message }]), false)
      return
    }
    log(`fhir: ${req.method} ${req.originalUrl.slice(0, 200)}: ${(err as Error).stack ?? String(err)}`)
    send(res, 500, operationOutcome([{ severity: 'error', code: 'exception', text: 'the server could not answer; see its log' }]), false)
  })

  return { router, repository: repo }
}
