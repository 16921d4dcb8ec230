/**
 * Capacity plan of the Userchain (paper §III-A: core user nodes keep the
 * whole chain and mine, lightweight user nodes keep headers; §IV-B1: PoW, a
 * Ublock a minute): how many patients one Userchain carries at the paper's
 * rates (§VI-C: a tx_IoT every 10 minutes, a tx_key every 30 days), for
 * block sizes and intervals, at what orphan rate.
 *
 * A discrete-event model (bench/_capacity-model.ts) on a random graph of
 * core nodes (each with 8 outbound peers), links with latency and bandwidth
 * drawn per link and node, and per-hop costs measured by this repository's
 * userchain and core benches (their newest archived runs, else the fallbacks
 * of bench/capacity-inputs.ts: the run records which). For every block size
 * and relay mode (full, compact) each miner's block is propagated hop by hop;
 * then for every interval blocks are mined as a Poisson process over those
 * delays and stale blocks counted. Seeded: CAPACITY_SEED (default 1).
 *
 * Clock: no wall-clock measurement; the figures are model outputs. The run
 * takes a few seconds of CPU (printed by bench/run.ts).
 */
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { CAPACITY_INPUTS as I, type BenchInput, type Input } from './capacity-inputs.ts'
import { mine, propagate, quantile, randomGraph, rng, type Graph, type Hop } from './_capacity-model.ts'
import { loadRuns, type LoadedRun } from './_report.ts'
import { table } from './_stats.ts'

const MiB = 2 ** 20
const SEED = Number(process.env.CAPACITY_SEED ?? 1)
const BLOCKS = Number(process.env.CAPACITY_BLOCKS ?? 4000)

/** A metric-name fragment for a block size: 0.5 → 0p5m. */
export const sizeKey = (mib: number): string => `${String(mib).replace('.', 'p')}m`
export const cellKey = (mode: string, mib: number, s: number, what: string): string => `${mode}_${sizeKey(mib)}_${s}s_${what}`

/** The per-hop costs and sizes, each from its bench's newest run or its fallback. */
export interface Resolved {
  capIotPerMiB: number
  txIotBytes: number
  txKeyBytes: number
  validateMsPerMiB: number
  acceptMsPerMiB: number
  admitTxPerS: number
  verifyPerS: number
  benchCores: number
  /** metric → 1 if read from a run, 0 if the fallback was used. */
  measured: Record<string, number>
  /** input → the run file it came from, or "fallback". */
  from: Record<string, string>
}

export function resolveInputs (runs: Record<string, LoadedRun[]>): Resolved {
  const measured: Record<string, number> = {}; const from: Record<string, string> = {}
  const get = (name: string, b: BenchInput): number => {
    const run = (runs[b.bench] ?? []).find((r) => typeof r.metrics[b.metric] === 'number')
    measured[name] = run === undefined ? 0 : 1
    from[name] = run === undefined ? `fallback constant ${b.fallback} (no ${b.bench} run with ${b.metric})` : `bench/runs/${run.file} (${b.metric})`
    return run === undefined ? b.fallback : run.metrics[b.metric]!
  }
  return {
    capIotPerMiB: get('capacity_tx_iot_per_mib', I.sizes.capacityTxIotPerMiB),
    txIotBytes: get('tx_iot_bytes', I.sizes.txIotBytes),
    txKeyBytes: get('tx_key5_bytes', I.sizes.txKey5Bytes),
    validateMsPerMiB: get('block_validate_ms', I.costs.validateMsPerMiB),
    acceptMsPerMiB: get('block_accept_ms_premempool', I.costs.acceptPremempoolMsPerMiB),
    admitTxPerS: get('mempool_admit_tx_per_s', I.costs.mempoolAdmitTxPerS),
    verifyPerS: get('verify_capacity_per_s', I.costs.verifyCapacityPerS),
    benchCores: get('cores', I.costs.benchCores),
    measured,
    from
  }
}

export type Mode = 'full' | 'compact'
export const MODES: readonly Mode[] = ['full', 'compact']

