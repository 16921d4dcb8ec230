/**
 * The embedded Node-RED's login (DESIGN §8): on first start the admin login
 * is made, printed once and stored only as a bcrypt hash in a 0600 file;
 * the editor's data and the admin API refuse requests without a token (and
 * with a wrong password); the token opens them. The server listens on
 * 127.0.0.1 unless told otherwise; our palette is loaded.
 */
import t from 'tap'
import { mkdtemp, readFile, rm, stat, chmod } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startNodeRed } from '../../hub/src/nodered/embed.ts'
import { ADMIN_AUTH_FILE, checkPassword, loadOrCreateAdminAuth } from '../../hub/src/nodered/admin-auth.ts'
import { AdminCredentialsError } from '../../hub/src/nodered/errors.ts'
import { userRuntime } from '../helpers/nodered-runtime.ts'

t.plan(1)
// Node-RED keeps a login-session expiry timer (one week) that RED.stop() does
// not clear; once the test has ended, do not wait for it.
t.teardown(() => { setTimeout(() => { process.exit() }, 200).unref() })

t.test('editor and admin API refuse requests without login', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hc-nodered-auth-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const u = await userRuntime()
  const printed: string[] = []
  const red = await startNodeRed({ dataDir: dir, runtimes: { hub: u.rt }, port: 0, print: (l) => printed.push(l), logLevel: 'off' })
  t.teardown(async () => { await red.stop() })
  t.match(red.origin, /^http:\/\/127\.0\.0\.1:\d+$/, 'bound to loopback by default')

  // first start: the login is printed once, stored hashed, file mode 0600
  t.ok(red.created, 'a login was created')
  const { username, password } = red.created!
  t.equal(printed.length, 1)
  t.ok(printed[0]!.includes(password), 'the password is printed')
  const authPath = join(red.userDir, ADMIN_AUTH_FILE)
  const text = await readFile(authPath, 'utf8')
  t.notOk(text.includes(password), 'the password itself is not stored')
  const rec = JSON.parse(text) as { password: string }
  t.match(rec.password, /^\$2[aby]\$10\$/, 'bcrypt hash')
  t.equal((await stat(authPath)).mode & 0o777, 0o600)
  t.equal((await stat(red.userDir)).mode & 0o777, 0o700, 'the userDir (sessions, flows) is private')
  const again = await loadOrCreateAdminAuth(red.userDir)
  t.equal(again.created, undefined, 'a later start does not make (or print) a new login')
  t.ok(await checkPassword(again.record, password))

  const api = red.adminUrl
  // without a token: every editor data endpoint and the admin API say 401
  for (const [method, path] of [['GET', '/flows'], ['GET', '/nodes'], ['GET', '/settings/user'], ['GET', '/diagnostics'], ['POST', '/flows'], ['POST', '/inject/hub-flush'], ['GET', '/nodes/messages'], ['GET', '/context/global']] as const) {
    const res = await fetch(api + path, { method, headers: { 'content-type': 'application/json', accept: 'application/json' }, ...(method === 'POST' ? { body: '[]' } : {}) })
    t.equal(res.status, 401, `${method} ${path} without login`)
  }
  // the editor asks for a login (credentials type) and its settings carry no flows or user data
  const login = await (await fetch(api + '/auth/login')).json() as { type: string }
  t.equal(login.type, 'credentials')
  // a wrong password gets no token
  const bad = await fetch(api + '/auth/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ client_id: 'node-red-admin', grant_type: 'password', scope: '*', username, password: password + 'x' }) })
  t.not(bad.status, 200, 'wrong password refused')
  // the right one does, and the token opens the API
  const tok = await fetch(api + '/auth/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ client_id: 'node-red-admin', grant_type: 'password', scope: '*', username, password }) })
  t.equal(tok.status, 200)
  const { access_token: token } = await tok.json() as { access_token: string }
  const flows = await fetch(api + '/flows', { headers: { authorization: `Bearer ${token}`, 'Node-RED-API-Version': 'v2' } })
  t.equal(flows.status, 200)
  const body = await flows.json() as { flows: Array<{ type: string }> }
  t.ok(body.flows.some((n) => n.type === 'healthchain-tx-iot'), 'the shipped hub flow is deployed')
  const nodes = await (await fetch(api + '/nodes', { headers: { authorization: `Bearer ${token}`, accept: 'application/json' } })).json() as Array<{ types: string[], enabled: boolean, err?: string }>
  const types = nodes.flatMap((n) => n.types)
  for (const ty of ['healthchain-runtime', 'healthchain-sensor-in', 'healthchain-batch', 'healthchain-encrypt', 'healthchain-ipfs-upload', 'healthchain-tx-iot', 'healthchain-miner', 'healthchain-keys', 'healthchain-diagnose', 'healthchain-pbft-submit', 'healthchain-diagnosis-in']) {
    t.ok(types.includes(ty), `palette has ${ty}`)
  }
  t.same(nodes.filter((n) => n.err !== undefined).map((n) => n.err), [], 'every node set loaded')
  const editor = await fetch(api + '/')
  t.equal(editor.status, 200, 'the editor page itself loads (it shows the login form)')

  // a credentials file others can read is refused
  await chmod(authPath, 0o644)
  await t.rejects(loadOrCreateAdminAuth(red.userDir), AdminCredentialsError)
  await chmod(authPath, 0o600)
})
