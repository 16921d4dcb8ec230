/**
 * The web pages' router over real HTTP on 127.0.0.1 (issue #13), with the
 * real roles behind it (test/browser/web-fixture.ts): login required,
 * scrypt credentials stored 0600, session cookie flags, CSRF, login rate
 * limit, grant/revoke reaching UserKeys and the doctors, a human doctor's
 * amended signature reaching the patient through a certified Dblock, FHIR
 * download, no key material in any response, and mounting under a path of
 * another express app.
 */
import t from 'tap'
import express from 'express'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { toHex } from '../../hub/src/core/index.ts'
import { WEB_AUTH_FILE, loadOrCreateCredentials } from '../../hub/src/web/credentials.ts'
import { createWebRouter } from '../../hub/src/web/router.ts'
import { serve, makeFixture, story, trace, T0, type Served } from '../browser/web-fixture.ts'
import { Client } from '../helpers/http-client.ts'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'

let now = 1_000_000
let s: Served
t.before(async () => { s = await serve({ rateLimit: { max: 5, windowMs: 60_000, now: () => now } }) })
t.teardown(async () => { await s.close() })

t.test('credentials: created once, scrypt hash only, mode 0600', async (t) => {
  t.match(s.web.url, /^https:\/\/127\.0\.0\.1:\d+$/, 'HTTPS, bound to loopback by default')
  const path = join(s.dir, WEB_AUTH_FILE)
  t.equal((await stat(path)).mode & 0o777, 0o600)
  const text = await readFile(path, 'utf8')
  t.notOk(text.includes(s.password), 'the password is not stored')
  const j = JSON.parse(text) as { username: string, scrypt: { N: number, hash: string } }
  t.equal(j.username, 'admin')
  t.ok(j.scrypt.N >= 1 << 15, 'scrypt cost')
  const again = await loadOrCreateCredentials(s.dir)
  t.equal(again.created, undefined, 'a second start keeps the login and shows no password')
  t.same(again.record, j)
})

t.test('credentials readable by others are refused', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hc-web-cred-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await loadOrCreateCredentials(dir)
  const { chmod } = await import('node:fs/promises')
  await chmod(join(dir, WEB_AUTH_FILE), 0o644)
  await t.rejects(loadOrCreateCredentials(dir), { code: 'ERR_WEB_CREDENTIALS', message: /chmod 600/ })
})

t.test('without login: pages redirect to the login, the API and POSTs get 401/403', async (t) => {
  const c = new Client(s.web.url)
  const page = await c.req('GET', '/patient')
  t.equal(page.status, 303)
  t.equal(page.headers.get('location'), '/login?next=%2Fpatient')
  const doc = await c.req('GET', '/doctor')
  t.equal(doc.status, 303)
  const api = await c.req('GET', '/api/patient')
  t.equal(api.status, 401)
  t.equal((api.json() as { error: string }).error, 'ERR_LOGIN_REQUIRED')
  t.equal((await c.req('GET', '/patient?fragment=main')).status, 401, 'the live refresh gets 401, not a login page')
  t.equal((await c.req('GET', '/patient/diagnoses/' + s.fixture.reader.diagnoses[0]!.htxd + '/fhir')).status, 303)
  // a POST with no session at all is refused before anything else
  const anon = await c.req('POST', '/patient/doctors/revoke', { doctor: toHex(s.fixture.ai.id) })
  t.equal(anon.status, 403)
  // with the login page's valid token but not logged in: 401
  const login = await c.req('GET', '/login')
  t.equal(login.status, 200)
  t.match(login.text, /<form method="post" action="\/login"/)
  const r = await c.req('POST', '/patient/doctors/revoke', { _csrf: Client.token(login.text), doctor: toHex(s.fixture.ai.id) })
  t.equal(r.status, 401)
  t.equal(s.fixture.keys.doctors().length, 2, 'nothing was revoked')
  t.equal((await c.req('GET', '/static/style.css')).status, 200, 'the stylesheet (no data) is public')
})

