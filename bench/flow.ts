/**
 * Node-RED flow throughput IN MEMORY (readings/s through the shipped flow
 * into sealed batches, target ≥ 20,000/s, and the overhead ratio versus
 * calling the roles directly). The paper gives no figure for this; the
 * target is the project's. This is not the shipped hub: IPFS, the
 * transaction pool and the miner are the in-process stand-ins of
 * test/helpers/nodered-memory.ts (CIDs, AES-256-GCM and Ed25519 signatures and
 * verification are real; no disk, no network, a miner that does nothing),
 * and batches close on 1 MiB. Hence flow_readings_per_s_inmemory; the hub
 * as shipped is measured by bench/hubflow.ts.
 *
 * flow: the embedded Node-RED runs flows/hub.json unchanged (batches close
 * on the 1 MiB byte limit, the last one on the flow's own "close batch now"
 * inject); N readings are pushed into the runtime's readings source in
 * chunks of 1000 (yielding to the event loop between chunks). Its clock
 * starts just before the first reading is pushed (Node-RED and the runtime
 * are already started) and stops when the tx_IoT naming the last batch is
 * in the pool (polled every 1 ms).
 * direct: the same work without Node-RED — the same reading checks,
 * Batcher, encodeBatch, sealBatch, upload, buildTxIoT, submit — in one loop.
 * Its clock starts just before the first reading enters the Batcher (the
 * runtime is already made) and stops when the last tx_IoT is submitted.
 * Neither clock covers opening the batches afterwards: every batch is then
 * opened and its readings counted, so a dropped reading fails the bench.
 *
 * Each path runs once untimed (warm-up: JIT, Node-RED's own start-up paths),
 * then FLOW_SAMPLES (5) timed samples each, in alternating order (flow,
 * direct, direct, flow, flow, direct, …) so that drift in the machine's load
 * falls on both alike. Each figure is the median of its samples (min–max
 * printed); the overhead ratio is the direct median over the flow median
 * (readings/s), i.e. flow time / direct time. The load average is printed
 * at the start and the end: other work on the machine shows in the spread.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { buildTxIoT, cidStringFromDigest, contentDigest, openBatch, sealBatch, type TxIoT } from '../hub/src/core/index.ts'
import { Batcher, asReading, decodeBatch, encodeBatch } from '../hub/src/nodered/batcher.ts'
import { median } from '../hub/src/ai/signals.ts'
import { startNodeRed } from '../hub/src/nodered/embed.ts'
import type { HealthchainRuntime, SensorReading } from '../hub/src/nodered/runtime.ts'
import { table } from './_stats.ts'
import { loadAverage } from './_load.ts'
import { userRuntime, type UserParts } from '../test/helpers/nodered-runtime.ts'

const N = Number(process.env.FLOW_READINGS ?? 100_000)
const SAMPLES = Number(process.env.FLOW_SAMPLES ?? 5)
const CHUNK = 1000
const TYPES: Array<[string, number | number[], string]> = [['hr', 72, '/min'], ['spo2', 97, '%'], ['temp', 36.8, 'Cel'], ['bp', [120, 80], 'mm[Hg]'], ['rr', 14, '/min']]

function readingsFor (n: number): SensorReading[] {
  return Array.from({ length: n }, (_, i) => {
    const [t, v, u] = TYPES[i % TYPES.length]!
    return { d: `dev-${i % 4}`, b: 1, s: Math.floor(i / 4), t, v, u, ts: 1000 + i }
  })
}

/** Readings sealed in the pool's tx_IoT batches (opened and decoded). */
async function countSealed (u: UserParts): Promise<number> {
  let n = 0
  for (const tx of u.chain.pending) {
    if (tx.kind !== 'iot') continue
    const sealed = await u.ipfs.get(cidStringFromDigest(tx.heiot))
    n += decodeBatch(openBatch(u.keys.epoch(tx.epoch).ik, tx.user, tx.epoch, sealed)).length
  }
  return n
}

async function viaFlow (readings: SensorReading[], expectedBatches: number): Promise<Sample> {
  const dir = await mkdtemp(join(tmpdir(), 'hc-bench-flow-'))
  const u = await userRuntime({ label: 'bench-flow' })
  const red = await startNodeRed({ dataDir: dir, runtimes: { hub: u.rt as HealthchainRuntime }, port: 0, print: () => {}, logLevel: 'error' })
  const nodes = (red.RED as unknown as { nodes: { getNode: (id: string) => { receive: (m: object) => void } | null } }).nodes
  try {
    const iots = (): number => u.chain.pending.filter((x) => x.kind === 'iot').length
    const start = performance.now()
    for (let i = 0; i < readings.length; i += CHUNK) {
      for (const r of readings.slice(i, i + CHUNK)) u.readings.push(r)
      await new Promise((resolve) => setImmediate(resolve))
    }
    // everything pushed: close the open batch with the flow's own inject node
    // (Node-RED delivers in order, so the flush reaches the batch node after
    // every reading). The batches are the direct run's (same Batcher, same
    // readings): done when that many tx_IoT are in the pool; countSealed
    // then opens them all, so a reading left behind fails the bench.
    nodes.getNode('hub-flush')!.receive({})
    const deadline = Date.now() + 120_000
    while (iots() < expectedBatches && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 1))
    const ms = performance.now() - start
    return { ms, batches: iots(), sealed: await countSealed(u) }
  } finally {
    await red.stop()
    await rm(dir, { recursive: true, force: true })
  }
}

