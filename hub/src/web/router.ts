/**
 * The hub's patient and doctor pages as an express 4 Router,
 * mountable at any path of any express 4 app (the hub mounts it beside the
 * embedded Node-RED). Security (OWASP ASVS 4, V2/V3/V4/V13/V14):
 * - every page and API needs a login; pages redirect to /login, the JSON API
 *   and POSTs answer 401;
 * - the login is checked against a scrypt hash in the data dir
 *   (credentials.ts) and throttled per account and per client
 *   (ratelimit.ts, express-rate-limit);
 * - sessions are random IDs in HttpOnly, SameSite=Strict, Secure cookies
 *   signed with a random server secret (session.ts), replaced at login, with
 *   an idle and an absolute lifetime;
 * - every POST (also the login) must carry the session's CSRF token, and a
 *   cross-site Origin is refused;
 * - the headers by helmet: a strict Content-Security-Policy (nothing but
 *   'self'; no inline script), HSTS, no framing, referrers only to the hub
 *   itself; and no-store caching;
 * - pages show views (model.ts) that hold no key material.
 */
import express, { type NextFunction, type Request, type Response, type Router } from 'express'
import helmet from 'helmet'
import { readFileSync } from 'node:fs'
import { HealthchainError } from '../core/index.ts'
import { vitalsCharts } from './charts.ts'
import { checkLogin, loadOrCreateCredentials, type LoadedCredentials, type ScryptParams } from './credentials.ts'
import { BadRequestError, NotFoundError, WebError } from './errors.ts'
import type { Html } from './html.ts'
import { SEVERITIES, type Amendment, type DoctorModel, type PatientModel, type Severity } from './model.ts'
import { doctorMain, errorPage, glossaryPage, layout, loginPage, patientMain, type Frame } from './pages.ts'
import { loginLimiters, type RateLimitOptions } from './ratelimit.ts'
import { COOKIE_NAME, csrfMatches, readCookie, sessionCookie, SessionStore, type Session, type SessionOptions } from './session.ts'

export interface WebOptions {
  /** Where web-auth.json (the login's scrypt hash, 0600) lives. */
  readonly dataDir: string
  readonly patient?: PatientModel
  readonly doctor?: DoctorModel
  /** Login name made on first start (default 'admin'). */
  readonly username?: string
  /** `Secure` on the cookie (default true; browsers also keep Secure cookies of http://localhost). */
  readonly secureCookie?: boolean
  /** Shown on every page (e.g. a listener without TLS). */
  readonly warnings?: readonly string[]
  readonly sessions?: SessionOptions
  readonly rateLimit?: RateLimitOptions
  readonly scrypt?: ScryptParams
  /** Errors of the models are logged here (default console.error). */
  readonly log?: (line: string) => void
}

export interface WebRouter {
  readonly router: Router
  readonly credentials: LoadedCredentials
  /** The login, only on the start that created it: print it once. */
  readonly created?: { readonly username: string, readonly password: string }
  readonly sessions: SessionStore
}

const STATIC: Record<string, { type: string, body: Buffer }> = {
  'style.css': { type: 'text/css; charset=utf-8', body: readFileSync(new URL('./static/style.css', import.meta.url)) },
  'app.js': { type: 'text/javascript; charset=utf-8', body: readFileSync(new URL('./static/app.js', import.meta.url)) }
}

/** helmet with the pages' policy: nothing but 'self' (no inline script), no framing, HSTS for a year. */
const headers = helmet({
  contentSecurityPolicy: {
    useDefaults: false,
    directives: {
      'default-src': ["'none'"],
      'script-src': ["'self'"],
      'style-src': ["'self'"],
      'img-src': ["'self'", 'data:'],
      'connect-src': ["'self'"],
      'form-action': ["'self'"],
      'frame-ancestors': ["'none'"],
      'base-uri': ["'none'"]
    }
  },
  strictTransportSecurity: { maxAge: 31_536_000, includeSubDomains: false },
  xFrameOptions: { action: 'deny' },
  referrerPolicy: { policy: 'same-origin' }, // not no-referrer: then browsers send "Origin: null" on form POSTs
  crossOriginOpenerPolicy: { policy: 'same-origin' },
  crossOriginResourcePolicy: { policy: 'same-origin' }
})

const HEX32 = /^[0-9a-f]{64}$/

