/**
 * Hub memory and CPU, two ways:
 * - hub_rss_mb (target ≤ 300 MB): runs the `npm start` devnet as a child
 *   process until its first committed diagnosis plus a little more,
 *   sampling the process's RSS from its progress lines. The devnet process
 *   also hosts the storage, doctor and accounting nodes and the virtual
 *   boards, so this is an upper bound for the hub alone;
 * - hub_daemon_*: the hub daemon alone, `healthchain hub --config` as a
 *   child process (ingest with its embedded MQTT broker, core node with
 *   libp2p, IPFS, Node-RED carrying the pipeline, the patient page) with a
 *   `healthchain storage` node to upload its batches to and devices paired
 *   by `healthchain devices add`, read from /proc (bench/_proc.ts):
 *   · idle: mining off and no readings, CPU% over IDLE_S s after SETTLE_S s;
 *   · load: one mining thread and a steady RATE readings/s over MQTT
 *     (QoS 1, from this process), RSS sampled every second and CPU% over
 *     SAMPLE_S s, both starting WARM_S s after the first reading and
 *     stopping before the readings do;
 *   · light: `"mode": "light"` (roles/light), idle, its core node the
 *     storage node's Userchain follower.
 *   Idle RSS is the median of one sample a second over the IDLE_S s that
 *   start SETTLE_S s after the hub printed its ready block.
 * - light_store_ratio: the light node's Userchain store (headers and its own
 *   proven transactions) over a core node's, on 1,000 synthetic blocks each
 *   with 500 other users' tx_IoT and one of the user's
 *   (test/helpers/synthetic-chain.ts).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import mqtt from 'mqtt'
import { formatLine } from '../hub/src/ingest/line.ts'
import { readingsTopic } from '../hub/src/ingest/mqtt.ts'
import { median } from '../hub/src/ai/signals.ts'
import { cpuPercentOver, rssMb } from './_proc.ts'
import { coreChain } from '../hub/src/net/core-chain.ts'
import { CoreNet } from '../hub/src/net/service.ts'
import { LightChain } from '../hub/src/roles/light/light-chain.ts'
import { dirBytes, syntheticChain } from '../test/helpers/synthetic-chain.ts'
import { who } from '../test/helpers/core.ts'
import { NETTEST, NOW } from '../test/integration/net-helpers.ts'
import { loadAverage } from './_load.ts'
import { table } from './_stats.ts'

const SECONDS = Number(process.env.BENCH_HUB_SECONDS ?? 75)
const RATE = 100
const DEVICES = 2
const SETTLE_S = 10
const IDLE_S = 20
const WARM_S = 15
const SAMPLE_S = 30

export async function run (): Promise<Record<string, number>> {
  return { ...await devnet(), ...await daemon(), ...await lightStore() }
}

/** The devnet process's RSS (hub_rss_mb: the whole devnet). */
export async function devnet (): Promise<Record<string, number>> {
  const dir = await mkdtemp(join(tmpdir(), 'hc-bench-hub-'))
  const devnet = new URL('../hub/src/devnet.ts', import.meta.url).pathname
  const child = spawn(process.execPath, [devnet, '--data-dir', dir, '--port', '0', '--episode', '10', '--duration', String(SECONDS)], { stdio: ['ignore', 'pipe', 'pipe'] })
  const rss: number[] = []
  let diagnoses = 0
  let out = ''
  child.stdout.on('data', (b: Buffer) => {
    out += b.toString()
    for (const m of b.toString().matchAll(/diagnoses (\d+) .*rss (\d+) MB/g)) { diagnoses = Number(m[1]); rss.push(Number(m[2])) }
  })
  child.stderr.on('data', (b: Buffer) => { out += b.toString() })
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
  await rm(dir, { recursive: true, force: true })
  if (code !== 0 || rss.length === 0) throw new Error(`devnet exited ${code} with no progress lines:\n${out.slice(-2000)}`)
  const steady = rss.slice(Math.floor(rss.length / 2))
  const m = {
    hub_rss_mb: Math.max(...steady),
    devnet_rss_mb_peak: Math.max(...rss),
    devnet_diagnoses: diagnoses,
    devnet_seconds: SECONDS
  }
  console.log(`\nMemory of the devnet process (hub + second core node + storage, doctor and accounting nodes + virtual boards), ${SECONDS} s`)
  table([['metric', 'MB', 'target'], ['RSS, second half of the run (max)', m.hub_rss_mb, '<= 300 (hub alone)'], ['RSS peak (start-up)', m.devnet_rss_mb_peak, '']])
  return m
}

