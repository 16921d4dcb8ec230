/**
 * The mistakes a new user makes on the README's Pi path, each with the one
 * message they see and nothing lost: a weak passphrase or a missing
 * --passphrase-file (no keystore written), a device paired to another ID
 * (refused, nothing paired), configs that --check must refuse offline
 * naming the field (a listen address that is no multiaddr, a storage node
 * that is no peer, a serial device that does not exist, no keystore, a
 * port in use), and every port conflict at start: exit 1 at once with one
 * line naming the setting, the data dir intact for the next start.
 */
import t, { type Test } from 'tap'
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { openKeystore } from '../../hub/src/store/keystore.ts'
import { ADMIN_AUTH_FILE } from '../../hub/src/nodered/admin-auth.ts'
import { WEB_AUTH_FILE } from '../../hub/src/web/credentials.ts'

// each step is a CLI process starting part of a hub; on a loaded 2-core machine that takes minutes
t.setTimeout(1_500_000)
const run = promisify(execFile)
const CLI = new URL('../../hub/src/cli.ts', import.meta.url).pathname
const PASS = 'new user mistakes passphrase'
const STORAGE = '/ip4/127.0.0.1/tcp/1/p2p/12D3KooWNMghTXJunhDMmtDsALrNukYYKisBMyzrcDPfW6DeTino'
type Out = { code: number, stdout: string, stderr: string }
const hc = async (args: string[], env: NodeJS.ProcessEnv = {}): Promise<Out> =>
  await run(process.execPath, [CLI, ...args], { env: { ...process.env, HEALTHCHAIN_PASSPHRASE: PASS, ...env }, timeout: 120_000 })
    .then((r) => ({ code: 0, ...r }), (e: Out) => e)

t.test('passphrases and passphrase files', async (t) => {
  const dir = t.testdir()
  const weak = await hc(['keys', 'new', '--data-dir', dir], { HEALTHCHAIN_PASSPHRASE: 'x' })
  t.equal(weak.code, 1)
  t.match(weak.stderr, /^healthchain: passphrase: too weak for the key that protects health data: 1 character\(s\), at least 12 needed/)
  const common = await hc(['keys', 'new', '--data-dir', dir], { HEALTHCHAIN_PASSPHRASE: 'password1234' })
  t.match(common.stderr, /passphrase: too weak .*commonly used password/, 'a long but common passphrase is refused by the strength estimate')
  t.notOk(existsSync(join(dir, 'keystore.json')), 'no keystore written')
  const missing = await hc(['keys', 'new', '--data-dir', dir, '--passphrase-file', join(dir, 'nope.txt')])
  t.equal(missing.stderr, `healthchain: --passphrase-file: ${join(dir, 'nope.txt')}: no such file\n`, 'the missing file names its option')
  const ok = await hc(['keys', 'new', '--data-dir', dir])
  t.equal(ok.code, 0, ok.stderr)
  const noKeystore = await hc(['keys', 'show', '--data-dir', join(dir, 'elsewhere')])
  t.match(noKeystore.stderr, /keystore: no keystore at .*keystore\.json: create the identity first \(healthchain keys new\)/)
})

