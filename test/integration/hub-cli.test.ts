/**
 * `healthchain hub --config`: bad configs are refused naming the field; a
 * valid one starts the whole hub (ingest with its broker, core node with
 * libp2p, IPFS, Node-RED, patient page), which needs a login and stops on SIGTERM.
 */
import t from 'tap'
import { execFile, spawn } from 'node:child_process'
import { promisify } from 'node:util'
import { readFile, writeFile } from 'node:fs/promises'
import { trustCa } from '../helpers/http-client.ts'
import { join } from 'node:path'
import { openAdmission, StorageNode } from '../../hub/src/roles/storage/index.ts'

// each step runs the real CLI as a child process: past tap's default 120 s on a busy 2-core machine
t.setTimeout(300_000)

const run = promisify(execFile)
const CLI = new URL('../../hub/src/cli.ts', import.meta.url).pathname
const env = { ...process.env, HEALTHCHAIN_PASSPHRASE: 'hub cli test' }

t.test('config validation names the field', async (t) => {
  const dir = t.testdir()
  const base = { dataDir: join(dir, 'data'), storageNodes: ['/ip4/127.0.0.1/tcp/1/p2p/12D3KooWNMghTXJunhDMmtDsALrNukYYKisBMyzrcDPfW6DeTino'] }
  const cases: Array<[object, RegExp]> = [
    [{ ...base, nope: 1 }, /nope: unknown setting/],
    [{ ...base, network: 'testnet' }, /network: must be one of (devnet|mainnet), (devnet|mainnet)/],
    [{ ...base, storageNodes: ['/ip4/127.0.0.1/tcp/1'] }, /storageNodes\[0\]: must be a multiaddr ending in \/p2p/],
    [{ ...base, replication: 2 }, /storageNodes: 1 given, replication 2/],
    [{ storageNodes: base.storageNodes }, /dataDir: must be a non-empty string/],
    [{ ...base, broker: { url: 'http://x' } }, /broker.url: must start with mqtt/],
    [{ ...base, serial: [{ baudRate: 9600 }] }, /serial\[0\].path/],
    [{ ...base, http: { port: 70000 } }, /http.port: must be an integer/]
  ]
  for (const [cfg, re] of cases) {
    const file = join(dir, 'bad.json')
    await writeFile(file, JSON.stringify(cfg))
    const r = await run(process.execPath, [CLI, 'hub', '--config', file, '--check'], { env }).then(() => null, (e: { code: number, stderr: string }) => e)
    t.ok(r !== null && r.code === 1 && re.test(r.stderr), `${JSON.stringify(cfg).slice(0, 60)}… → ${r?.stderr.trim()}`)
  }
  const missing = await run(process.execPath, [CLI, 'hub', '--config', join(dir, 'none.json')], { env }).then(() => null, (e: { code: number, stderr: string }) => e)
  t.match(missing?.stderr, /no such file/)
  // --check also checks offline that the keystore exists and the ports are free
  await run(process.execPath, [CLI, 'keys', 'new', '--data-dir', base.dataDir], { env })
  const ok = join(dir, 'ok.json')
  await writeFile(ok, JSON.stringify({ ...base, broker: { embedded: { host: '127.0.0.1', port: 0 } }, http: { host: '127.0.0.1', port: 0 } }))
  t.match((await run(process.execPath, [CLI, 'hub', '--config', ok, '--check'], { env })).stdout, /config ok/)
})

t.test('a valid config starts the hub; SIGTERM stops it', { timeout: 90_000 }, async (t) => {
  const dir = t.testdir()
  const storage = await StorageNode.create({ dataDir: join(dir, 'storage'), admission: openAdmission })
  t.teardown(async () => { await storage.stop() })
  const data = join(dir, 'data')
  await run(process.execPath, [CLI, 'keys', 'new', '--data-dir', data], { env })
  const cfg = join(dir, 'hub.json')
  await writeFile(cfg, JSON.stringify({
    dataDir: data, listen: ['/ip4/127.0.0.1/tcp/0'], storageNodes: [storage.ipfs.multiaddrs[0]!.toString()],
    broker: { embedded: { host: '127.0.0.1', port: 0 } }, http: { host: '127.0.0.1', port: 0 }, editor: { host: '127.0.0.1', port: 0 }
  }))
  const child = spawn(process.execPath, [CLI, 'hub', '--config', cfg], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { child.kill('SIGKILL') })
  let out = ''
  child.stdout.on('data', (b: Buffer) => { out += b.toString() })
  child.stderr.on('data', (b: Buffer) => { out += b.toString() })
  const t0 = Date.now()
  while (!/logins +made/.test(out) && child.exitCode === null && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 100))
  t.match(out, /hub ready/, 'ready')
  t.match(out, /MQTT broker\s+port \d+/, 'embedded broker listening')
  const url = out.match(/patient page\s+(\S+)/)![1]!
  trustCa(await readFile(join(data, 'tls', 'ca.pem'), 'utf8'))
  const page = await fetch(url, { redirect: 'manual' })
  t.equal(page.status, 303, 'the patient page needs a login')
  const editor = await fetch(`${out.match(/Node-RED\s+(\S+)/)![1]!}flows`)
  t.equal(editor.status, 401, 'so does the Node-RED admin API')
  const code = await new Promise<number | null>((resolve) => { child.once('exit', resolve); child.kill('SIGTERM') })
  t.equal(code, 0, 'SIGTERM exits 0')
})
