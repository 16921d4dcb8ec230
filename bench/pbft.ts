/**
 * Docchain PBFT (paper §IV-B3, §VI): committed tx_diag/s for n = 4 on
 * loopback, commit latency at 100 tx/s, view-change time after the leader
 * process is killed, beside this machine's Ed25519 verify capacity (every
 * accounting node verifies every tx_diag signature, so that bounds throughput).
 *
 * Setup, stated in the report: four `healthchain accounting` PROCESSES
 * (test/helpers/accounting-cluster.ts, the same as the integration test),
 * each with its keystore, its libp2p node on 127.0.0.1 (TCP + Noise + Yamux),
 * its LevelDB Docchain and PBFT log and a Userchain view synced over libp2p
 * from the bench's core node (htxI and Healthcoin credit really checked).
 * Workload: PBFT_BENCH_DOCTORS (16) registered genesis doctors sign the
 * tx_diag in turn; PBFT_BENCH_PATIENTS (64) patients each granted every
 * doctor in their tx_key and prepaid the consortium on Userchain; each
 * tx_diag cites one tx_IoT of one patient (4 per patient), so every node
 * looks up many causes and many patients' credit. The tx_diag are submitted
 * over libp2p (/healthchain/diag/2.0.0) from the bench's one libp2p node,
 * round-robin to all four nodes, and each receipt is awaited.
 *
 * Clocks: throughput starts before the first of TOTAL tx_diag is sent and
 * stops when the last receipt has arrived; latency runs per tx from its send
 * to its receipt; the view change from the leader's SIGKILL to the receipt
 * of a tx submitted right then. Views are counted as the highest view 2f+1
 * running nodes have announced (a lone node timing out alone is no view
 * change); the leader killed is that of the view all four are in, and the
 * bench fails if no view change follows. A receipt is counted only if it says
 * committed, and every counted receipt (warm-up included) is then verified
 * as a doctor does (roles/accounting/diag-protocol.ts verifyReceipt: it
 * names the tx, the Dblock header carries 2f+1 COMMIT signatures of the
 * consortium members, the Merkle branch leads to its diagroot). Receipts
 * are collected during the timed runs and verified after every clock has
 * stopped: verifying as they arrive would spend the bench process's CPU,
 * which the four node processes share on this machine, inside the clock.
 * The bench fails unless pbft_receipts_verified equals the committed count
 * (pbft_diags_committed). pbft_doctors and pbft_patients are the distinct
 * doctors signing and patients cited in the throughput run.
 *
 * The four processes share this machine's cores with the bench process and
 * whatever else runs (the load average is printed). Their CPU time during
 * the throughput run (Linux /proc, user + system) per committed tx_diag,
 * pbft_node_cpu_ms_per_tx, depends less on that other load than tx/s does.
 * PBFT_BENCH_PROF=<dir> writes a CPU profile of each accounting process.
 */
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { performance } from 'node:perf_hooks'
import { toHex, txSigner, txSigningMessage, verify, type TxDiag } from '../hub/src/core/index.ts'
import { verifyReceipt, type WireReceipt } from '../hub/src/roles/accounting/diag-protocol.ts'
import { Cluster } from '../test/helpers/accounting-cluster.ts'
import { table, timeIt } from './_stats.ts'
import { loadAverage } from './_load.ts'

const N = 4
const TOTAL = Number(process.env.PBFT_BENCH_TX ?? 10_000)
const BATCH = 250
const IN_FLIGHT = 8
const REQUEST_TIMEOUT_MS = 1000
const DOCTORS = Number(process.env.PBFT_BENCH_DOCTORS ?? 16)
const PATIENTS = Number(process.env.PBFT_BENCH_PATIENTS ?? 64)
/** tx_IoT per patient on Userchain, each a cause some tx_diag cites. */
const CAUSES_PER_PATIENT = 4

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

function pct (xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(s.length * p))]!
}

/** Committed receipts with the tx_diag each answers, kept for verification once the clocks have stopped. */
class Receipts {
  readonly kept: Array<{ tx: TxDiag, r: WireReceipt }> = []
  /** Counts a submission's receipts (one per tx, in order); any rejection fails the bench. */
  commit (txs: readonly TxDiag[], rs: readonly WireReceipt[]): void {
    if (rs.length !== txs.length) throw new Error(`${rs.length} receipts for ${txs.length} tx_diag`)
    rs.forEach((r, i) => {
      if (!r.ok) throw new Error(`tx_diag rejected: ${r.code} ${r.reason}`)
      this.kept.push({ tx: txs[i]!, r })
    })
  }

  /** The doctor's check of every receipt kept; returns how many passed (a failure throws). */
  verifyAll (members: readonly Uint8Array[]): number {
    let n = 0
    for (const { tx, r } of this.kept) { verifyReceipt(r, tx, members); n++ }
    return n
  }
}