t.test('a device paired to another ID is refused', async (t) => {
  const dir = t.testdir()
  const id = /id: ([0-9a-f]{64})/.exec((await hc(['keys', 'new', '--data-dir', dir])).stdout)![1]!
  const other = 'ab'.repeat(32)
  const wrong = await hc(['devices', 'add', 'ox-1', '--user', other, '--data-dir', dir])
  t.equal(wrong.code, 1)
  t.match(wrong.stderr, new RegExp(`--user ${other}: this hub's user is ${id} .*never sealed`))
  t.match((await hc(['devices', 'add', 'ox-1', '--user', id.slice(0, 16), '--data-dir', dir])).stderr, /this hub's user is/, 'the 16-digit prefix is refused too')
  t.match((await hc(['devices', 'list', '--data-dir', dir])).stdout, /no devices paired/, 'nothing was paired')
  const right = await hc(['devices', 'add', 'ox-1', '--sensor', 'spo2', '--data-dir', dir])
  t.match(right.stdout, new RegExp(`paired ox-1 for user ${id}`), 'without --user: the keystore\'s full ID')
})

async function hold (): Promise<{ server: Server, port: number }> {
  const server = createServer()
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  return { server, port: (server.address() as { port: number }).port }
}

/** A data dir with a keystore, a port another program holds, and a loopback hub config on free ports. */
async function hubSetup (t: Test): Promise<{ dir: string, data: string, busy: { server: Server, port: number }, base: Record<string, unknown> }> {
  const dir = t.testdir()
  const data = join(dir, 'data')
  await hc(['keys', 'new', '--data-dir', data])
  const busy = await hold()
  t.teardown(() => { busy.server.close() })
  const base = { dataDir: data, storageNodes: [STORAGE], listen: ['/ip4/127.0.0.1/tcp/0'], broker: { embedded: { host: '127.0.0.1', port: 0 } }, http: { host: '127.0.0.1', port: 0 } }
  return { dir, data, busy, base }
}

t.test('--check refuses offline what would fail at start, naming the field', async (t) => {
  const { dir, busy, base } = await hubSetup(t)
  const cases: Array<[object, RegExp]> = [
    [{ ...base, listen: ['127.0.0.1:4001'] }, /^healthchain: listen\[0\]: not a multiaddr \(String multiaddr must start with "\/"\); write e\.g\. \/ip4\//],
    [{ ...base, storageNodes: ['hello/p2p/world'] }, /^healthchain: storageNodes\[0\]: must be a multiaddr ending in \/p2p\/<peer id>/],
    [{ ...base, storageNodes: ['/ip4/127.0.0.1/tcp/1/p2p/worth'] }, /^healthchain: storageNodes\[0\]: \/p2p\/worth is not a peer id/],
    [{ ...base, storageNodes: ['/hello/p2p/12D3KooWNMghTXJunhDMmtDsALrNukYYKisBMyzrcDPfW6DeTino'] }, /^healthchain: storageNodes\[0\]: not a multiaddr \(Protocol hello was unknown\)/],
    [{ ...base, serial: [{ path: join(dir, 'ttyACM9'), device: 'ox-1' }] }, /serial\[0\]\.path: .*ttyACM9 does not exist: is the board plugged in\?/],
    [{ ...base, dataDir: join(dir, 'empty') }, /dataDir: no keystore at .*empty\/keystore\.json: create the user's identity first \(healthchain keys new --data-dir/],
    [{ ...base, http: { host: '127.0.0.1', port: busy.port } }, new RegExp(`http\\.port: 127\\.0\\.0\\.1:${busy.port} is already in use`)],
    [{ ...base, broker: { embedded: { host: '127.0.0.1', port: busy.port } } }, /broker\.embedded\.port: .* is already in use/],
    [{ ...base, listen: [`/ip4/127.0.0.1/tcp/${busy.port}`] }, /listen\[0\]: .* is already in use/]
  ]
  for (const [cfg, re] of cases) {
    const file = join(dir, 'hub.json')
    await writeFile(file, JSON.stringify(cfg))
    const r = await hc(['hub', '--config', file, '--check'])
    t.ok(r.code === 1 && re.test(r.stderr), `${JSON.stringify(cfg).slice(0, 80)} → ${r.stderr.trim()}`)
  }
  const file = join(dir, 'hub.json')
  await writeFile(file, JSON.stringify(base))
  t.match((await hc(['hub', '--config', file, '--check'])).stdout, /config ok/)
  t.match((await hc(['hub', '--config', join(dir, 'none.json')])).stderr, /--config: .*none\.json: no such file/, 'a missing config names --config')
})

t.test('a port in use at start: exit 1 at once, one line naming the setting, nothing lost', async (t) => {
  const { dir, data, busy, base } = await hubSetup(t)
  const cases: Array<[string, object]> = [
    ['listen', { listen: [`/ip4/127.0.0.1/tcp/${busy.port}`] }],
    ['broker.embedded.port', { broker: { embedded: { host: '127.0.0.1', port: busy.port } } }],
    ['http.port', { http: { host: '127.0.0.1', port: busy.port } }]
  ]
  for (const [setting, over] of cases) {
    const file = join(dir, 'hub.json')
    await writeFile(file, JSON.stringify({ ...base, ...over }))
    const r = await hc(['hub', '--config', file])
    t.equal(r.code, 1, `${setting}: exits 1 (the command's timeout would have killed a hang)`)
    const lines = r.stderr.trim().split('\n')
    t.equal(lines.length, 1, `${setting}: one line: ${r.stderr}`)
    t.match(lines[0], new RegExp(`^healthchain: ${setting.replace(/\./g, '\\.')}: .*[:/]${busy.port} is already in use by another program .*change this setting`))
  }
  // the data dir is intact: the keystore opens, and no login was made that nobody was shown
  t.ok(await openKeystore(join(data, 'keystore.json'), PASS))
  t.notOk(existsSync(join(data, 'node-red', ADMIN_AUTH_FILE)) || existsSync(join(data, WEB_AUTH_FILE)), 'no login was created (and lost) by the failed starts')
})

t.test('the devnet with its --port in use', async (t) => {
  const dir = t.testdir()
  const busy = await hold()
  t.teardown(() => { busy.server.close() })
  const devnet = await run(process.execPath, [new URL('../../hub/src/devnet.ts', import.meta.url).pathname, '--data-dir', join(dir, 'devnet'), '--port', String(busy.port), '--quiet'], { timeout: 180_000 })
    .then((r) => ({ code: 0, ...r }), (e: Out) => e)
  t.equal(devnet.code, 1, 'the devnet with its --port in use exits 1')
  t.match(devnet.stderr, new RegExp(`^devnet: --port: 127\\.0\\.0\\.1:${busy.port} is already in use`, 'm'))
})