function wantsJson (req: Request): boolean {
  if (req.path.startsWith('/api/')) return true
  if (typeof req.is('application/json') === 'string') return true
  const accept = req.get('accept') ?? ''
  return accept.includes('application/json') && !accept.includes('text/html')
}

/** A same-server path to return to after login, or undefined. */
function safeNext (base: string, next: unknown): string | undefined {
  if (typeof next !== 'string' || next.length > 512) return undefined
  if (!next.startsWith(`${base}/`) || next.startsWith('//') || next.includes('\\') || /[\u0000-\u001f]/.test(next)) return undefined
  if (next.startsWith(`${base}/login`) || next.startsWith(`${base}/logout`)) return undefined
  return next
}

function hexParam (field: string, v: unknown): string {
  if (typeof v !== 'string' || !HEX32.test(v)) throw new BadRequestError(field, 'expected 64 lower-case hex digits')
  return v
}

function amendment (body: Record<string, unknown>): Amendment | undefined {
  const sev = body.severity
  const note = body.note
  if (sev !== undefined && (typeof sev !== 'string' || !SEVERITIES.includes(sev as Severity))) throw new BadRequestError('severity', `expected one of ${SEVERITIES.join(', ')}`)
  if (note !== undefined && (typeof note !== 'string' || note.length > 2000)) throw new BadRequestError('note', 'expected text of at most 2000 characters')
  const n = typeof note === 'string' ? note.trim() : ''
  if (sev === undefined && n === '') return undefined
  return { ...(sev === undefined ? {} : { severity: sev as Severity }), ...(n === '' ? {} : { note: n }) }
}

/** HTTP status of an error thrown by a model or a check. */
export function statusOf (err: unknown): number {
  if (err instanceof WebError) return err.status
  const e = err as { code?: string, status?: number, statusCode?: number, type?: string }
  if (typeof e.status === 'number' && e.status >= 400 && e.status < 600) return e.status
  if (err instanceof HealthchainError) {
    return e.code === 'ERR_ALREADY_GRANTED' || e.code === 'ERR_NOT_GRANTED' || e.code === 'ERR_STALE_EPOCH' ? 409 : 400
  }
  return 500
}