t.test('login: cookie flags, CSRF on the login form, wrong password, session replaced', async (t) => {
  const c = new Client(s.web.url)
  const page = await c.req('GET', '/login?next=%2Fdoctor')
  const set = page.headers.getSetCookie()[0]!
  t.match(set, /HttpOnly/)
  t.match(set, /SameSite=Strict/)
  t.match(set, /Path=\//)
  t.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/)
  t.equal(page.headers.get('x-frame-options'), 'DENY')
  const anonCookie = c.cookie
  t.equal((await c.req('POST', '/login', { username: 'admin', password: s.password })).status, 403, 'no CSRF token → 403')
  const tampered = new Client(s.web.url)
  tampered.cookie = anonCookie.replace(/.$/, (x) => x === 'A' ? 'B' : 'A')
  t.equal((await tampered.req('POST', '/login', { _csrf: Client.token(page.text), username: 'admin', password: s.password })).status, 403, 'a cookie with a bad signature is no session')
  now += 120_000
  const wrong = await c.req('POST', '/login', { _csrf: Client.token(page.text), username: 'admin', password: 'not-the-password' })
  t.equal(wrong.status, 401)
  t.match(wrong.text, /Wrong user name or password/)
  t.match(wrong.text, /role="alert"/)
  const ok = await c.req('POST', '/login', { _csrf: Client.token(page.text), username: 'admin', password: s.password, next: '/doctor' })
  t.equal(ok.status, 303)
  t.equal(ok.headers.get('location'), '/doctor', 'back to the page asked for')
  t.not(c.cookie, anonCookie, 'a new session ID after login')
  const other = new Client(s.web.url)
  const otherPage = await other.req('GET', '/login')
  const openRedirect = await other.req('POST', '/login', { _csrf: Client.token(otherPage.text), username: 'admin', password: s.password, next: '//evil.example/' })
  t.equal(openRedirect.headers.get('location'), '/', 'no redirect off the hub')
  const doc = await c.req('GET', '/doctor')
  t.equal(doc.status, 200)
  t.match(doc.text, /Diagnoses to review/)
  const out = await c.req('POST', '/logout', { _csrf: Client.token(doc.text) })
  t.equal(out.status, 303)
  const old = new Client(s.web.url)
  old.cookie = ok.headers.getSetCookie()[0]!.split(';')[0]!
  t.equal((await old.req('GET', '/api/doctor')).status, 401, 'the session is gone after logout')
})

t.test('CSRF: a logged-in POST without the token, with a wrong one or from another origin is refused', async (t) => {
  const c = new Client(s.web.url)
  const token = await c.login('admin', s.password)
  const doctor = toHex(s.fixture.human.id)
  const none = await c.req('POST', '/patient/doctors/revoke', { doctor })
  t.equal(none.status, 403)
  t.match(none.text, /security token/)
  t.equal((await c.req('POST', '/patient/doctors/revoke', { doctor, _csrf: token.replace(/^./, (x) => x === 'a' ? 'b' : 'a') })).status, 403)
  t.equal((await c.req('POST', '/patient/doctors/revoke', { doctor, _csrf: token }, { origin: 'http://evil.example' })).status, 403)
  t.equal((await c.req('POST', '/api/x', { doctor }, { 'content-type': 'application/json' })).status, 403, 'JSON needs the token too')
  t.equal(s.fixture.keys.doctors().length, 2, 'both doctors still granted')
  t.ok(s.fixture.humanNode.keys.patientsGranted().length === 1)
})

t.test('grant and revoke reach UserKeys, the published tx_keys and the doctors', async (t) => {
  const f = s.fixture
  const c = new Client(s.web.url)
  const token = await c.login('admin', s.password)
  const before = f.keys.current!.epoch
  const nPublished = f.published.length
  const r = await c.req('POST', '/patient/doctors/revoke', { doctor: toHex(f.human.id), _csrf: token })
  t.equal(r.status, 303)
  t.equal(r.headers.get('location'), '/patient')
  t.equal(f.keys.current!.epoch, before + 1, 'a new epoch')
  t.notOk(f.keys.doctors().some((d) => toHex(d) === toHex(f.human.id)), 'the doctor is no longer named')
  t.equal(f.published.length, nPublished + 1, 'a tx_key was published')
  t.same(f.humanNode.keys.patientsGranted(), [], 'the doctor node saw its revocation')
  t.equal(f.humanNode.reviewQueue.length, 0, 'and dropped the reviews it had not signed')
  const page = await c.req('GET', '/patient')
  t.match(page.text, /was revoked: your new readings are locked with fresh keys/, 'the page says what happened')
  t.notMatch(page.text.slice(page.text.indexOf('id="granted"')), new RegExp(`data-doctor="${toHex(f.human.id)}"[^]*id="available"`), 'not in the granted list')

  const again = await c.req('POST', '/patient/doctors/revoke', { doctor: toHex(f.human.id), _csrf: token }, { 'content-type': 'application/json', accept: 'application/json' })
  t.equal(again.status, 409, 'revoking a doctor with no access: 409')
  t.match((again.json() as { message: string }).message, /holds no keys/)
  t.equal((await c.req('POST', '/patient/doctors/grant', { doctor: 'zz', _csrf: token }, { 'content-type': 'application/json', accept: 'application/json' })).status, 400)
  const unknown = await c.req('POST', '/patient/doctors/grant', { doctor: 'ab'.repeat(32), _csrf: token }, { 'content-type': 'application/json', accept: 'application/json' })
  t.equal(unknown.status, 400)
  t.match((unknown.json() as { message: string }).message, /not a registered doctor/)

  const g = await c.req('POST', '/patient/doctors/grant', { doctor: toHex(f.human.id), _csrf: token }, { 'content-type': 'application/json', accept: 'application/json' })
  t.equal(g.status, 200)
  t.equal((g.json() as { epoch: number }).epoch, before + 2)
  t.same(f.humanNode.keys.patientsGranted().map(toHex), [toHex(f.user.id)], 'granted again')
})

