/**
 * `https-only`: the hub daemon (`healthchain hub --config`) serves its page
 * over HTTPS with a certificate of its own CA made at first start; plain
 * HTTP on the page's port gets only a redirect; the session cookie carries
 * Secure and HSTS is sent; the Node-RED editor has its own listener on
 * loopback; the logins made at first start are in a 0600 file and never on
 * the process's stdout (or stderr); `healthchain logins reset` replaces
 * them without touching the data.
 */
import t from 'tap'
import { execFile, spawn } from 'node:child_process'
import { promisify } from 'node:util'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { join } from 'node:path'
import { openAdmission, StorageNode } from '../../hub/src/roles/storage/index.ts'
import { LOGINS_FILE, parseLoginsFile } from '../../hub/src/web/logins.ts'
import { Client, trustCa } from '../helpers/http-client.ts'

t.setTimeout(300_000)
const run = promisify(execFile)
const CLI = new URL('../../hub/src/cli.ts', import.meta.url).pathname
const env = { ...process.env, HEALTHCHAIN_PASSPHRASE: 'https only test' }

/** A plain-HTTP GET (no TLS at all) to host:port. */
async function plainGet (url: string): Promise<{ status: number, location?: string, setCookie?: string[] }> {
  return await new Promise((resolve, reject) => {
    request(url, (res) => { res.resume(); resolve({ status: res.statusCode ?? 0, ...(res.headers.location === undefined ? {} : { location: res.headers.location }), ...(res.headers['set-cookie'] === undefined ? {} : { setCookie: res.headers['set-cookie'] }) }) }).on('error', reject).end()
  })
}

async function startDaemon (t: { teardown: (fn: () => unknown) => void }, cfg: string): Promise<{ out: () => string, stop: () => Promise<number | null> }> {
  const child = spawn(process.execPath, [CLI, 'hub', '--config', cfg], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { child.kill('SIGKILL') })
  let out = ''
  child.stdout.on('data', (b: Buffer) => { out += b.toString() })
  child.stderr.on('data', (b: Buffer) => { out += b.toString() })
  const t0 = Date.now()
  while (!/hub ready[\s\S]*logins\s+made on this start/.test(out) && child.exitCode === null && Date.now() - t0 < 90_000) await new Promise((r) => setTimeout(r, 100))
  await new Promise((r) => setTimeout(r, 300))
  return { out: () => out, stop: async () => await new Promise<number | null>((resolve) => { if (child.exitCode !== null) { resolve(child.exitCode); return } child.once('exit', resolve); child.kill('SIGTERM') }) }
}

