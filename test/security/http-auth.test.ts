/**
 * No one on the LAN is let into the hub's HTTP surfaces without a login
 * (threat model in test/README.md: people on the LAN; OWASP ASVS V2/V3/V4).
 * The real hub (hub/src/hub.ts: Node-RED editor and admin API at /red, the
 * flows' endpoints at /red/api behind basic auth, the patient page and its
 * JSON API at /) is started on loopback and every surface is tried without
 * a login, with wrong passwords, with forged cookies and tokens, without a
 * CSRF token and from another origin; then one client floods each login.
 * Each bad request gets 303-to-login, 401, 403 or 429, changes nothing, and
 * a good request right after is served. The doctor page and an expired
 * session are tried on the stand-alone web server (the hub mounts only the
 * patient page) with a clock the test moves.
 *
 * Regression "basic-auth-rate-limit": the flows' endpoints checked every
 * basic-auth guess with bcrypt, unthrottled — a way around the web login's
 * limit. They now share its limiter (hub/src/nodered/admin-auth.ts).
 */
import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startHub, validateHubConfig, type Hub } from '../../hub/src/hub.ts'
import { serve as serveWeb } from '../browser/web-fixture.ts'
import { Client, trustCa } from '../helpers/http-client.ts'
import { who } from '../helpers/core.ts'

// Node-RED keeps a login-session expiry timer (one week) that RED.stop() does not clear
t.teardown(() => { setTimeout(() => { process.exit() }, 200).unref() })

const FAKE_STORAGE = '/ip4/127.0.0.1/tcp/1/p2p/12D3KooWNMghTXJunhDMmtDsALrNukYYKisBMyzrcDPfW6DeTino'
const HEX = 'ab'.repeat(32)
const basic = (user: string, pw: string): string => 'Basic ' + Buffer.from(`${user}:${pw}`).toString('base64')
const tokenRequest = (username: string, password: string): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ client_id: 'node-red-admin', grant_type: 'password', scope: '*', username, password })
})

