/**
 * Node-RED flow throughput (issue: "readings/s through the shipped flow into
 * sealed batches, target ≥ 20,000/s, and the overhead ratio versus calling
 * the roles directly"). The paper gives no figure for this; the target is
 * the issue's.
 *
 * flow: the embedded Node-RED runs flows/hub.json unchanged (batches close
 * on the 1 MiB byte limit, the last one on the flow's own "close batch now"
 * inject); N readings are pushed into the runtime's readings source in
 * chunks of 1000 (yielding to the event loop between chunks); the clock
 * stops when the tx_IoT naming the last batch is in the pool. direct: the same work without Node-RED — the same reading checks,
 * Batcher, encodeBatch, sealBatch, upload, buildTxIoT, submit — in one loop.
 * Both use the in-process IPFS and pool of hub/src/nodered/memory.ts (CIDs,
 * AES-256-GCM and Ed25519 signatures/verification are real; no network), so
 * the ratio is Node-RED's own cost. Every batch is opened afterwards and the
 * readings counted, so a dropped reading cannot pass unnoticed.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { buildTxIoT, cidStringFromDigest, contentDigest, openBatch, sealBatch, type TxIoT } from '../hub/src/core/index.ts'
import { Batcher, asReading, decodeBatch, encodeBatch } from '../hub/src/nodered/batcher.ts'
import { startNodeRed } from '../hub/src/nodered/embed.ts'
import type { HealthchainRuntime, SensorReading } from '../hub/src/nodered/runtime.ts'
import { table } from './_stats.ts'
import { userRuntime, type UserParts } from '../test/helpers/nodered-runtime.ts'

const N = Number(process.env.FLOW_READINGS ?? 100_000)
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

async function viaFlow (readings: SensorReading[], expectedBatches: number): Promise<{ ms: number, batches: number, sealed: number }> {
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

async function direct (readings: SensorReading[]): Promise<{ ms: number, batches: number, sealed: number }> {
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

export async function run (): Promise<Record<string, number>> {
  const readings = readingsFor(N)
  await direct(readingsFor(5000)) // warm-up (JIT)
  const d = await direct(readings)
  const f = await viaFlow(readings, d.batches)
  if (f.sealed !== N || d.sealed !== N) throw new Error(`sealed ${f.sealed} (flow) / ${d.sealed} (direct) of ${N} readings`)
  const flowRps = N / (f.ms / 1000)
  const directRps = N / (d.ms / 1000)
  console.log(`${N} readings; batches close on the 1 MiB limit (shipped flow: window 30 s, no size trigger)`)
  table([
    ['path', 'readings/s', 'ms', 'sealed batches', 'readings sealed'],
    ['Node-RED shipped flow', flowRps, f.ms, f.batches, f.sealed],
    ['roles called directly', directRps, d.ms, d.batches, d.sealed],
    ['target (issue)', 20_000, '', '', '']
  ])
  console.log(`overhead ratio (flow time / direct time): ${(f.ms / d.ms).toFixed(2)}`)
  return {
    flow_readings_per_s: Math.round(flowRps),
    flow_overhead_ratio: Math.round((f.ms / d.ms) * 100) / 100,
    direct_readings_per_s: Math.round(directRps),
    flow_batches: f.batches,
    flow_readings: N
  }
}