t.test('https-only', { timeout: 240_000 }, async (t) => {
  const dir = t.testdir()
  const storage = await StorageNode.create({ dataDir: join(dir, 'storage'), admission: openAdmission })
  t.teardown(async () => { await storage.stop() })
  const data = join(dir, 'data')
  await run(process.execPath, [CLI, 'keys', 'new', '--data-dir', data], { env })
  const cfg = join(dir, 'hub.json')
  await writeFile(cfg, JSON.stringify({
    dataDir: data, listen: ['/ip4/127.0.0.1/tcp/0'], storageNodes: [storage.ipfs.multiaddrs[0]!.toString()],
    broker: { embedded: { host: '127.0.0.1', port: 0, tls: { host: '127.0.0.1', port: 0 } } }, http: { host: '127.0.0.1', port: 0 }, editor: { host: '127.0.0.1', port: 0 }
  }))
  const hub = await startDaemon(t, cfg)
  const out = hub.out()
  t.match(out, /hub ready/, 'the hub is up')
  const page = out.match(/patient page\s+(https:\/\/\S+)/)?.[1]
  const editor = out.match(/Node-RED\s+(https:\/\/\S+)/)?.[1]
  t.ok(page !== undefined && editor !== undefined, `page ${page} and editor ${editor} over HTTPS`)
  t.match(out, /certificate\s+SHA-256 ([0-9A-F]{2}:){31}[0-9A-F]{2}/, 'the certificate\'s fingerprint is printed')
  t.match(out, /MQTT over TLS\s+port \d+/, 'and the mqtts listener')
  const pageUrl = new URL(page!)
  t.not(new URL(editor!).port, pageUrl.port, 'the editor has its own listener')
  t.equal(new URL(editor!).hostname, '127.0.0.1', 'bound to loopback')

  // logins: in a 0600 file, never on stdout/stderr
  const file = join(data, LOGINS_FILE)
  t.equal((await stat(file)).mode & 0o777, 0o600, 'logins file is 0600')
  const logins = parseLoginsFile(await readFile(file, 'utf8'))
  t.ok(logins.web !== undefined && logins.editor !== undefined, 'both logins are in it')
  t.notOk(out.includes(logins.web!.password), 'the page password is not in the process\'s output')
  t.notOk(out.includes(logins.editor!.password), 'nor the editor password')

  // plain HTTP on the page's port: only a redirect to https, no page, no cookie
  const plain = await plainGet(`http://127.0.0.1:${pageUrl.port}/patient`)
  t.equal(plain.status, 308, 'plain HTTP is redirected')
  t.equal(plain.location, `https://127.0.0.1:${pageUrl.port}/patient`, 'to the same URL over https')
  t.equal(plain.setCookie, undefined, 'with no cookie')
  const plainEditor = await plainGet(`http://127.0.0.1:${new URL(editor!).port}/red/`)
  t.equal(plainEditor.status, 308, 'the editor too')

  // over HTTPS, trusting the hub's CA as a browser that imported it
  trustCa(await readFile(join(data, 'tls', 'ca.pem'), 'utf8'))
  const c = new Client(page!.replace(/\/$/, ''))
  const login = await c.req('GET', '/login')
  t.equal(login.status, 200, 'the login page over HTTPS, the certificate verified against the hub CA')
  t.match(login.headers.get('strict-transport-security') ?? '', /max-age=\d+/, 'HSTS')
  const cookies = login.headers.getSetCookie()
  t.ok(cookies.length > 0 && cookies.every((x) => /;\s*Secure/i.test(x) && /HttpOnly/i.test(x)), 'the session cookie carries Secure (and HttpOnly)')
  await c.login(logins.web!.username, logins.web!.password)
  t.equal((await c.req('GET', '/patient')).status, 200, 'the login from the file works')
  t.equal((await fetch(`${editor!.replace(/\/$/, '')}/flows`)).status, 401, 'the editor\'s admin API needs its login')
  t.equal(await hub.stop(), 0, 'SIGTERM exits 0')

  // a lost login: replaced without touching the data
  const keystore = await readFile(join(data, 'keystore.json'))
  const reset = await run(process.execPath, [CLI, 'logins', 'reset', '--config', cfg], { env })
  t.notOk(reset.stdout.includes(logins.web!.password), 'reset prints no password')
  const fresh = parseLoginsFile(await readFile(file, 'utf8'))
  t.ok(fresh.web !== undefined && fresh.web.password !== logins.web!.password && fresh.editor !== undefined && fresh.editor.password !== logins.editor!.password, 'new logins in the file')
  t.same(await readFile(join(data, 'keystore.json')), keystore, 'the keystore is untouched')
  const again = await startDaemon(t, cfg)
  t.notMatch(again.out(), /logins\s+made on this start/, 'no new logins at the next start')
  const page2 = again.out().match(/patient page\s+(https:\/\/\S+)/)![1]!
  const c2 = new Client(page2.replace(/\/$/, ''))
  await c2.login(fresh.web!.username, fresh.web!.password)
  t.equal((await c2.req('GET', '/patient')).status, 200, 'the new page login works after the restart')
  const old = new Client(page2.replace(/\/$/, ''))
  await t.rejects(old.login(logins.web!.username, logins.web!.password), /login: 401/, 'the old one does not')
  t.equal(await again.stop(), 0)
})