t.test('the hub: every surface refuses what has no login, and keeps serving', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hc-sec-http-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const cfg = validateHubConfig({
    dataDir: dir, network: 'devnet', hubId: 'sec', listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [], mine: false,
    storageNodes: [FAKE_STORAGE], replication: 1, broker: { embedded: { host: '127.0.0.1', port: 0 } }, serial: [], http: { host: '127.0.0.1', port: 0 }, editor: { host: '127.0.0.1', port: 0 }
  }, dir)
  const hub: Hub = await startHub(cfg, who('sec-hub-user'), () => undefined)
  t.teardown(async () => { await hub.stop() })
  trustCa(hub.tls!.ca!) // over HTTPS, as a browser that imported the hub's CA
  const origin = hub.urls.patient.replace(/\/$/, '')
  // the editor on its own listener
  const edOrigin = hub.urls.editor.replace(/\/red\/$/, '')
  const web = hub.logins.web!
  const editor = hub.logins.editor!
  t.ok(web !== undefined && editor !== undefined, 'first start made both logins')

  // the logged-in clients the rest of the test checks are still served
  const owner = new Client(origin)
  const csrf = await owner.login(web.username, web.password)
  const tok = await fetch(`${edOrigin}/red/auth/token`, tokenRequest(editor.username, editor.password))
  t.equal(tok.status, 200, 'the editor login works')
  const bearer = `Bearer ${(await tok.json() as { access_token: string }).access_token}`
  const served = async (what: string): Promise<void> => {
    const page = await owner.req('GET', '/api/patient')
    const flows = await fetch(`${edOrigin}/red/flows`, { headers: { authorization: bearer } })
    const node = await fetch(`${edOrigin}/red/api/none`, { headers: { authorization: basic(editor.username, editor.password) } })
    t.ok(page.status === 200 && flows.status === 200 && node.status !== 401 && node.status !== 429, `${what}: the owner is still served (API ${page.status}, editor ${flows.status}, flows' endpoint ${node.status}: past the login)`)
  }
  await served('before')

  // 1. no login at all, on every surface
  const anon = new Client(origin)
  const anonEd = new Client(edOrigin)
  const surfaces: Array<[string, string, number[]]> = [
    ['GET', '/', [303]], ['GET', '/patient', [303]], ['GET', '/patient?fragment=main', [401]], ['GET', '/api/patient', [401]],
    ['GET', `/patient/diagnoses/${HEX}/fhir`, [303]], ['GET', '/doctor', [303]], ['GET', '/api/doctor', [401]],
    ['POST', '/patient/doctors/grant', [403]], ['POST', '/patient/doctors/revoke', [403]], ['POST', `/doctor/reviews/${HEX}/sign`, [403]],
    ['GET', '/red/flows', [401]], ['POST', '/red/flows', [401]], ['GET', '/red/nodes', [401]], ['GET', '/red/settings/user', [401]],
    ['GET', '/red/context/global', [401]], ['POST', '/red/inject/x', [401]], ['GET', '/red/diagnostics', [401]], ['POST', '/red/nodes', [401, 403, 404]], // palette installs are off: no such route on the editor's own listener
    ['GET', '/red/api/diagnose', [401]], ['POST', '/red/api/diagnose', [401]]
  ]
  for (const [method, path, want] of surfaces) {
    const r = await (path.startsWith('/red') ? anonEd : anon).req(method, path, method === 'POST' ? { doctor: HEX } : undefined, { accept: path.startsWith('/red') ? 'application/json' : 'text/html' })
    const where = r.headers.get('location') ?? ''
    t.ok(want.includes(r.status) && (r.status !== 303 || where.startsWith('/login')), `${method} ${path} without login: ${r.status} ${where}`)
  }

  // 2. forged credentials: a made-up cookie, a real cookie with a changed signature, a made-up bearer token, wrong passwords
  const forged = new Client(origin)
  forged.cookie = 'hc_session=' + 'A'.repeat(32) + '.' + 'B'.repeat(43)
  t.equal((await forged.req('GET', '/api/patient')).status, 401, 'a made-up session cookie is no session')
  forged.cookie = owner.cookie.replace(/.$/, (c) => c === 'A' ? 'B' : 'A')
  t.equal((await forged.req('GET', '/api/patient')).status, 401, 'the owner\'s cookie with one character of its signature changed is no session')
  t.equal((await fetch(`${edOrigin}/red/flows`, { headers: { authorization: 'Bearer ' + 'x'.repeat(40) } })).status, 401, 'a made-up editor token is refused')
  const wrong = new Client(origin)
  const form = Client.token((await wrong.req('GET', '/login')).text)
  t.equal((await wrong.req('POST', '/login', { _csrf: form, username: web.username, password: web.password + 'x' })).status, 401, 'web login: wrong password 401')
  t.equal((await wrong.req('POST', '/login', { _csrf: form, username: 'root', password: web.password })).status, 401, 'web login: wrong user 401')
  t.equal((await wrong.req('GET', '/api/patient')).status, 401, 'and no session came of it')
  t.not((await fetch(`${edOrigin}/red/auth/token`, tokenRequest(editor.username, editor.password + 'x'))).status, 200, 'editor: wrong password gets no token')
  t.equal((await fetch(`${edOrigin}/red/api/diagnose`, { method: 'POST', headers: { authorization: basic(editor.username, 'nope') } })).status, 401, 'flows\' endpoint: wrong password 401')
  t.equal((await fetch(`${edOrigin}/red/api/diagnose`, { method: 'POST', headers: { authorization: basic('root', editor.password) } })).status, 401, 'flows\' endpoint: wrong user 401')
  await served('after forged credentials')

  // 3. CSRF: the owner's session without the token, with a wrong one, from another origin
  const doctors = (await owner.req('GET', '/api/patient')).json() as { doctors?: unknown[] }
  t.equal((await owner.req('POST', '/patient/doctors/grant', { doctor: HEX })).status, 403, 'no CSRF token: 403')
  t.equal((await owner.req('POST', '/patient/doctors/grant', { doctor: HEX, _csrf: csrf.slice(1) + 'x' })).status, 403, 'wrong CSRF token: 403')
  t.equal((await owner.req('POST', '/patient/doctors/grant', { doctor: HEX, _csrf: csrf }, { origin: 'http://evil.example' })).status, 403, 'cross-site Origin: 403')
  t.equal((await owner.req('POST', '/logout', {})).status, 403, 'even logout needs the token')
  t.same(((await owner.req('GET', '/api/patient')).json() as { doctors?: unknown[] }).doctors, doctors.doctors, 'nothing was granted')
  // (the editor's admin API takes only a bearer token in a header, never a cookie: a cross-site page has nothing to ride on)
  await served('after CSRF attempts')

  // 4. floods from one client: 60 parallel wrong logins on each login surface
  const N = 60
  const flood = new Client(origin)
  const ftok = Client.token((await flood.req('GET', '/login')).text)
  const webCodes = await Promise.all(Array.from({ length: N }, async (_, i) => (await flood.req('POST', '/login', { _csrf: ftok, username: web.username, password: `guess-${i}` })).status))
  const webCount = (s: number): number => webCodes.filter((c) => c === s).length
  t.ok(webCount(401) <= 5 && webCount(429) >= N - 5 && webCount(401) + webCount(429) === N, `web login flood: ${webCount(401)} checked (401), ${webCount(429)} refused unchecked (429)`)
  const right = await flood.req('POST', '/login', { _csrf: ftok, username: web.username, password: web.password })
  t.equal(right.status, 429, 'the limit holds even for the right password')
  t.ok(Number(right.headers.get('retry-after')) > 0, `with Retry-After: ${right.headers.get('retry-after')} s`)

  const nodeCodes = await Promise.all(Array.from({ length: N }, async (_, i) =>
    (await fetch(`${edOrigin}/red/api/diagnose`, { method: 'POST', headers: { authorization: basic(editor.username, `guess-${i}`) } })).status))
  const nodeCount = (s: number): number => nodeCodes.filter((c) => c === s).length
  t.ok(nodeCount(401) <= 5 && nodeCount(429) >= N - 5 && nodeCount(401) + nodeCount(429) === N, `flows' endpoint flood (basic-auth-rate-limit): ${nodeCount(401)} checked with bcrypt, ${nodeCount(429)} refused unchecked`)

  const tokCodes = await Promise.all(Array.from({ length: 20 }, async (_, i) => (await fetch(`${edOrigin}/red/auth/token`, tokenRequest(editor.username, `guess-${i}`))).status))
  t.ok(tokCodes.every((c) => c !== 200), `editor token flood: no token (${[...new Set(tokCodes)].join(', ')}); Node-RED itself allows 5 attempts per user in 10 min, then answers an error`)
  t.not((await fetch(`${edOrigin}/red/auth/token`, tokenRequest(editor.username, editor.password))).status, 200, 'then even the right password waits')
  await served('after the floods')
})