/** What a block of `mib` MiB costs per hop in a relay mode; `no` removes one cost (to find which binds). */
export function hopFor (mode: Mode, mib: number, r: Resolved, no?: 'validation' | 'transfer' | 'latency'): Hop {
  const body = mib * MiB
  const txs = Math.floor(r.capIotPerMiB * mib)
  const bytes = (b: number): number => no === 'transfer' ? 0 : b
  const cpu = (ms: number): number => no === 'validation' ? 0 : ms / 1000
  const lat = (n: number): number => no === 'latency' ? 0 : n
  if (mode === 'full') {
    const v = cpu(r.validateMsPerMiB * mib)
    return { sendBytes: bytes(I.sizes.headerBytes.value + body), relayAfterS: v, acceptAfterS: v, pushPeers: 0, pushLatencies: 0, pullLatencies: lat(I.relay.fullLatencies.value), fetchBytes: 0 }
  }
  const missing = I.relay.compactMissingFraction.value * body
  return {
    sendBytes: bytes(I.sizes.headerBytes.value + I.relay.shortIdBytes.value * txs),
    relayAfterS: I.relay.relayBeforeValidation.value === 1 ? 0 : cpu(r.acceptMsPerMiB * mib),
    acceptAfterS: cpu(r.acceptMsPerMiB * mib),
    pushPeers: I.relay.compactHighBandwidthPeers.value,
    pushLatencies: lat(1),
    pullLatencies: lat(I.relay.fullLatencies.value),
    // a miss costs a round trip even when its bytes are free
    fetchBytes: missing > 0 ? Math.max(bytes(missing), Number.MIN_VALUE) : 0
  }
}

/** Patients one chain carries: block space per second over one patient's tx_IoT and tx_key bytes per second. */
export function patients (mib: number, intervalS: number, r: Resolved): number {
  const iotEntry = MiB / r.capIotPerMiB
  const keyEntry = r.txKeyBytes + (iotEntry - r.txIotBytes)
  const perPatient = iotEntry / I.rates.txIotPeriodS.value + keyEntry / I.rates.txKeyPeriodS.value
  return Math.floor(mib * MiB / intervalS / perPatient)
}

export interface Network { graph: Graph, miners: Int32Array }

/** The peer graph of n core nodes; `uplinkScale` multiplies every node's bandwidth (what-if: data-centre core nodes). */
export function network (n: number, seed: number, uplinkScale = 1): Network {
  const rand = rng(seed)
  const N = I.network
  const graph = randomGraph(n, {
    outbound: N.outboundPeers.value,
    latencyMedianS: N.latencyMedianMs.value / 1000,
    latencySigma: N.latencySigma.value,
    uploadMedianBps: N.uploadMedianMbit.value * uplinkScale * 1e6 / 8,
    uploadSigma: N.uploadSigma.value,
    downloadMedianBps: N.downloadMedianMbit.value * uplinkScale * 1e6 / 8,
    downloadSigma: N.downloadSigma.value
  }, rand)
  const miners = new Int32Array(Math.min(N.miners.value, n))
  const picked = new Set<number>()
  for (let i = 0; i < miners.length;) {
    const c = Math.floor(rand() * n)
    if (picked.has(c)) continue
    picked.add(c); miners[i++] = c
  }
  return { graph, miners }
}

/** Each miner's block propagated: delays at the miners, and the mean time to reach 90 % and 50 % of nodes. */
export function propagation (net: Network, hop: Hop): { delays: Float64Array[], t90: number, t50: number } {
  const delays: Float64Array[] = []
  let t90 = 0; let t50 = 0
  for (const src of net.miners) {
    const acc = propagate(net.graph, src, hop)
    delays.push(Float64Array.from(net.miners, (m) => acc[m]!))
    t90 += quantile(acc, 0.9); t50 += quantile(acc, 0.5)
  }
  return { delays, t90: t90 / net.miners.length, t50: t50 / net.miners.length }
}

export function orphanRate (delays: readonly Float64Array[], intervalS: number, seed: number): number {
  return mine(delays, intervalS, BLOCKS, rng(seed)).orphanRate
}

let notes: Record<string, string> = {}
/** Strings recorded with the run (bench/run.ts): where each input came from, and the verdict. */
export function runNotes (): Record<string, string> { return notes }