const CLI = new URL('../hub/src/cli.ts', import.meta.url).pathname
const env = { ...process.env, HEALTHCHAIN_PASSPHRASE: 'bench hub passphrase' }
const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

interface Daemon { readonly child: ChildProcess, readonly pid: number, readonly out: () => string }

/** Starts `healthchain <args>` and waits for its output to match `ready` (60 s at most). */
async function start (args: string[], ready: RegExp): Promise<Daemon> {
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout!.on('data', (b: Buffer) => { out += b.toString() })
  child.stderr!.on('data', (b: Buffer) => { out += b.toString() })
  const t0 = Date.now()
  while (!ready.test(out)) {
    if (child.exitCode !== null || Date.now() - t0 > 60_000) { child.kill('SIGKILL'); throw new Error(`healthchain ${args[0]} did not start:\n${out.slice(-2000)}`) }
    await sleep(100)
  }
  return { child, pid: child.pid!, out: () => out }
}

async function stop (d: Daemon): Promise<void> {
  if (d.child.exitCode !== null) return
  const exited = new Promise((resolve) => d.child.once('exit', resolve))
  d.child.kill('SIGTERM')
  await Promise.race([exited, sleep(20_000)])
  if (d.child.exitCode === null) d.child.kill('SIGKILL')
}

/** Publishes `rate` readings/s, round-robin over the devices, until stopped; counts PUBACKs (ingest's durable write). */
async function publisher (port: number, hubId: string, devices: ReadonlyArray<{ id: string, secret: string }>, rate: number): Promise<{ stop: () => Promise<{ sent: number, acked: number, seconds: number }> }> {
  const clients = await Promise.all(devices.map(async (d) => ({ d, c: await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { username: d.id, password: d.secret, clientId: d.id, reconnectPeriod: 0 }) })))
  let sent = 0
  let acked = 0
  const t0 = performance.now()
  // on a schedule, not a timer count: a late tick sends what is due, so the rate holds on a busy machine
  const tick = setInterval(() => {
    const due = Math.floor((performance.now() - t0) / 1000 * rate)
    while (sent < due) {
      const { d, c } = clients[sent % clients.length]!
      const s = Math.floor(sent / clients.length)
      c.publish(readingsTopic(hubId, d.id), formatLine({ d: d.id, b: 1, s, t: 'hr', v: 60 + (s % 30), ts: Date.now() }).trimEnd(), { qos: 1 }, (err) => { if (err == null) acked++ })
      sent++
    }
  }, 20)
  return {
    stop: async () => {
      clearInterval(tick)
      const seconds = (performance.now() - t0) / 1000
      await sleep(1000) // the last PUBACKs
      await Promise.all(clients.map(async ({ c }) => { await c.endAsync() }))
      return { sent, acked, seconds }
    }
  }
}