t.test('the doctor page and expired sessions (stand-alone web server, moved clock)', async (t) => {
  let now = 1_000_000
  const s = await serveWeb({ sessions: { now: () => now, idleMs: 60_000 } })
  t.teardown(async () => { await s.close() })
  const c = new Client(s.web.url)
  const csrf = await c.login('admin', s.password)
  t.equal((await c.req('GET', '/api/doctor')).status, 200, 'logged in: the doctor API answers')
  const anon = new Client(s.web.url)
  t.equal((await anon.req('GET', '/doctor')).status, 303, 'doctor page without login: to the login')
  t.equal((await anon.req('GET', '/api/doctor')).status, 401)
  t.equal((await anon.req('GET', `/doctor/reviews/${HEX}/fhir`)).status, 303)
  t.equal((await anon.req('POST', `/doctor/reviews/${HEX}/sign`, {})).status, 403, 'signing without a session: refused')
  const signed = s.fixture.committed.length
  t.equal((await c.req('POST', `/doctor/reviews/${HEX}/sign`, {})).status, 403, 'signing without the CSRF token: refused')
  t.equal(s.fixture.committed.length, signed, 'nothing was signed')

  now += 59_000
  t.equal((await c.req('GET', '/api/doctor')).status, 200, 'used within the idle time: still valid')
  now += 61_000
  t.equal((await c.req('GET', '/api/doctor')).status, 401, 'idle past 60 s: the session expired')
  t.equal((await c.req('POST', '/patient/doctors/revoke', { doctor: HEX, _csrf: csrf })).status, 403, 'an expired session\'s token no longer changes anything')
  t.equal((await c.req('GET', '/doctor')).status, 303, 'the page sends it to the login')
  await c.login('admin', s.password)
  t.equal((await c.req('GET', '/api/doctor')).status, 200, 'a new login is served')
})