t.test('the patient page says when the data key was last renewed and when it is renewed next', async (t) => {
  const c = new Client(s.web.url)
  await c.login('admin', s.password)
  const renewal = s.fixture.keys.renewal()!
  const api = (await c.req('GET', '/api/patient')).json() as { keyRenewal: { last: number, next: number } }
  t.same(api.keyRenewal, { last: renewal.since * 1000, next: renewal.due * 1000 }, 'from UserKeys: the last fresh IoT key and the scheduled rotation')
  t.equal(api.keyRenewal.next - api.keyRenewal.last, 7 * 24 * 3600 * 1000, 'the default period, 7 days')
  const page = await c.req('GET', '/patient')
  const iso = (ms: number): string => new Date(ms).toISOString()
  t.match(page.text, new RegExp(`Data key last renewed</dt><dd id="key-renewed"><time datetime="${iso(api.keyRenewal.last)}"`))
  t.match(page.text, new RegExp(`Next renewal</dt><dd id="key-next"><time datetime="${iso(api.keyRenewal.next)}"`))
})

t.test('a JSON client: token from GET /login, login, then the x-csrf-token header', async (t) => {
  const c = new Client(s.web.url)
  const json = { 'content-type': 'application/json', accept: 'application/json' }
  const first = (await c.req('GET', '/login', undefined, { accept: 'application/json' })).json() as { csrf: string }
  const login = await c.req('POST', '/login', { username: 'admin', password: s.password }, { ...json, 'x-csrf-token': first.csrf })
  t.equal(login.status, 200)
  const { csrf } = login.json() as { csrf: string }
  t.not(csrf, first.csrf, 'a new token after login')
  const epoch = s.fixture.keys.current!.epoch
  const spare = toHex(s.fixture.spare.id)
  t.equal((await c.req('POST', '/patient/doctors/grant', { doctor: spare }, { ...json, 'x-csrf-token': first.csrf })).status, 403, 'the pre-login token no longer works')
  const g = await c.req('POST', '/patient/doctors/grant', { doctor: spare }, { ...json, 'x-csrf-token': csrf })
  t.same(g.json(), { ok: true, epoch: epoch + 1 })
  t.ok(s.fixture.keys.doctors().some((d) => toHex(d) === spare), 'granted in UserKeys')
  const r = await c.req('POST', '/patient/doctors/revoke', { doctor: spare }, { ...json, 'x-csrf-token': csrf })
  t.same(r.json(), { ok: true, epoch: epoch + 2 })
  t.notOk(s.fixture.keys.doctors().some((d) => toHex(d) === spare), 'revoked in UserKeys')
})

