/**
 * The hub as shipped, durably (readings/s a hub carries from MQTT to tx_IoT
 * without losing what it acknowledged; target: ≥ 0.8 of ingest alone).
 *
 * ingest alone: bench/ingest.ts's mqttRun — publishers in a child process
 * (bench/_ingest-publisher.ts) → embedded broker → fsynced LevelDB → PUBACK.
 * hubflow: the same publishers and the same ingest, plus everything after
 * it on a hub: each reading sealed at rest under its batch's key, the durable batches (hub/src/ingest/batches.ts), the embedded
 * Node-RED running flows/hub.json (its batch window set to 1 s so the run is
 * short; batches also close at 2000 readings in ingest), AES-256-GCM
 * sealing under the user's epoch, upload to a storage node over libp2p on
 * loopback (Helia, replication 1; the storage node in its own process, as
 * the daemon it is: bench/_storage-node.ts), the tx_IoT signed, persisted and accepted
 * by the core node's mempool (no miner: the figure stops at the mempool).
 * Its clock runs from the publishers' "go" to the moment the last batch's
 * tx_IoT is accepted, so it includes the last batch's window wait (≤ 1 s);
 * 200,000 readings (10 devices × 20,000) make the run last long enough
 * (several seconds each way) that this fixed tail does not pass for a
 * throughput loss.
 *
 * hub_cpu_us_per_reading_durable / hub_ingest_cpu_us_per_reading: the
 * hub process's CPU time (user + system, all its threads; the publishers
 * and the storage node are other processes) per reading over each run.
 *
 * Rounds: BENCH_HUBFLOW_ROUNDS (default 3) pairs of runs, ingest alone and
 * the hub path, the order alternating from round to round; each figure is
 * the median over the rounds, the ratio the median of the rounds' ratios
 * (each round's two runs close together in time, under the same load).
 *
 * hub_reading_to_tx_ms_p50: per reading, the time from its batch closing
 * (the window excluded: a reading waits for its batch to close by design)
 * to its tx_IoT accepted; median over readings.
 */
import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { tmpdir, loadavg } from 'node:os'
import { join } from 'node:path'
import { DEVNET, toHex } from '../hub/src/core/index.ts'
import { Ingest } from '../hub/src/ingest/pipeline.ts'
import { EmbeddedBroker } from '../hub/src/ingest/mqtt.ts'
import { DurableBatches } from '../hub/src/ingest/batches.ts'
import { openBatchKeys } from '../hub/src/ingest/batch-keys.ts'
import { CoreNode } from '../hub/src/roles/core/node.ts'
import { Miner } from '../hub/src/roles/core/miner.ts'
import { UserKeys } from '../hub/src/roles/user/keys.ts'
import { IpfsNode } from '../hub/src/ipfs/index.ts'
import { FLOWS_DIR, startNodeRed } from '../hub/src/nodered/embed.ts'
import { coreBatchChain, hubRuntime } from '../hub/src/nodered/wire.ts'
import { median } from '../hub/src/ai/signals.ts'
import { identityFromSeed } from '../hub/src/core/index.ts'
import { table } from './_stats.ts'
import { mqttRun } from './ingest.ts'
import { Session } from 'node:inspector/promises'

/**
 * BENCH_HUBFLOW_PROF=<dir>: a V8 CPU profile of this (the hub's) process over
 * the hub path's clock window (ingest alone: its whole run), written as
 * <dir>/<path>.cpuprofile (open in Chrome DevTools); the figures of a
 * profiled run are not comparable.
 */
async function profiled<T> (name: string, fn: () => Promise<T>): Promise<T> {
  const dir = process.env.BENCH_HUBFLOW_PROF
  if (dir === undefined || dir === '') return await fn()
  const s = new Session()
  s.connect()
  await s.post('Profiler.enable')
  await s.post('Profiler.setSamplingInterval', { interval: 200 })
  await s.post('Profiler.start')
  try {
    return await fn()
  } finally {
    const { profile } = await s.post('Profiler.stop')
    await mkdir(dir, { recursive: true })
    await writeFile(join(dir, `${name}.cpuprofile`), JSON.stringify(profile))
    s.disconnect()
  }
}

const HUB = 'bench'
const rng = (n: number): Uint8Array => new Uint8Array(randomBytes(n))