/** The hub daemon alone, idle and under load. */
export async function daemon (): Promise<Record<string, number>> {
  const dir = await mkdtemp(join(tmpdir(), 'hc-bench-hubd-'))
  const exec = promisify(execFile)
  const daemons: Daemon[] = []
  try {
    // a storage node of its own, as the hub's config requires one
    await writeFile(join(dir, 'storage.json'), JSON.stringify({ dataDir: join(dir, 'storage'), listen: ['/ip4/127.0.0.1/tcp/0'] }))
    const storage = await start(['storage', '--config', join(dir, 'storage.json')], /storage ready[\s\S]*userchain/)
    daemons.push(storage)
    const storagePeer = /peer (\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/\S+)/.exec(storage.out())![1]!
    // the user's keystore and its devices, as an installer would make them
    const data = join(dir, 'hub')
    const id = /id: ([0-9a-f]{64})/.exec((await exec(process.execPath, [CLI, 'keys', 'new', '--data-dir', data], { env })).stdout)![1]!
    const devices: Array<{ id: string, secret: string }> = []
    for (let i = 0; i < DEVICES; i++) {
      // paired to the hub's user, its full ID (as the README pairs them)
      const r = await exec(process.execPath, [CLI, 'devices', 'add', `hr-${i}`, '--user', id, '--sensor', 'hr', '--json', '--data-dir', data], { env })
      devices.push({ id: `hr-${i}`, secret: (JSON.parse(r.stdout) as { secret: string }).secret })
    }
    // a doctor granted, so the hub has a key epoch and seals, uploads and announces (tx_IoT) its batches
    await exec(process.execPath, [CLI, 'keys', 'new', '--data-dir', join(dir, 'doctor')], { env })
    const record = (await exec(process.execPath, [CLI, 'keys', 'export-public', '--data-dir', join(dir, 'doctor')], { env })).stdout.trim()
    await exec(process.execPath, [CLI, 'keys', 'grant', record, '--data-dir', data], { env })
    const config = async (mine: boolean, mode: 'core' | 'light' = 'core'): Promise<string> => {
      const file = join(dir, `hub-${mode}-${mine ? 'mine' : 'idle'}.json`)
      await writeFile(file, JSON.stringify({
        dataDir: data, hubId: 'bench', listen: ['/ip4/127.0.0.1/tcp/0'], mode, mine, threads: 1, storageNodes: [storagePeer], replication: 1,
        broker: { embedded: { host: '127.0.0.1', port: 0 } }, http: { host: '127.0.0.1', port: 0 }, editor: { host: '127.0.0.1', port: 0 },
        // a light hub's core node: the storage node follows Userchain as one
        ...(mode === 'light' ? { bootstrap: [storagePeer] } : {})
      }))
      return file
    }
    /** RSS (median, one sample a second) and CPU% over IDLE_S s, from SETTLE_S s after ready. */
    const idle = async (d: Daemon): Promise<{ rss: number, cpu: number }> => {
      await sleep(SETTLE_S * 1000)
      const samples: number[] = []
      const sampler = setInterval(() => { const m = rssMb(d.pid); if (m !== null) samples.push(m) }, 1000)
      const cpu = await cpuPercentOver(d.pid, IDLE_S * 1000)
      clearInterval(sampler)
      return { rss: median(samples), cpu }
    }

    // idle: mining off, no readings
    let hub = await start(['hub', '--config', await config(false)], /MQTT broker\s+port \d+/)
    daemons.push(hub)
    const { rss: idleRss, cpu: idleCpu } = await idle(hub)
    await stop(hub)
    // light mode, idle: the same keystore; a light hub keeps its headers and proven transactions in <dataDir>/light
    hub = await start(['hub', '--config', await config(false, 'light')], /MQTT broker\s+port \d+/)
    daemons.push(hub)
    const light = await idle(hub)
    await stop(hub)
    const height = async (): Promise<number> => (JSON.parse((await exec(process.execPath, [CLI, 'chain', 'info', '--json', '--data-dir', data], { env })).stdout) as { height: number }).height
    // blocks found with `mine: false` mean a miner ran anyway: then the idle figure includes it
    const idleHeight = await height()

    // load: one mining thread, RATE readings/s
    hub = await start(['hub', '--config', await config(true)], /MQTT broker\s+port \d+/)
    daemons.push(hub)
    const port = Number(/MQTT broker\s+port (\d+)/.exec(hub.out())![1])
    const pub = await publisher(port, 'bench', devices, RATE)
    await sleep(WARM_S * 1000)
    const rss: number[] = []
    const sampler = setInterval(() => { const m = rssMb(hub.pid); if (m !== null) rss.push(m) }, 1000)
    const loadCpu = await cpuPercentOver(hub.pid, SAMPLE_S * 1000)
    clearInterval(sampler)
    const sent = await pub.stop()
    await stop(hub)
    const loadHeight = await height()
    if (rss.length === 0) throw new Error(`no RSS sample of the hub daemon:\n${hub.out().slice(-2000)}`)
    const m = {
      hub_daemon_rss_mb: Math.round(median(rss)),
      hub_daemon_rss_mb_max: Math.round(Math.max(...rss)),
      hub_daemon_rss_mb_idle: Math.round(idleRss),
      hub_daemon_rss_mb_light: Math.round(light.rss),
      hub_daemon_cpu_percent_idle_light: Math.round(light.cpu * 10) / 10,
      hub_daemon_cpu_percent_idle: Math.round(idleCpu * 10) / 10,
      hub_daemon_cpu_percent_load: Math.round(loadCpu * 10) / 10,
      hub_daemon_readings_per_s: Math.round(sent.acked / sent.seconds),
      hub_daemon_idle_userchain_height: idleHeight
    }
    console.log(`\nThe hub daemon alone (healthchain hub --config, child process; /proc/<pid>), load average ${loadAverage()}`)
    console.log(`  idle: \`mine: false\`, no readings; RSS (median of 1 s samples) and CPU over ${IDLE_S} s from ${SETTLE_S} s after ready; light: the same with \`"mode": "light"\``)
    console.log(`  load: mine with threads 1, ${RATE} readings/s over MQTT from ${DEVICES} devices (${sent.acked} of ${sent.sent} acknowledged in ${sent.seconds.toFixed(0)} s); ` +
      `RSS every 1 s and CPU over ${SAMPLE_S} s, from ${WARM_S} s after the first reading; Userchain height ${loadHeight} after it`)
    if (idleHeight > 0) console.log(`  WARNING: Userchain height ${idleHeight} after the idle run with \`mine: false\`: a miner ran in it, so its CPU figure is not idle`)
    table([
      ['metric', 'value', 'unit'],
      ['RSS under load (median; target <= 200)', m.hub_daemon_rss_mb, 'MB'],
      ['RSS under load (max)', m.hub_daemon_rss_mb_max, 'MB'],
      ['RSS idle', m.hub_daemon_rss_mb_idle, 'MB'],
      ['RSS idle, light mode (target <= 150)', m.hub_daemon_rss_mb_light, 'MB'],
      ['CPU idle', m.hub_daemon_cpu_percent_idle, '% of one core'],
      ['CPU under load (incl. the mining thread)', m.hub_daemon_cpu_percent_load, '% of one core']
    ])
    return m
  } finally {
    for (const d of daemons.reverse()) await stop(d)
    await rm(dir, { recursive: true, force: true })
  }
}