t.test('a human doctor amends and signs; the patient reads it from a certified Dblock', async (t) => {
  const f = s.fixture
  const c = new Client(s.web.url)
  const token = await c.login('admin', s.password)
  // granted again after its revocation (above), the doctor gets the next desaturation to review
  await f.publishBatch(trace(T0 + 1_200_000, 10, 85, 96))
  const doc = await c.req('GET', '/doctor')
  const m = /data-review="([0-9a-f]{64})"/.exec(doc.text)
  t.ok(m, 'the AI diagnosis is queued for review')
  const id = m![1]!
  const fhir = await c.req('GET', `/doctor/reviews/${id}/fhir`)
  t.equal(fhir.status, 200)
  t.equal((fhir.json() as { status: string }).status, 'preliminary')
  const blocks = f.committed.length
  const r = await c.req('POST', `/doctor/reviews/${id}/sign`, { _csrf: token, severity: 'emergency', note: 'Call <b>now</b>' })
  t.equal(r.status, 303)
  t.equal(f.committed.length, blocks + 1, 'a tx_diag was committed in a Dblock')
  const d = f.reader.diagnoses[f.reader.diagnoses.length - 1]!
  t.equal(d.doctor, toHex(f.human.id))
  t.equal(d.diagnosis.status, 'final')
  t.equal(d.diagnosis.severity, 'emergency')
  t.equal(d.diagnosis.note, 'Call <b>now</b>')
  t.equal(d.diagnosis.reviewedBy, 'Dr. Ada Human')
  t.equal((await c.req('POST', `/doctor/reviews/${id}/sign`, { _csrf: token })).status, 303)
  const after = await c.req('GET', '/doctor')
  t.match(after.text, /review not found/, 'signing twice: a clear error')
  t.notMatch(after.text, new RegExp(`data-review="${id}"`), 'no longer queued')
  const patient = await c.req('GET', '/patient')
  t.match(patient.text, /Your doctor(&#39;|')s note:<\/strong> Call &lt;b&gt;now&lt;\/b&gt;/, 'the note is shown, escaped')
  t.match(patient.text, /sev-emergency/)
  const rep = await c.req('GET', `/patient/diagnoses/${d.htxd}/fhir`)
  t.equal(rep.status, 200)
  t.match(rep.headers.get('content-type') ?? '', /application\/fhir\+json/)
  const j = rep.json() as { resourceType: string, status: string, conclusion: string }
  t.equal(j.resourceType, 'DiagnosticReport')
  t.equal(j.status, 'final')
  t.match(j.conclusion, /emergency/)
  t.equal((await c.req('GET', `/patient/diagnoses/${'0'.repeat(64)}/fhir`)).status, 404)
})

t.test('no key material in any page or API response', async (t) => {
  const c = new Client(s.web.url)
  await c.login('admin', s.password)
  const bodies = await Promise.all(['/patient', '/patient?fragment=main', '/api/patient', '/doctor', '/api/doctor'].map(async (p) => (await c.req('GET', p)).text))
  const secrets = s.fixture.secrets()
  t.ok(secrets.length >= 10)
  for (const b of bodies) for (const x of secrets) t.notOk(b.includes(x), 'no secret')
  t.ok(bodies[0]!.includes(toHex(s.fixture.user.id)), 'public IDs are shown')
  const api = JSON.parse(bodies[2]!) as { balance: number, diagnoses: unknown[] }
  t.equal(api.balance, 6_546_000_000)
  t.ok(api.diagnoses.length >= 1)
})

t.test('login rate limit: after 5 failures even the right password waits', async (t) => {
  const c = new Client(s.web.url)
  const page = await c.req('GET', '/login')
  const tok = Client.token(page.text)
  for (let i = 0; i < 5; i++) t.equal((await c.req('POST', '/login', { _csrf: tok, username: 'admin', password: `guess-${i}` })).status, 401)
  const limited = await c.req('POST', '/login', { _csrf: tok, username: 'admin', password: s.password })
  t.equal(limited.status, 429)
  t.ok(Number(limited.headers.get('retry-after')) > 0)
  t.match(limited.text, /Too many failed logins/)
  now += 61_000
  t.equal((await c.req('POST', '/login', { _csrf: tok, username: 'admin', password: s.password })).status, 303, 'the window passed')
})

t.test('login rate limit holds against a burst of parallel guesses', async (t) => {
  now += 61_000
  const c = new Client(s.web.url)
  const tok = Client.token((await c.req('GET', '/login')).text)
  const codes = await Promise.all(Array.from({ length: 12 }, async (_, i) => (await c.req('POST', '/login', { _csrf: tok, username: 'admin', password: `burst-${i}` })).status))
  t.equal(codes.filter((x) => x === 401).length, 5, 'only 5 passwords were checked')
  t.equal(codes.filter((x) => x === 429).length, 7)
  now += 61_000
})

t.test('mountable under a path of another express 4 app', async (t) => {
  const f = makeFixture()
  await story(f)
  const dir = await mkdtemp(join(tmpdir(), 'hc-web-mount-'))
  const web = await createWebRouter({ dataDir: dir, patient: f.patient, log: () => {} })
  const app = express()
  app.get('/other', (_req, res) => { res.send('other app route') })
  app.use('/web', web.router)
  const server = createServer(app)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => { server.closeAllConnections(); await new Promise((resolve) => server.close(resolve)); await rm(dir, { recursive: true, force: true }) })
  const c = new Client(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)
  t.equal((await c.req('GET', '/other')).text, 'other app route')
  const r = await c.req('GET', '/web/patient')
  t.equal(r.status, 303)
  t.equal(r.headers.get('location'), '/web/login?next=%2Fweb%2Fpatient')
  const login = await c.req('GET', '/web/login')
  t.match(login.headers.getSetCookie()[0]!, /Path=\/web;/)
  t.match(login.text, /href="\/web\/static\/style.css"/)
  const ok = await c.req('POST', '/web/login', { _csrf: Client.token(login.text), username: 'admin', password: web.created!.password, next: '/web/patient' })
  t.equal(ok.headers.get('location'), '/web/patient')
  const page = await c.req('GET', '/web/patient')
  t.equal(page.status, 200)
  t.match(page.text, /action="\/web\/patient\/doctors\/revoke"/)
  t.equal((await c.req('GET', '/web/doctor')).status, 404, 'no doctor page on a patient-only hub')
})