async function hubflowRun (dir: string, devices: number, perDevice: number): Promise<{ rate: number, p50: number, batches: number, cpuUs: number }> {
  const user = identityFromSeed(new Uint8Array(32).fill(7))
  // the storage node is another daemon (another machine in a deployment): its own process
  const storage = fork(fileURLToPath(new URL('./_storage-node.ts', import.meta.url)), [join(dir, 'storage')], { execArgv: ['--no-warnings'] })
  const storageAddr = await new Promise<string>((resolve, reject) => {
    storage.once('message', (m) => { resolve((m as { addr: string }).addr) })
    storage.once('exit', (code) => { reject(new Error(`storage node exited with ${code}`)) })
  })
  const ipfs = await IpfsNode.create({ dataDir: join(dir, 'ipfs') })
  const core = await CoreNode.open({ dir: join(dir, 'chain'), params: DEVNET, verifyThreads: 1 })
  const miner = new Miner(core, { miner: user.id, threads: 1 })
  // as on the hub: readings sealed at rest under per-batch keys (ingest/batch-keys.ts)
  const batchKeys = await openBatchKeys(dir, user)
  const ing = await Ingest.open(join(dir, 'ingest'), { sync: true, batchKeys })
  const devs: Array<{ id: string, secret: string }> = []
  for (let i = 0; i < devices; i++) devs.push({ id: `b-${i}`, secret: (await ing.registry.add(`b-${i}`, { user: toHex(user.id), sensors: ['hr'] })).secret })
  const keys = new UserKeys(user, { rng, now: () => core.now(), directory: { lookup: () => undefined } })
  const first = keys.prepare({ kind: 'init' })
  if (!(await core.submitTx(first)).accepted) throw new Error('tx_key refused')
  keys.apply(first)
  const batches = new DurableBatches({ ingest: ing, identity: user, chain: coreBatchChain(core), users: [toHex(user.id)] })
  const closedAt = new Map<string, { at: number, n: number }>()
  const lat: number[] = []
  let accepted = 0
  let lastAccepted = 0
  const total = devices * perDevice
  batches.on('open', (o) => { if (!closedAt.has(o.batch.id)) closedAt.set(o.batch.id, { at: performance.now(), n: o.batch.readings.length }) })
  batches.on('accepted', (a) => {
    const c = closedAt.get(a.id)
    if (c === undefined) return
    const ms = performance.now() - c.at
    for (let i = 0; i < c.n; i++) lat.push(ms)
    accepted += c.n
    lastAccepted = performance.now()
  })
  // the shipped flow, its batch window 1 s
  const flow = JSON.parse(await readFile(join(FLOWS_DIR, 'hub.json'), 'utf8')) as Array<Record<string, unknown>>
  for (const n of flow) if (n.id === 'hub-batch') n.window = 1
  await mkdir(join(dir, 'node-red'), { recursive: true, mode: 0o700 })
  await writeFile(join(dir, 'node-red', 'flows.json'), JSON.stringify(flow))
  const rt = hubRuntime({ identity: user, keys, core, miner, ipfs, storageNodes: [storageAddr], replication: 1, ingest: ing, user: toHex(user.id), rng, batches })
  // a running hub is connected to its storage nodes: the connection (dial, Noise handshake) is made before the clock starts
  await rt.ipfs!.upload(rng(1024))
  const red = await startNodeRed({ dataDir: dir, runtimes: { hub: rt }, port: 0, print: () => {}, logLevel: 'error' })
  const broker = await EmbeddedBroker.start(ing, { hubId: HUB, port: 0, publishRate: null })
  const w = fork(fileURLToPath(new URL('./_ingest-publisher.ts', import.meta.url)), [], { execArgv: ['--no-warnings'] })
  try {
    w.send({ url: broker.url, hubId: HUB, devices: devs, perDevice, window: 500 })
    await new Promise((resolve) => w.once('message', resolve))
    const { start, acked, cpu } = await profiled('hubflow', async () => {
      const start = performance.now()
      const cpu0 = process.cpuUsage()
      w.send('go')
      const res = await new Promise<{ acked: number }>((resolve) => { w.once('message', resolve) })
      if (res.acked !== total) throw new Error(`acked ${res.acked} of ${total}`)
      const acked = performance.now()
      const deadline = Date.now() + 300_000
      while (accepted < total) {
        if (Date.now() > deadline) throw new Error(`only ${accepted} of ${total} readings reached an accepted tx_IoT`)
        await new Promise((resolve) => setTimeout(resolve, 5))
      }
      return { start, acked, cpu: process.cpuUsage(cpu0) }
    })
    console.log(`hub path: clock starts at the publishers' "go"; every PUBACK in at ${((acked - start) / 1000).toFixed(2)} s; the clock stops when the last tx_IoT is accepted, at ${((lastAccepted - start) / 1000).toFixed(2)} s (the tail: the last batch's window wait and its way to the mempool)`)
    return { rate: total / ((lastAccepted - start) / 1000), p50: median(lat), batches: closedAt.size, cpuUs: (cpu.user + cpu.system) / total }
  } finally {
    w.kill()
    await broker.close()
    await red.stop()
    batches.stop()
    await miner.close()
    await ing.close()
    await batchKeys.close()
    await core.close()
    await ipfs.stop()
    const stopped = new Promise((resolve) => storage.once('exit', resolve))
    storage.send('stop')
    await stopped
  }
}