/** Each running node's latest announced view ("view v, leader <id>"), 0 if none yet. */
function viewsOf (c: Cluster): number[] {
  const out: number[] = []
  for (const p of c.procs) {
    if (p === null) continue
    let v = 0
    for (const l of p.lines) { const m = / view (\d+), leader /.exec(l); if (m !== null) v = Math.max(v, Number(m[1])) }
    out.push(v)
  }
  return out
}

/**
 * The highest view 2f+1 running nodes have reached (the view the
 * consortium can commit in; a lone node that timed out and moved on alone
 * does not count), -1 when fewer than 2f+1 run.
 */
function viewOf (c: Cluster): number {
  const q = N - Math.floor((N - 1) / 3)
  const vs = viewsOf(c).sort((a, b) => b - a)
  return vs.length < q ? -1 : vs[q - 1]!
}

/**
 * CPU time (user + system, ms) the running accounting processes have used,
 * from /proc/<pid>/stat (fields 14 and 15, in USER_HZ = 100 ticks/s on
 * Linux); null where there is no /proc.
 */
function nodesCpuMs (c: Cluster): number | null {
  let ticks = 0
  for (const p of c.procs) {
    if (p?.child.pid === undefined) continue
    let stat: string
    try { stat = readFileSync(`/proc/${p.child.pid}/stat`, 'utf8') } catch { return null }
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ') // fields from 3 on (the command name may hold spaces)
    ticks += Number(f[11]) + Number(f[12])
  }
  return ticks * 10
}

/** Distinct doctors signing, and distinct patients cited by, the throughput run's tx_diag (patients read from Userchain). */
async function workloadOf (c: Cluster, txs: readonly TxDiag[]): Promise<{ doctors: number, patients: number }> {
  const doctors = new Set(txs.map((t) => toHex(t.doctor)))
  const patients = new Set<string>()
  const causes = new Set(txs.flatMap((t) => t.causes.map(toHex)))
  for (const h of c.causes) {
    if (!causes.has(toHex(h))) continue
    const tx = await c.core.store.confirmedTx(h)
    if (tx?.kind !== 'iot') throw new Error(`cause ${toHex(h)} is not a confirmed tx_IoT`)
    patients.add(toHex(tx.user))
  }
  return { doctors: doctors.size, patients: patients.size }
}

