/**
 * The README's deployment walkthrough ("Deploying: every role on its own
 * machine"), run step by step: every role is `healthchain <role> --config`
 * in its own child process with its own data dir and a config file made
 * from hub/<role>.example.json with the fields the walkthrough names
 * changed. The processes share nothing but what the walkthrough exchanges:
 * addresses read from their printed ready lines, IDs and the doctor's
 * identity record printed by `healthchain keys`. The device is an MQTT
 * client publishing a desaturation episode with its paired credentials; the
 * walk ends on the hub's patient page (/api/patient) listing the AI
 * doctor's diagnosis, which the hub lists only from a Dblock whose
 * certificate it verified against the accounting nodes and the registry
 * folded from Docchain (paper §IV-B3, §IV-B5).
 *
 * Everything listens on 127.0.0.1 port 0; the hub keeps the libp2p port it
 * got on its first start, as a hub on a LAN keeps its address, so the
 * Userchain peers that bootstrap from it find it again after the restart
 * the offline commands (`keys grant`, `coin pay`, `devices add`) need.
 */
import t, { type Test } from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { appendFileSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import mqtt from 'mqtt'
import { formatLine } from '../../hub/src/ingest/line.ts'
import { readingsTopic } from '../../hub/src/ingest/mqtt.ts'
import { Client, trustCa } from '../helpers/http-client.ts'
import { LOGINS_FILE, parseLoginsFile } from '../../hub/src/web/logins.ts'
import { compileCache } from '../helpers/crash.ts'
import { tempDir } from '../helpers/ipfs.ts'
import { until } from '../helpers/doctor-world.ts'

t.setTimeout(600_000) // a bound, not a goal: seven daemons, two hub starts and one PBFT commit on a 2-core machine that may be running the process devnet test beside it

const CLI = fileURLToPath(new URL('../../hub/src/cli.ts', import.meta.url))
const HUB_DIR = fileURLToPath(new URL('../../hub/', import.meta.url))
const PASS = 'deployment walkthrough passphrase'
const env = { ...process.env, HEALTHCHAIN_PASSPHRASE: PASS, NODE_COMPILE_CACHE: compileCache }

/** One daemon: its command line's output so far, and a wait on it that fails with the output and the exit code. */
class Daemon {
  readonly name: string
  readonly child: ChildProcess
  out = ''
  exit: number | null | undefined = undefined
  constructor (t: Test, name: string, args: readonly string[]) {
    this.name = name
    this.child = spawn(process.execPath, ['--no-warnings', CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env })
    this.child.stdout!.on('data', (b: Buffer) => { this.out += b.toString() })
    this.child.stderr!.on('data', (b: Buffer) => { this.out += b.toString() })
    this.child.once('exit', (code, signal) => { this.exit = code ?? (signal === null ? null : -1) })
    t.teardown(() => {
      if (this.exit === undefined) this.child.kill('SIGKILL')
      // HC_DEPLOY_LOG=<dir> keeps what each daemon printed (for a failed run)
      if (process.env.HC_DEPLOY_LOG !== undefined) appendFileSync(join(process.env.HC_DEPLOY_LOG, `${name.replace(/ /g, '-')}.log`), this.out)
    })
  }

  /** The first match of `re` in the output, waiting at most `ms`. */
  async match (re: RegExp, what: string, ms = 90_000): Promise<RegExpExecArray> {
    return await until(`${this.name}: ${what}`, () => {
      const m = re.exec(this.out)
      if (m !== null) return m
      if (this.exit !== undefined) throw new Error(`${this.name} exited (${this.exit}) before ${what}:\n${this.out.slice(-3000)}`)
      return undefined
    }, ms).catch((err: Error) => { throw new Error(`${err.message}\n--- ${this.name} printed:\n${this.out.slice(-3000)}`) })
  }

  /** SIGTERM, and the exit code. */
  async stop (): Promise<number | null> {
    if (this.exit !== undefined) return this.exit
    const done = new Promise<number | null>((resolve) => this.child.once('exit', (code) => { resolve(code) }))
    this.child.kill('SIGTERM')
    const timer = setTimeout(() => { this.child.kill('SIGKILL') }, 30_000)
    try { return await done } finally { clearTimeout(timer) }
  }
}

/** A one-shot command (`healthchain keys …`, `coin pay`, `devices add`): its stdout, or an error with its output. */
async function run (args: readonly string[], ms = 60_000): Promise<string> {
  const child = spawn(process.execPath, ['--no-warnings', CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env })
  let out = ''
  let err = ''
  child.stdout.on('data', (b: Buffer) => { out += b.toString() })
  child.stderr.on('data', (b: Buffer) => { err += b.toString() })
  const timer = setTimeout(() => { child.kill('SIGKILL') }, ms)
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  clearTimeout(timer)
  if (code !== 0) throw new Error(`healthchain ${args.join(' ')} exited ${code}:\n${out}${err}`)
  return out
}

/**
 * hub/<role>.example.json with the walkthrough's changes, written to `file`
 * (a change to undefined leaves the field out; `ifListed` changes only
 * fields the example has).
 */
async function configFrom (role: string, file: string, changes: Record<string, unknown>, ifListed: Record<string, unknown> = {}): Promise<string> {
  const example = JSON.parse(await readFile(join(HUB_DIR, `${role}.example.json`), 'utf8')) as Record<string, unknown>
  const listed = Object.fromEntries(Object.entries(ifListed).filter(([k]) => k in example))
  await writeFile(file, JSON.stringify({ ...example, $schema: join(HUB_DIR, 'schemas', `${role}.schema.json`), ...changes, ...listed }, null, 2))
  return file
}

const LOCAL = '/ip4/127.0.0.1/tcp/0'

t.test('the deployment walkthrough: a device\'s desaturation diagnosed by the AI doctor, shown certified on the hub\'s patient page', async (t) => {
  const dir = await tempDir(t, 'deployment')
  const at = (...p: string[]): string => join(dir, ...p)
  for (const d of ['hub', 'doctor', 'storage', 'a0', 'a1', 'a2', 'a3']) await mkdir(at(d))
  const t0 = Date.now()
  const step = (what: string): void => { t.comment(`${((Date.now() - t0) / 1000).toFixed(1)} s: ${what}`) }

  // 1. identities: each machine makes its own keystore; only IDs and the doctor's identity record leave it
  step('step 1')
  const idOf = (out: string): string => /id: ([0-9a-f]{64})/.exec(out)![1]!
  const made = await Promise.all([
    run(['keys', 'new', '--data-dir', at('hub')]),
    run(['keys', 'new', '--keystore', at('doctor', 'keystore.json')]),
    ...[0, 1, 2, 3].map(async (i) => await run(['keys', 'new', '--keystore', at(`a${i}`, 'keystore.json')]))
  ])
  const patient = idOf(made[0]!)
  const doctor = idOf(made[1]!)
  const members = made.slice(2).map(idOf)
  const consortium = members[0]!
  const record = (await run(['keys', 'export-public', '--keystore', at('doctor', 'keystore.json')])).trim()
  t.match(record, /^[0-9a-f]+$/, 'the doctor\'s identity record, for the consortium\'s registry and the patient')
  const registry = { members: [consortium], threshold: 1, doctors: [record] }

  // 2. the storage node
  step('step 2')
  let storage = new Daemon(t, 'storage', ['storage', '--config', await configFrom('storage', at('storage', 'config.json'), {
    dataDir: at('storage'), listen: [LOCAL], replicas: [], userchain: { bootstrap: [] }, docchain: undefined, pinningApi: undefined
  })])
  const storageAddr = (await storage.match(/\n {2}peer (\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/\w+)\n/, 'storage ready'))[1]!

  // 3. the hub, first start: mining Healthcoin for its user, no Docchain yet
  step('step 3')
  const hubChanges = {
    dataDir: at('hub'), listen: [LOCAL], bootstrap: [], mine: true, threads: 1, storageNodes: [storageAddr], replication: 1,
    broker: { embedded: { host: '127.0.0.1', port: 0 } }, serial: [], http: { host: '127.0.0.1', port: 0 }, editor: { host: '127.0.0.1', port: 0 }
  }
  const hubConfig = at('hub', 'config.json')
  await configFrom('hub', hubConfig, { ...hubChanges, docchain: undefined }, { consortium })
  const hubReady = /hub ready\n {2}user ID +([0-9a-f]{64})\n {2}patient page +(https:\S+)\n[^]*?\n {2}libp2p +(\S+)\n(?:.*\n)*? {2}MQTT broker +port (\d+)\n/
  let hub = new Daemon(t, 'hub', ['hub', '--config', hubConfig])
  const r1 = await hub.match(hubReady, 'hub ready', 120_000)
  t.equal(r1[1], patient, 'the hub runs as the patient made in step 1')
  const hubAddr = r1[3]!
  await hub.match(/\n {2}logins +made on this start/, 'the logins made')
  const { web: pageLogin } = parseLoginsFile(await readFile(at('hub', LOGINS_FILE), 'utf8'))
  const user = pageLogin?.username
  const password = pageLogin?.password
  t.ok(user !== undefined && password !== undefined, 'the page login, in the hub\'s 0600 logins file')
  // the page is HTTPS with the hub's own CA: trusted as a browser that imported it
  trustCa(await readFile(at('hub', 'tls', 'ca.pem'), 'utf8'))
  const patientPage = async (url: string): Promise<{ balance: number, diagnoses: Array<Record<string, unknown>>, granted: Array<{ id: string }> }> => {
    const c = new Client(url.replace(/\/$/, ''))
    await c.login(user!, password!)
    const r = await c.req('GET', '/api/patient')
    if (r.status !== 200) throw new Error(`/api/patient: ${r.status} ${r.text.slice(0, 200)}`)
    return r.json() as { balance: number, diagnoses: Array<Record<string, unknown>>, granted: Array<{ id: string }> }
  }

  // 4. the consortium: four accounting nodes, Userchain from the hub, the doctor in the genesis registry
  step('step 4')
  const accounting = await Promise.all([0, 1, 2, 3].map(async (i) => new Daemon(t, `accounting ${i}`, ['accounting', '--peers-stdin', '--config', await configFrom('accounting', at(`a${i}`, 'config.json'), {
    dataDir: at(`a${i}`), keystore: at(`a${i}`, 'keystore.json'), listen: [LOCAL],
    members: members.map((id) => ({ id })), registry, consortium, userchain: { bootstrap: [hubAddr] }, settlement: undefined
  })])))
  const acctAddrs = await Promise.all(accounting.map(async (a) => {
    const m = await a.match(/ peer (\S+) listening (\S+)/, 'its address', 120_000)
    return m[2]!.includes('/p2p/') ? m[2]! : `${m[2]!}/p2p/${m[1]!}`
  }))
  const peers = Object.fromEntries(members.map((id, i) => [id, acctAddrs[i]!]))
  for (const a of accounting) a.child.stdin!.write(JSON.stringify(peers) + '\n')
  await Promise.all(accounting.map(async (a) => await a.match(/ ready: Docchain height 0/, 'ready', 60_000)))
  const docchain = { members: members.map((id, i) => ({ id, addr: acctAddrs[i] })), registry, pollSeconds: 1 }

  // the storage node follows Docchain too (the registered doctors may upload; it keeps each committed HEdm): restarted on its port
  t.equal(await storage.stop(), 0, 'the storage node stops cleanly')
  storage = new Daemon(t, 'storage', ['storage', '--config', await configFrom('storage', at('storage', 'config.json'), {
    dataDir: at('storage'), listen: [`/ip4/127.0.0.1/tcp/${/\/tcp\/(\d+)\//.exec(storageAddr)![1]!}`], replicas: [], userchain: { bootstrap: [hubAddr] }, docchain, pinningApi: undefined
  })])
  t.equal((await storage.match(/\n {2}peer (\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/\w+)\n/, 'storage ready again'))[1], storageAddr, 'the storage node listens where hub and doctor reach it')

  // the hub has mined some Healthcoin for its user (the page shows the balance)
  await until('the hub to mine a block', async () => ((await patientPage(r1[2]!)).balance > 0 ? true : undefined), 90_000)

  // 5. the AI doctor (its start overlaps step 6, as on its own machine; it redials the hub while that is down)
  step('step 5')
  const doctorNode = new Daemon(t, 'doctor', ['doctor', '--config', await configFrom('doctor', at('doctor', 'config.json'), {
    dataDir: at('doctor'), keystore: at('doctor', 'keystore.json'), listen: [LOCAL], mode: 'ai',
    userchain: { bootstrap: [hubAddr] }, storageNodes: [storageAddr], replication: 1, docchain,
    submit: { timeoutSeconds: 30, retrySeconds: 2 }, consortium, http: { host: '127.0.0.1', port: 0 }
  })])

  // 6. with the hub stopped: grant the doctor, prepay the consortium, pair the device; then the hub follows Docchain
  step('step 6')
  t.equal(await hub.stop(), 0, 'the hub stops cleanly')
  t.match(await run(['keys', 'grant', record, '--data-dir', at('hub')]), new RegExp(`granted ${doctor}`), 'keys grant')
  t.match(await run(['coin', 'pay', consortium, '1000000', '--fee', '10', '--data-dir', at('hub')]), /queued transfer/, 'coin pay: ten diagnoses prepaid')
  const device = JSON.parse(await run(['devices', 'add', 'ox-1', '--user', patient, '--sensor', 'spo2', 'hr', '--json', '--data-dir', at('hub')])) as { id: string, secret: string }
  const port = /\/tcp\/(\d+)\//.exec(hubAddr)![1]!
  await configFrom('hub', hubConfig, { ...hubChanges, listen: [`/ip4/127.0.0.1/tcp/${port}`], bootstrap: acctAddrs, docchain }, { consortium })
  hub = new Daemon(t, 'hub', ['hub', '--config', hubConfig])
  const r2 = await hub.match(hubReady, 'hub ready again', 120_000)
  t.equal(r2[3], hubAddr, 'the hub listens where the others bootstrap from')
  const page = r2[2]!

  // 7. the device: a desaturation episode over MQTT; the hub's flow closes the batch after its window (30 s, flows/hub.json)
  step('step 7')
  const c = mqtt.connect(`mqtt://127.0.0.1:${r2[4]!}`, { username: device.id, password: device.secret, clientId: device.id, reconnectPeriod: 0 })
  t.teardown(() => { c.end(true) })
  await new Promise<void>((resolve, reject) => { c.once('connect', () => { resolve() }); c.once('error', reject) })
  const topic = readingsTopic('hub', device.id)
  // a minute of SpO₂ 86–88 % with the heart rate at 104–106 /min, one pair every 2 s
  const readings = Array.from({ length: 30 }, (_, i) => [{ t: 'spo2' as const, v: 86 + (i % 3) }, { t: 'hr' as const, v: 104 + (i % 3) }]).flat()
  for (const [s, r] of readings.entries()) await c.publishAsync(topic, formatLine({ d: device.id, b: 1, s, t: r.t, v: r.v, ts: Math.floor(s / 2) * 2000 }).trimEnd(), { qos: 1 })

  await doctorNode.match(/doctor ready\n {2}doctor ID +([0-9a-f]{64})\n/, 'doctor ready', 120_000)
  t.match(doctorNode.out, new RegExp(`doctor ID +${doctor}\\n`), 'the doctor runs as the identity it exported')
  t.match(doctorNode.out, /this doctor active/, 'and finds itself in the registry folded from Docchain')
  // the tx_key and the prepayment were kept in the hub's mempool while it was down, and are mined now
  await doctorNode.match(new RegExp(`patient ${patient.slice(0, 12)}…: granted`), 'the patient\'s grant', 120_000)

  const signed = await doctorNode.match(/(\w+) diagnosis (\w+)… signed for (\w+)…/, 'the AI doctor\'s diagnosis', 120_000)
  t.not(signed[1], 'routine', `the AI doctor finds the episode abnormal (${signed[1]!})`)
  await doctorNode.match(new RegExp(`tx_diag ${signed[2]!}… committed in Dblock \\d+ \\(receipt [^)]*verified: \\d+ signatures`), 'the commit receipt, its certificate checked', 90_000)

  // 8. the patient page
  step('step 8')
  const shown = await until('the diagnosis on the hub\'s patient page', async () => {
    const p = await patientPage(page)
    return p.diagnoses.length > 0 ? p : undefined
  }, 90_000)
  t.equal(shown.diagnoses.length, 1, 'one diagnosis listed')
  const d = shown.diagnoses[0]!
  t.equal(d.doctor, doctor, 'by the AI doctor')
  t.ok((d.id as string).startsWith(signed[2]!), 'the tx_diag the doctor signed')
  t.ok((d.dblock as number) >= 1, `in certified Dblock ${String(d.dblock)}`)
  t.match(JSON.stringify(d.findings), /hypoxaemia/, 'hypoxaemia found')
  t.ok(shown.granted.some((g) => g.id === doctor), 'the doctor shown as granted')

  step('diagnosis shown')
  // everyone stops cleanly
  const codes = await Promise.all([hub, doctorNode, storage, ...accounting].map(async (x) => await x.stop()))
  t.same(codes, codes.map(() => 0), 'every daemon exits 0 on SIGTERM')
})