async function direct (readings: SensorReading[]): Promise<Sample> {
  const u = await userRuntime({ label: 'bench-direct' })
  const rt = u.rt
  const keys = rt.keys!
  const start = performance.now()
  const batcher = new Batcher({ size: 0, eventTypes: ['fall'] })
  const seal = async (rs: SensorReading[]): Promise<void> => {
    const e = keys.current!
    const sealed = sealBatch(e.ik, rt.rng(12), rt.identity.id, e.epoch, encodeBatch(rs.map((r) => asReading(r))))
    const { cid } = await rt.ipfs!.upload(sealed)
    const tx: TxIoT = buildTxIoT(rt.identity, { ts: rt.now(), heiot: contentDigest(sealed), epoch: e.epoch })
    if (cidStringFromDigest(tx.heiot) !== cid) throw new Error('cid mismatch')
    await rt.txs!.submit(tx)
  }
  for (const r of readings) for (const b of batcher.add(asReading(r))) await seal(b.readings)
  const last = batcher.flush('flush')
  if (last !== null) await seal(last.readings)
  const ms = performance.now() - start
  return { ms, batches: u.chain.pending.filter((x) => x.kind === 'iot').length, sealed: await countSealed(u) }
}

interface Sample { readonly ms: number, readonly batches: number, readonly sealed: number }

export async function run (): Promise<Record<string, number>> {
  if (!(SAMPLES >= 1)) throw new Error(`FLOW_SAMPLES must be at least 1, got ${process.env.FLOW_SAMPLES}`)
  console.log(`load average at start: ${loadAverage()}`)
  const readings = readingsFor(N)
  const check = (what: string, r: Sample): Sample => {
    if (r.sealed !== N) throw new Error(`${what}: sealed ${r.sealed} of ${N} readings`)
    return r
  }
  // warm-up, untimed: the direct run also tells the flow how many batches to wait for
  const batches = check('direct warm-up', await direct(readings)).batches
  check('flow warm-up', await viaFlow(readings, batches))
  const flows: Sample[] = []
  const directs: Sample[] = []
  for (let i = 0; i < SAMPLES; i++) {
    // alternate which path goes first: flow, direct, direct, flow, flow, direct, …
    const f = async (): Promise<void> => { flows.push(check(`flow sample ${i + 1}`, await viaFlow(readings, batches))) }
    const d = async (): Promise<void> => { directs.push(check(`direct sample ${i + 1}`, await direct(readings))) }
    if (i % 2 === 0) { await f(); await d() } else { await d(); await f() }
  }
  const rps = (xs: Sample[]): number[] => xs.map((x) => N / (x.ms / 1000))
  const flowRps = rps(flows)
  const directRps = rps(directs)
  const flowMed = median(flowRps)
  const directMed = median(directRps)
  const range = (xs: number[]): string => `${Math.round(Math.min(...xs))}–${Math.round(Math.max(...xs))}`
  console.log(`${N} readings per sample, ${SAMPLES} samples per path after one warm-up run each; batches close on the 1 MiB limit (shipped flow: window 30 s, no size trigger); in-memory IPFS, pool and no-op miner`)
  table([
    ['path', 'readings/s (median)', 'min–max', 'ms (median)', 'sealed batches', 'readings sealed'],
    ['Node-RED shipped flow, in memory', flowMed, range(flowRps), median(flows.map((x) => x.ms)), flows[0]!.batches, flows[0]!.sealed],
    ['roles called directly, in memory', directMed, range(directRps), median(directs.map((x) => x.ms)), directs[0]!.batches, directs[0]!.sealed],
    ['target', 20_000, '', '', '', '']
  ])
  const ratio = directMed / flowMed
  const ratios = flows.map((f, i) => f.ms / directs[i]!.ms)
  console.log(`overhead ratio (direct readings/s ÷ flow readings/s, medians): ${ratio.toFixed(2)}; per sample pair ${ratios.map((r) => r.toFixed(2)).join(', ')}`)
  console.log(`load average at end: ${loadAverage()}`)
  return {
    flow_readings_per_s_inmemory: Math.round(flowMed),
    flow_overhead_ratio: Math.round(ratio * 100) / 100,
    direct_readings_per_s: Math.round(directMed),
    flow_batches: batches,
    flow_readings: N,
    flow_samples: SAMPLES
  }
}