export async function createWebRouter (opts: WebOptions): Promise<WebRouter> {
  if (opts.patient === undefined && opts.doctor === undefined) throw new TypeError('createWebRouter: give a patient model, a doctor model or both')
  const credentials = await loadOrCreateCredentials(opts.dataDir, opts.username, opts.scrypt)
  const sessions = new SessionStore(opts.sessions)
  const log = opts.log ?? ((line: string) => console.error(line))
  const secure = opts.secureCookie !== false
  const pages = { patient: opts.patient !== undefined, doctor: opts.doctor !== undefined }
  const router = express.Router()
  const parseForm = express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 20 })
  const parseJson = express.json({ limit: '16kb' })

  const base = (req: Request): string => req.baseUrl
  const session = (res: Response): Session | undefined => res.locals.session as Session | undefined
  const frame = (req: Request, res: Response, current?: Frame['current']): Frame => {
    const s = session(res)
    const f: Frame = { base: base(req), csrf: s?.csrf ?? '', pages, ...(opts.warnings === undefined || opts.warnings.length === 0 ? {} : { warnings: opts.warnings }), ...(current === undefined ? {} : { current }), ...(s?.user === undefined ? {} : { user: s.user }) }
    if (s?.flash !== undefined) { const fl = s.flash; delete s.flash; return { ...f, flash: fl } }
    return f
  }
  const setCookie = (req: Request, res: Response, s: Session): void => {
    res.append('Set-Cookie', sessionCookie(sessions.cookieValue(s), { path: base(req) === '' ? '/' : base(req), secure }))
  }
  const send = (res: Response, status: number, page: Html): void => { res.status(status).type('html').send(page.text) }

  router.use(headers, (_req, res, next) => { res.set('Cache-Control', 'no-store'); next() })

  router.get('/static/:file', (req, res, next) => {
    const f = STATIC[req.params.file ?? '']
    if (f === undefined) { next(); return }
    res.set('Cache-Control', 'no-cache').type(f.type).send(f.body)
  })

  router.use((req, res, next) => {
    res.locals.session = sessions.fromCookie(readCookie(req.headers.cookie, COOKIE_NAME))
    next()
  })

  // CSRF: every state-changing request carries the session's token and, when the browser says, comes from this origin
  router.use(parseForm, parseJson, (req, res, next) => {
    if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') { next(); return }
    const origin = req.get('origin')
    const host = req.get('host')
    const sameOrigin = origin === undefined || (host !== undefined && (origin === `http://${host}` || origin === `https://${host}`))
    const s = session(res)
    const body = (req.body ?? {}) as Record<string, unknown>
    const token = body._csrf ?? req.get('x-csrf-token')
    if (!sameOrigin || s === undefined || !csrfMatches(s, token)) {
      const why = s === undefined ? 'your session has expired: reload the page and try again' : 'the request did not carry this page\'s security token (CSRF): reload the page and try again'
      if (wantsJson(req)) { res.status(403).json({ error: 'ERR_CSRF', message: why }); return }
      send(res, 403, errorPage(frame(req, res), 403, why))
      return
    }
    next()
  })

  router.get('/login', (req, res) => {
    let s = session(res)
    if (s?.user !== undefined) { res.redirect(303, safeNext(base(req), req.query.next) ?? `${base(req)}/`); return }
    if (s === undefined) { s = sessions.create(); res.locals.session = s; setCookie(req, res, s) }
    if (wantsJson(req)) { res.json({ csrf: s.csrf }); return }
    const next = safeNext(base(req), req.query.next)
    send(res, 200, loginPage(frame(req, res), next === undefined ? {} : { next }))
  })

  const loginForm = (req: Request): { username: string, next?: string } => {
    const body = req.body as Record<string, unknown>
    const next = safeNext(base(req), body.next)
    return { username: typeof body.username === 'string' ? body.username.slice(0, 128) : '', ...(next === undefined ? {} : { next }) }
  }
  const limited = loginLimiters((req) => loginForm(req).username, opts.rateLimit, (req, res, wait) => {
    const msg = `Too many failed logins: try again in ${wait} s.`
    if (wantsJson(req)) { res.status(429).json({ error: 'ERR_RATE_LIMITED', message: msg }); return }
    send(res, 429, loginPage(frame(req, res), { ...loginForm(req), error: msg }))
  })

  router.post('/login', ...limited.middleware, async (req, res, next) => {
    try {
      const body = req.body as Record<string, unknown>
      const again = loginForm(req)
      const password = typeof body.password === 'string' ? body.password.slice(0, 1024) : ''
      if (!(await checkLogin(credentials.record, again.username, password))) {
        const msg = 'Wrong user name or password.'
        if (wantsJson(req)) { res.status(401).json({ error: 'ERR_LOGIN', message: msg }); return }
        send(res, 401, loginPage(frame(req, res), { ...again, error: msg }))
        return
      }
      limited.succeeded(req)
      const s = sessions.login(session(res), again.username)
      res.locals.session = s
      setCookie(req, res, s)
      if (wantsJson(req)) { res.json({ ok: true, csrf: s.csrf }); return }
      res.redirect(303, again.next ?? `${base(req)}/`)
    } catch (err) { next(err) }
  })

  // everything below needs a login
  router.use((req, res, next) => {
    if (session(res)?.user !== undefined) { next(); return }
    if (req.method === 'GET' && !wantsJson(req) && req.query.fragment === undefined) {
      res.redirect(303, `${base(req)}/login?next=${encodeURIComponent(req.originalUrl)}`)
      return
    }
    res.status(401).json({ error: 'ERR_LOGIN_REQUIRED', message: 'log in first' })
  })

  router.post('/logout', (req, res) => {
    const s = session(res)
    if (s !== undefined) sessions.destroy(s)
    res.append('Set-Cookie', sessionCookie('', { path: base(req) === '' ? '/' : base(req), secure, clear: true }))
    res.redirect(303, `${base(req)}/login`)
  })

  router.get('/', (req, res) => { res.redirect(303, `${base(req)}/${pages.patient ? 'patient' : 'doctor'}`) })

  /** Runs a state change; a form gets a redirect with a message, a JSON client the result. */
  const action = (page: 'patient' | 'doctor', run: (req: Request) => Promise<{ text: string, json: Record<string, unknown> }>) =>
    async (req: Request, res: Response): Promise<void> => {
      const s = session(res)!
      try {
        const r = await run(req)
        if (wantsJson(req)) { res.json({ ok: true, ...r.json }); return }
        s.flash = { kind: 'ok', text: r.text }
      } catch (err) {
        const status = statusOf(err)
        if (status >= 500) log(`web: ${req.method} ${req.originalUrl}: ${(err as Error).stack ?? String(err)}`)
        const message = status >= 500 ? 'The hub could not do that; see its log.' : (err as Error).message
        if (wantsJson(req)) { res.status(status).json({ error: (err as { code?: string }).code ?? 'ERR_INTERNAL', message }); return }
        s.flash = { kind: 'error', text: message }
      }
      res.redirect(303, `${base(req)}/${page}`)
    }

  router.get('/glossary', (req, res) => { send(res, 200, glossaryPage(frame(req, res, undefined))) })

  const patient = opts.patient
  if (patient !== undefined) {
    router.get('/patient', async (req, res, next) => {
      try {
        const p = await patient.page()
        const f = frame(req, res, 'patient')
        const main = patientMain(f, p, await vitalsCharts(p.readings, { sustained: p.sustained }))
        if (req.query.fragment === 'main') { res.type('html').send(main.text); return }
        send(res, 200, layout(f, 'Patient', main))
      } catch (err) { next(err) }
    })
    router.get('/api/patient', async (_req, res, next) => {
      try { res.json(await patient.page()) } catch (err) { next(err) }
    })
    router.post('/patient/doctors/grant', action('patient', async (req) => {
      const doctor = hexParam('doctor', (req.body as Record<string, unknown>).doctor)
      const epoch = await patient.grant(doctor)
      return { text: `Doctor ${doctor.slice(0, 8)}… can now read your data.`, json: { epoch } }
    }))
    router.post('/patient/doctors/revoke', action('patient', async (req) => {
      const doctor = hexParam('doctor', (req.body as Record<string, unknown>).doctor)
      const epoch = await patient.revoke(doctor)
      return { text: `Doctor ${doctor.slice(0, 8)}… was revoked: your new readings are locked with fresh keys it does not have.`, json: { epoch } }
    }))
    router.post('/patient/emergency', action('patient', async (req) => {
      if (patient.setEmergency === undefined) throw new NotFoundError('emergency access')
      const on = (req.body as Record<string, unknown>).optIn === 'true'
      const r = await patient.setEmergency(on)
      return { text: `Emergency access is ${on ? 'on' : 'off'}${r.epoch === undefined ? '' : ` (data key renewed: epoch ${r.epoch})`}.`, json: { ...r } }
    }))
    router.post('/patient/backup', action('patient', async () => {
      if (patient.backupNow === undefined) throw new NotFoundError('backups')
      const r = await patient.backupNow()
      return { text: `Backup written: ${r.file} (${r.bytes} bytes).`, json: { ...r } }
    }))
    router.post('/patient/erasure', action('patient', async (req) => {
      if (patient.withdraw === undefined) throw new NotFoundError('withdrawal of consent')
      const b = req.body as Record<string, unknown>
      // the box ticked and the words typed: a withdrawal cannot be undone
      const r = await patient.withdraw({ confirm: b.confirm === 'on' && String(b.words ?? '').trim().toLowerCase() === 'destroy my data' })
      const reached = r.storage.filter((x) => x.error === undefined).length
      return { text: `Consent withdrawn. ${reached} of ${r.storage.length} storage nodes dropped your data${r.docchain === null ? '' : r.docchain.ok ? '; the accounting nodes will release no emergency key shares' : `; Docchain did not record it (${r.docchain.reason})`}. The hub now stops and destroys its keys.`, json: { ...r } }
    }))
    router.post('/patient/alerts/test', action('patient', async (req) => {
      if (patient.testAlert === undefined) throw new NotFoundError('alerts')
      const r = await patient.testAlert(String((req.body as Record<string, unknown>).channel ?? ''))
      return { text: `The test alert went out on ${r.channel}.`, json: { ...r } }
    }))
    router.post('/patient/alerts', action('patient', async (req) => {
      if (patient.configureAlerts === undefined) throw new NotFoundError('alerts')
      const s = await patient.configureAlerts(alertsForm(req.body as Record<string, unknown>))
      const on = Object.entries(s.channels).filter(([, c]) => c.configured).map(([n]) => n)
      return { text: `Alert settings saved: ${on.length === 0 ? 'no channel' : on.join(', ')}.`, json: { ...s } }
    }))
    router.get('/patient/diagnoses/:id/fhir', async (req, res, next) => {
      try {
        const r = await patient.report(hexParam('id', req.params.id))
        if (r === undefined) throw new NotFoundError('diagnosis')
        res.type('application/fhir+json').set('Content-Disposition', `attachment; filename="diagnostic-report-${req.params.id!.slice(0, 12)}.json"`).send(JSON.stringify(r, null, 2))
      } catch (err) { next(err) }
    })
  }

  const doctor = opts.doctor
  if (doctor !== undefined) {
    router.get('/doctor', async (req, res, next) => {
      try {
        const d = await doctor.page()
        const f = frame(req, res, 'doctor')
        const main = doctorMain(f, d, await Promise.all(d.patients.map(async (p) => await vitalsCharts(p.readings, { sustained: p.sustained }))))
        if (req.query.fragment === 'main') { res.type('html').send(main.text); return }
        send(res, 200, layout(f, 'Doctor', main))
      } catch (err) { next(err) }
    })
    router.get('/api/doctor', async (_req, res, next) => {
      try { res.json(await doctor.page()) } catch (err) { next(err) }
    })
    router.post('/doctor/reviews/:id/sign', action('doctor', async (req) => {
      const id = hexParam('id', req.params.id)
      const amend = amendment(req.body as Record<string, unknown>)
      const htxd = await doctor.sign(id, amend)
      return { text: `Diagnosis ${amend === undefined ? 'signed' : 'amended and signed'}; tx_diag ${htxd.slice(0, 8)}… submitted.`, json: { htxd } }
    }))
    router.get('/doctor/reviews/:id/fhir', async (req, res, next) => {
      try {
        const r = await doctor.report(hexParam('id', req.params.id))
        if (r === undefined) throw new NotFoundError('review')
        res.type('application/fhir+json').set('Content-Disposition', `attachment; filename="diagnostic-report-${req.params.id!.slice(0, 12)}.json"`).send(JSON.stringify(r, null, 2))
      } catch (err) { next(err) }
    })
  }

  router.use((req, res) => {
    if (wantsJson(req)) { res.status(404).json({ error: 'ERR_NOT_FOUND', message: `no ${req.method} ${req.path}` }); return }
    send(res, 404, errorPage(frame(req, res), 404, 'No such page.'))
  })

  router.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const status = statusOf(err)
    if (status >= 500) log(`web: ${req.method} ${req.originalUrl}: ${(err as Error).stack ?? String(err)}`)
    const message = status >= 500 ? 'The hub could not do that; see its log.' : (err as Error).message
    if (res.headersSent) return
    if (wantsJson(req)) { res.status(status).json({ error: (err as { code?: string }).code ?? 'ERR_INTERNAL', message }); return }
    send(res, status, errorPage(frame(req, res), status, message))
  })

  return { router, credentials, sessions, ...(credentials.created === undefined ? {} : { created: credentials.created }) }
}