export async function run (): Promise<Record<string, number>> {
  console.log(`PBFT n=${N}: four \`healthchain accounting\` processes over libp2p on 127.0.0.1 (TCP+Noise+Yamux), real Ed25519, LevelDB log each,`)
  console.log(`tx_diag of ${DOCTORS} doctors citing tx_IoT of ${PATIENTS} patients, checked against a real Userchain synced over libp2p;`)
  console.log(`${cpus().length} cores shared with the bench process and other load. Every committed receipt is verified after the timed runs.`)
  console.log(`load average before: ${loadAverage()}\n`)

  // Ed25519 verify capacity of this machine (one core), on tx_diag signatures.
  const dir = await mkdtemp(join(tmpdir(), 'bench-pbft-'))
  const prof = process.env.PBFT_BENCH_PROF
  const c = await Cluster.start({
    dir,
    doctors: DOCTORS,
    patients: PATIENTS,
    causes: PATIENTS * CAUSES_PER_PATIENT,
    pbft: { maxBatch: 500, batchDelayMs: 5, requestTimeoutMs: REQUEST_TIMEOUT_MS, viewChangeTimeoutMs: REQUEST_TIMEOUT_MS },
    ...(process.env.DEBUG_PBFT === undefined ? {} : { log: (l: string) => { console.error(l) } }),
    ...(prof === undefined ? {} : { env: { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${resolve(prof)}` } })
  })
  try {
    const sample = c.diags(256)
    const msgs = sample.map((tx) => ({ pk: txSigner(tx)!, msg: txSigningMessage(tx)!, sig: tx.sig }))
    const vt = timeIt(4000, (i) => { const m = msgs[i % msgs.length]!; if (!verify(m.pk, m.msg, m.sig)) throw new Error('verify') })
    const verifyPerS = 1000 / vt.mean

    const receipts = new Receipts()
    const submit = async (i: number, txs: TxDiag[]): Promise<void> => { receipts.commit(txs, await c.submit(i, txs)) }

    // warm-up: connections, JIT
    await Promise.all([0, 1, 2, 3].map(async (i) => { await submit(i, c.diags(50)) }))

    // Throughput: TOTAL tx_diag in batches of BATCH, IN_FLIGHT requests open, round-robin over the four nodes.
    const txs = c.diags(TOTAL)
    const workload = await workloadOf(c, txs)
    const viewBefore = viewOf(c)
    let next = 0
    const cpu0 = nodesCpuMs(c)
    const t0 = performance.now()
    await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
      while (next * BATCH < txs.length) {
        const k = next++
        await submit(k % N, txs.slice(k * BATCH, (k + 1) * BATCH))
      }
    }))
    const secs = (performance.now() - t0) / 1000
    const cpu1 = nodesCpuMs(c)
    const cpuPerTx = cpu0 === null || cpu1 === null ? null : (cpu1 - cpu0) / TOTAL
    const tps = TOTAL / secs
    const viewsDuring = viewOf(c) - viewBefore
    const loadThroughput = loadAverage()

    // Latency at 100 tx/s for 5 s: each tx its own request to the next node.
    const lat: number[] = []
    const pending: Array<Promise<void>> = []
    const viewBeforeLatency = viewOf(c)
    const single = c.diags(500)
    const start = performance.now()
    for (let i = 0; i < single.length; i++) {
      const wait = start + i * 10 - performance.now()
      if (wait > 0) await sleep(wait)
      const s = performance.now()
      pending.push(submit(i % N, [single[i]!]).then(() => { lat.push(performance.now() - s) }))
    }
    await Promise.all(pending)
    const achieved = single.length / ((performance.now() - start) / 1000)
    const viewsDuringLatency = viewOf(c) - viewBeforeLatency

    // View change: the leader process is SIGKILLed; time until a tx submitted right then commits.
    // The leader is that of the view every node is in (waited for a while: a node may lag behind its announcement).
    for (let waited = 0; new Set(viewsOf(c)).size > 1 && waited < 10_000; waited += 50) await sleep(50)
    const v0 = viewOf(c)
    const leader = v0 % N
    await c.kill(leader)
    const vc0 = performance.now()
    await submit((leader + 1) % N, c.diags(1))
    const viewChangeMs = performance.now() - vc0
    // (the nodes' "view v, leader" lines may reach us just after the receipt)
    for (let waited = 0; viewOf(c) <= v0 && waited < 10_000; waited += 50) await sleep(50)
    const v1 = viewOf(c)
    if (v1 <= v0) throw new Error(`no view change after killing node ${leader}, the leader of view ${v0} (views now ${viewsOf(c).join(', ')}): view_change_ms would not measure one`)

    // every clock has stopped: the doctor's check of every receipt counted
    const committed = receipts.kept.length
    const vr0 = performance.now()
    const verified = receipts.verifyAll(c.members.map((m) => m.id))
    const verifyMs = performance.now() - vr0
    console.log(`receipts: ${committed} committed tx_diag counted, ${verified} verified (certificate against the ${N} members, Merkle branch) in ${verifyMs.toFixed(0)} ms after the clocks stopped`)
    if (verified !== committed) throw new Error(`${verified} receipts verified of ${committed} committed tx_diag`)

    table([
      ['metric', 'ours', 'paper / target'],
      [`committed tx_diag/s, n=4 processes on loopback (${TOTAL} tx of ${workload.doctors} doctors, ${workload.patients} patients; ${viewsDuring} view changes)`, tps, 'target ≥ 2,500/s'],
      [`p50 commit latency @100 tx/s (ms, ${viewsDuringLatency} view changes)`, pct(lat, 0.5), 'target ≤ 50 ms'],
      ['p99 commit latency @100 tx/s (ms)', pct(lat, 0.99), ''],
      ['offered load achieved (tx/s)', achieved, '100'],
      [`view change after leader SIGKILL (ms, request timeout ${REQUEST_TIMEOUT_MS} ms)`, viewChangeMs, `view ${v0} → ${v1}`],
      ...(cpuPerTx === null ? [] : [['accounting processes\' CPU per committed tx_diag in the throughput run (ms, four nodes together)', cpuPerTx, '']]),
      ['Ed25519 verify capacity, one core (/s)', verifyPerS, `${cpus().length} cores; each tx costs every node 1 verify (its signature) plus ~10 per Dblock (votes)`]
    ])
    console.log(`\nload average during the throughput run: ${loadThroughput}; after: ${loadAverage()} (other sessions share this machine)`)
    console.log('The paper gives no PBFT throughput figure (§VI measures Ublock/Dblock sizes only).')
    return {
      pbft_n4_tx_per_s: tps,
      pbft_p50_ms_100tps: pct(lat, 0.5),
      pbft_p99_ms_100tps: pct(lat, 0.99),
      view_change_ms: viewChangeMs,
      verify_capacity_per_s: verifyPerS,
      pbft_view_changes_during_throughput: viewsDuring,
      pbft_view_changes_during_latency: viewsDuringLatency,
      pbft_request_timeout_ms: REQUEST_TIMEOUT_MS,
      pbft_doctors: workload.doctors,
      pbft_patients: workload.patients,
      ...(cpuPerTx === null ? {} : { pbft_node_cpu_ms_per_tx: cpuPerTx }),
      pbft_diags_committed: committed,
      pbft_receipts_verified: verified,
      load_avg_1m: loadavg()[0]!
    }
  } finally {
    await c.stopAndRead().catch(() => {})
    await c.close()
    await rm(dir, { recursive: true, force: true })
  }
}