/** Median of a non-empty list. */
function mid (xs: readonly number[]): number { return median([...xs]) }

export async function run (): Promise<Record<string, number>> {
  const dir = await mkdtemp(join(tmpdir(), 'hc-bench-hubflow-'))
  try {
    const devices = 10
    const perDevice = Number(process.env.BENCH_HUBFLOW_PER_DEVICE ?? 20_000)
    // paired rounds, the order alternating (ingest first, then the hub first): a change of load during the run
    // moves both paths of a round alike, and the ratio is the median of the rounds' own ratios
    const rounds = Math.max(1, Number(process.env.BENCH_HUBFLOW_ROUNDS ?? 3))
    console.log(`load average at start: ${loadavg().map((x) => x.toFixed(2)).join(' ')}; ${rounds} paired rounds, the order alternating`)
    const ingests: Array<Awaited<ReturnType<typeof mqttRun>>> = []
    const flows: Array<Awaited<ReturnType<typeof hubflowRun>>> = []
    for (let r = 0; r < rounds; r++) {
      const roundDir = join(dir, `round-${r}`)
      await mkdir(roundDir, { recursive: true })
      const ingestRun = async (): Promise<void> => { ingests.push(await profiled(`ingest-${r}`, async () => await mqttRun(roundDir, true, devices, perDevice))) }
      const flowRun = async (): Promise<void> => { flows.push(await hubflowRun(join(roundDir, 'hub'), devices, perDevice)) }
      if (r % 2 === 0) { await ingestRun(); await flowRun() } else { await flowRun(); await ingestRun() }
      console.log(`round ${r + 1}: ingest alone ${Math.round(ingests[r]!.rate)} readings/s, hub path ${Math.round(flows[r]!.rate)} readings/s, ratio ${(flows[r]!.rate / ingests[r]!.rate).toFixed(2)}`)
    }
    console.log(`MQTT QoS 1: ${devices} devices × ${perDevice} readings, ≤500 unacked each; load average at end: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`)
    const ingest = { rate: mid(ingests.map((x) => x.rate)), batches: mid(ingests.map((x) => x.batches)), cpuUs: mid(ingests.map((x) => 1e6 / x.perCpuS)) }
    const flow = { rate: mid(flows.map((x) => x.rate)), batches: mid(flows.map((x) => x.batches)), cpuUs: mid(flows.map((x) => x.cpuUs)), p50: mid(flows.map((x) => x.p50)) }
    const ratio = mid(flows.map((f, i) => f.rate / ingests[i]!.rate))
    console.log('medians over the rounds; hub CPU µs per reading: user + system time of the hub process (every thread) over the run ÷ readings — steadier than the rates on a shared machine')
    table([
      ['path', 'readings/s', 'hub CPU µs per reading', 'batches', 'reading → tx_IoT accepted p50 (ms, window excluded)', 'target'],
      ['ingest alone (fsynced LevelDB, PUBACK)', ingest.rate, ingest.cpuUs, ingest.batches, '', ''],
      ['hub: ingest → durable batches → Node-RED → AES-GCM → IPFS → tx_IoT in the mempool', flow.rate, flow.cpuUs, flow.batches, flow.p50, '≥ 0.8 × ingest']
    ])
    return {
      hub_readings_per_s_durable: Math.round(flow.rate),
      hub_ingest_readings_per_s: Math.round(ingest.rate),
      hubflow_ratio_to_ingest: Math.round(ratio * 100) / 100,
      hub_reading_to_tx_ms_p50: Math.round(flow.p50 * 10) / 10,
      hub_cpu_us_per_reading_durable: Math.round(flow.cpuUs * 10) / 10,
      hub_ingest_cpu_us_per_reading: Math.round(ingest.cpuUs * 10) / 10
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