/**
 * The page's alert settings form as the control API's POST /v1/alerts body:
 * a channel with an empty address is off; an empty password or secret keeps
 * the saved one (the service fills it in).
 */
export function alertsForm (b: Record<string, unknown>): Record<string, unknown> {
  const v = (k: string): string | undefined => { const x = b[k]; return typeof x === 'string' && x.trim() !== '' ? x.trim() : undefined }
  const num = (k: string): number | string | undefined => { const x = v(k); return x === undefined ? undefined : /^\d+$/.test(x) ? Number(x) : x }
  const some = (o: Record<string, unknown>): Record<string, unknown> => Object.fromEntries(Object.entries(o).filter(([, x]) => x !== undefined))
  return some({
    minSeverity: v('minSeverity'),
    silentMinutes: num('silentMinutes'),
    mqtt: v('mqttUrl') === undefined ? undefined : some({ url: v('mqttUrl'), username: v('mqttUsername'), password: v('mqttPassword') }),
    email: v('emailHost') === undefined ? undefined : some({ host: v('emailHost'), port: num('emailPort'), secure: b.emailSecure === 'on' || b.emailSecure === 'true', username: v('emailUsername'), password: v('emailPassword'), from: v('emailFrom'), to: (v('emailTo') ?? '').split(/[\s,;]+/).filter((x) => x !== '') }),
    webhook: v('webhookUrl') === undefined ? undefined : some({ url: v('webhookUrl'), secret: v('webhookSecret') })
  })
}