/** light_store_ratio: the light node's Userchain store over the core node's, on the synthetic chain. */
export async function lightStore (): Promise<Record<string, number>> {
  const dir = await mkdtemp(join(tmpdir(), 'hc-bench-light-'))
  const user = who('bench-light-user')
  const { node, own } = await syntheticChain(join(dir, 'core', 'userchain'), { user, blocks: 1000, others: 500, ownEvery: 1 })
  const net = await CoreNet.start({ chain: coreChain(node), params: NETTEST, redialMs: 0 })
  const light = await LightChain.start({ params: NETTEST, user: user.id, now: () => NOW, dataDir: join(dir, 'light'), bootstrap: [net.net.addrs()[0]!.toString()], redialMs: 0, refreshMs: 0 })
  try {
    for (let i = 0; i < 200 && light.node.corePeers().length === 0; i++) await sleep(100)
    await light.refresh()
    if (light.node.confirmed.size !== own.length) throw new Error(`light node proved ${light.node.confirmed.size} of ${own.length} own transactions`)
    const lightBytes = await light.storeBytes()
    const coreBytes = await dirBytes(join(dir, 'core'))
    const m = { light_store_ratio: Math.round(lightBytes / coreBytes * 10_000) / 10_000, light_store_kib: Math.round(lightBytes / 1024), core_store_mib: Math.round(coreBytes / 1048576 * 10) / 10 }
    console.log(`\nUserchain store, light vs core: 1,000 synthetic blocks of 500 other users' tx_IoT and one of the user's (${own.length} own transactions, each proven)`)
    table([['metric', 'value', 'target'], ['light store (headers + own proven txs)', `${m.light_store_kib} KiB`, ''], ['core store (LevelDB)', `${m.core_store_mib} MiB`, ''], ['light_store_ratio', m.light_store_ratio, '<= 0.05']])
    return m
  } finally {
    await light.stop()
    await net.stop()
    await node.close()
    await rm(dir, { recursive: true, force: true })
  }
}