export async function run (): Promise<Record<string, number>> {
  const here = fileURLToPath(new URL('.', import.meta.url))
  const r = resolveInputs(await loadRuns(join(here, 'runs')))
  const S = I.sweep
  const maxN = Math.max(...S.nodes)
  const m: Record<string, number> = { seed: SEED, blocks_per_cell: BLOCKS, nodes: maxN, miners: Math.min(I.network.miners.value, maxN) }
  // the inputs as used, with their sources, go into the run record: the report renders them from there
  const sources: Record<string, string> = {}
  for (const [group, entries] of Object.entries(I)) {
    if (group === 'sweep') continue
    for (const [name, e] of Object.entries(entries as Record<string, Input | BenchInput>)) {
      if (!('value' in e)) continue
      m[`input_${group}_${name}`] = e.value
      sources[`source_${group}_${name}`] = `${e.kind}: ${e.source} [${e.unit}]`
    }
  }
  S.blockMiB.forEach((v, i) => { m[`sweep_block_mib_${i}`] = v })
  S.intervalS.forEach((v, i) => { m[`sweep_interval_s_${i}`] = v })
  S.nodes.forEach((v, i) => { m[`sweep_nodes_${i}`] = v })
  for (const [k, v] of Object.entries(r.measured)) m[`input_${k}_measured`] = v
  Object.assign(m, {
    input_capacity_tx_iot_per_mib: r.capIotPerMiB,
    input_tx_iot_bytes: r.txIotBytes,
    input_tx_key5_bytes: r.txKeyBytes,
    input_block_validate_ms_per_mib: r.validateMsPerMiB,
    input_block_accept_ms_premempool_per_mib: r.acceptMsPerMiB,
    input_mempool_admit_tx_per_s: r.admitTxPerS,
    input_verify_capacity_per_s: r.verifyPerS,
    input_bench_cores: r.benchCores
  })

  console.log(`clock: none (model output); seed ${SEED}, ${BLOCKS} blocks per cell, ${maxN} nodes, ${m.miners} miners`)
  const net = network(maxN, SEED)
  type Cell = { mode: Mode, mib: number, s: number, orphan: number, t90: number, patients: number }
  const cells: Cell[] = []
  const delaysOf = new Map<string, Float64Array[]>()
  for (const mib of S.blockMiB) {
    for (const mode of MODES) {
      const p = propagation(net, hopFor(mode, mib, r))
      delaysOf.set(`${mode}/${mib}`, p.delays)
      m[`${mode}_${sizeKey(mib)}_t90_s`] = p.t90
      m[`${mode}_${sizeKey(mib)}_t50_s`] = p.t50
      for (const s of S.intervalS) {
        const c: Cell = { mode, mib, s, orphan: orphanRate(p.delays, s, SEED + s), t90: p.t90, patients: patients(mib, s, r) }
        cells.push(c)
        m[cellKey(mode, mib, s, 'orphan_rate')] = c.orphan
      }
    }
    for (const s of S.intervalS) m[`patients_${sizeKey(mib)}_${s}s`] = patients(mib, s, r)
  }

  const goal = I.goal.patients.value; const maxOrphan = I.goal.maxOrphanRate.value
  const ok = cells.filter((c) => c.orphan <= maxOrphan)
  // best: the most patients within the orphan bound; of equal patients the lower orphan rate
  const best = ok.sort((a, b) => b.patients - a.patients || a.orphan - b.orphan)[0]!
  // the cell that carries the goal with the lowest orphan rate: what it would take
  const reach = cells.filter((c) => c.patients >= goal).sort((a, b) => a.orphan - b.orphan || b.s - a.s)[0]
  const met = best.patients >= goal
  // the plan's row: the best when the goal is met, else the nearest cell that carries the goal
  const plan = met ? best : reach ?? best
  Object.assign(m, {
    // the sampling error of an orphan rate at the bound, from the blocks one cell mines
    orphan_rate_standard_error_at_bound: Math.sqrt(maxOrphan * (1 - maxOrphan) / BLOCKS),
    goal_met: met ? 1 : 0,
    patients_per_network_best: best.patients,
    orphan_rate_at_best: best.orphan,
    t90_s_at_best: best.t90,
    best_block_mib: best.mib,
    best_interval_s: best.s,
    best_relay_compact: best.mode === 'compact' ? 1 : 0,
    plan_block_mib: plan.mib,
    plan_interval_s: plan.s,
    plan_relay_compact: plan.mode === 'compact' ? 1 : 0,
    plan_patients: plan.patients,
    plan_orphan_rate: plan.orphan,
    plan_t90_s: plan.t90
  })

  // which cost binds at the plan's row: the orphan rate with each cost removed in turn
  const binding: Record<string, number> = {}
  for (const no of ['validation', 'transfer', 'latency'] as const) {
    const p = propagation(net, hopFor(plan.mode, plan.mib, r, no))
    binding[no] = orphanRate(p.delays, plan.s, SEED + plan.s)
    m[`plan_orphan_rate_without_${no}`] = binding[no]
  }
  const binds = Object.entries(binding).sort((a, b) => a[1] - b[1])[0]![0]

  // what would make the plan's row work: block acceptance at its target cost, faster core-node links, both
  const W = I.whatIf
  const atTarget: Resolved = { ...r, acceptMsPerMiB: Math.min(r.acceptMsPerMiB, W.acceptMsPerMiB.value) }
  const fast = network(maxN, SEED, W.bandwidthScale.value)
  for (const [name, nw, res] of [['accept_target', net, atTarget], ['fast_links', fast, r], ['accept_target_fast_links', fast, atTarget]] as const) {
    const p = propagation(nw, hopFor(plan.mode, plan.mib, res))
    m[`plan_orphan_rate_${name}`] = orphanRate(p.delays, plan.s, SEED + plan.s)
    m[`plan_t90_s_${name}`] = p.t90
  }

  // the plan's row on the smaller networks of the sweep
  for (const n of S.nodes.filter((n) => n !== maxN)) {
    const p = propagation(network(n, SEED), hopFor(plan.mode, plan.mib, r))
    m[`plan_orphan_rate_n${n}`] = orphanRate(p.delays, plan.s, SEED + plan.s)
    m[`plan_t90_s_n${n}`] = p.t90
  }

  // what the plan asks of a core node, per day
  const day = 86400
  const blocksDay = day / plan.s
  const body = plan.mib * MiB
  const block = body + I.sizes.headerBytes.value
  const txDay = Math.floor(r.capIotPerMiB * plan.mib) * blocksDay
  const degree = net.graph.adj.length / net.graph.n
  const hop = hopFor(plan.mode, plan.mib, r)
  // txs: each received once and sent once on average, announced on every link; blocks: full relay receives and sends a body each,
  // compact relay receives up to the push peers' copies plus one and sends as many, and fetches its missing txs
  const blockBytesDay = plan.mode === 'full'
    ? 2 * block * blocksDay
    : 2 * (I.relay.compactHighBandwidthPeers.value + 1) * hop.sendBytes * blocksDay + hop.fetchBytes * blocksDay
  const bwDay = 2 * body * blocksDay + degree * I.hub.txInvBytes.value * txDay + blockBytesDay
  const cpuWallS = txDay / r.admitTxPerS + blocksDay * (plan.mode === 'full' ? r.validateMsPerMiB : r.acceptMsPerMiB) * plan.mib / 1000
  const diskDay = block * blocksDay
  Object.assign(m, {
    core_node_disk_gb_per_day: diskDay / 1e9,
    core_node_disk_tb_per_year: diskDay * 365 / 1e12,
    core_node_bandwidth_gb_per_day: bwDay / 1e9,
    core_node_bandwidth_mbit_s_mean: bwDay * 8 / day / 1e6,
    core_node_tx_per_day: txDay,
    core_node_signature_checks_per_day: txDay,
    core_node_cpu_core_hours_per_day: cpuWallS * r.benchCores / 3600,
    core_node_cpu_busy_fraction: cpuWallS / day,
    core_node_verify_capacity_share: txDay / (r.verifyPerS * day),
    peer_degree_mean: degree,
    light_node_headers_mb_per_year: I.sizes.headerBytes.value * blocksDay * 365 / 1e6,
    pi_days_until_full_node_fills_storage: I.hub.piStorageGB.value * 1e9 / diskDay,
    pi_upload_share_of_core_bandwidth: (bwDay * 8 / day / 1e6) / I.hub.piUploadMbit.value
  })

  notes = {
    ...sources,
    ...Object.fromEntries(Object.entries(r.from).map(([k, v]) => [`input_${k}`, v])),
    verdict: met
      ? `${best.mode} relay, ${best.mib} MiB blocks every ${best.s} s carry ${best.patients} patients at orphan rate ${best.orphan.toFixed(4)}`
      : `no swept parameter set carries ${goal} patients at orphan rate ≤ ${maxOrphan}; nearest: ${plan.mode} relay, ${plan.mib} MiB every ${plan.s} s, orphan rate ${plan.orphan.toFixed(4)}`,
    binding_limit: binds
  }

  console.log('\nCapacity sweep (orphan rate; t90 = mean time for a block to reach 90 % of nodes)')
  table([
    ['block MiB', 'interval s', 'patients', 'full orphan', 'full t90 s', 'compact orphan', 'compact t90 s'],
    ...S.blockMiB.flatMap((mib) => S.intervalS.map((s) => {
      const f = cells.find((c) => c.mode === 'full' && c.mib === mib && c.s === s)!
      const c = cells.find((c) => c.mode === 'compact' && c.mib === mib && c.s === s)!
      return [mib, s, f.patients, f.orphan, f.t90, c.orphan, c.t90]
    }))
  ])
  console.log(`\nbest within orphan ≤ ${maxOrphan}: ${best.mode}, ${best.mib} MiB / ${best.s} s → ${best.patients} patients (orphan ${best.orphan.toFixed(4)})`)
  console.log(`${notes.verdict}; binding limit at that row: ${binds} (orphan without validation ${binding.validation!.toFixed(4)}, without transfer ${binding.transfer!.toFixed(4)}, without latency ${binding.latency!.toFixed(4)})`)
  console.log(`core node at the plan: ${(diskDay / 1e9).toFixed(2)} GB/day disk, ${(bwDay / 1e9).toFixed(1)} GB/day traffic, ${(cpuWallS * r.benchCores / 3600).toFixed(2)} core-hours/day`)
  for (const [k, v] of Object.entries(r.from)) console.log(`input ${k}: ${v}`)
  return m
}
