/**
 * Docchain PBFT (paper §IV-B3, §VI): committed tx_diag/s for n = 4, commit
 * latency at 100 tx/s, view-change time after a leader crash, beside this
 * machine's Ed25519 verify capacity (every accounting node verifies every
 * tx_diag signature, so that bounds throughput).
 *
 * Setup, stated in the report: four AccountingNode instances in ONE process,
 * each with its own LevelDB (write-ahead PBFT log, certified Docchain), real
 * Ed25519 signatures on every message and tx_diag, talking over the
 * in-process MemoryNetwork transport — the libp2p transport (network issue)
 * is not built yet, so this is not loopback TCP. The four replicas share one
 * core here, and the process-wide signature memo lets them share the checks
 * of identical message signatures (each tx_diag signature is still verified
 * by every node). Userchain and payment lookups are stubs that always answer
 * yes (their cost is not PBFT's).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import {
  buildIdentityRecord, buildTxDiag, encodeIdentityRecord, sha256, toHex, txSigner, txSigningMessage, utf8Bytes, verify,
  type Dblock, type Identity, type TxDiag
} from '../hub/src/core/index.ts'
import { DoctorRegistry } from '../hub/src/core/pbft/registry.ts'
import { AccountingNode } from '../hub/src/roles/accounting/node.ts'
import { MemoryNetwork } from '../hub/src/roles/accounting/transport.ts'
import { GENESIS, ident } from '../test/fuzz/pbft-sim.ts'
import { table, timeIt } from './_stats.ts'

const N = 4
const TOTAL = Number(process.env.PBFT_BENCH_TX ?? 10_000)
const REQUEST_TIMEOUT_MS = 300

const doctors = [0, 1, 2, 3].map((i) => ident(`bench-doctor-${i}`))
const replicas = Array.from({ length: N }, (_, i) => ident(`bench-replica-${i}`))
const members = replicas.map((r) => r.id)
const user = ident('bench-user')

let made = 0
function diags (count: number): TxDiag[] {
  const out: TxDiag[] = []
  for (let i = 0; i < count; i++, made++) {
    out.push(buildTxDiag(doctors[made % doctors.length]!, { ts: 1_790_000_000 + made, causes: [sha256(utf8Bytes(`bench-iot-${made}`))], hedm: sha256(utf8Bytes(`bench-dm-${made}`)) }))
  }
  return out
}

interface Cluster { nodes: AccountingNode[], net: MemoryNetwork, dir: string }

async function cluster (requestTimeoutMs = REQUEST_TIMEOUT_MS): Promise<Cluster> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-pbft-'))
  const net = new MemoryNetwork()
  const genesisDoctors = doctors.map((d: Identity) => encodeIdentityRecord(buildIdentityRecord(d, 1)))
  const nodes = await Promise.all(replicas.map((r, i) => AccountingNode.start({
    identity: r,
    members,
    genesis: GENESIS,
    dir: join(dir, `n${i}`),
    transport: net.join(r.id),
    registry: new DoctorRegistry({ members: [r.id], threshold: 1 }, genesisDoctors),
    userchain: { iotTx: async () => ({ user: user.id }) },
    payments: { hasPaid: async () => true },
    replica: { maxBatch: 500, batchDelayMs: 5, checkpointInterval: 8, window: 64, requestTimeoutMs, viewChangeTimeoutMs: requestTimeoutMs, statusEveryMs: 500 },
    tickMs: 2
  })))
  return { nodes, net, dir }
}

async function close (c: Cluster): Promise<void> {
  for (const n of c.nodes) await n.stop()
  await rm(c.dir, { recursive: true, force: true })
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

async function heightsEqual (c: Cluster, nodes = c.nodes, max = 10_000): Promise<number> {
  const start = performance.now()
  while (performance.now() - start < max) {
    const h = nodes.map((n) => n.height)
    if (h.every((x) => x === h[0])) return h[0]!
    await sleep(5)
  }
  throw new Error(`nodes did not converge: ${nodes.map((n) => n.height).join(', ')}`)
}

function pct (xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(s.length * p))]!
}

export async function run (): Promise<Record<string, number>> {
  console.log(`PBFT n=${N}, in-process MemoryNetwork transport (libp2p transport not built yet: NOT loopback TCP),`)
  console.log('real Ed25519 signatures, LevelDB write-ahead log per node, all four replicas in one process.\n')

  // Ed25519 verify capacity of this machine (one core), on tx_diag signatures.
  const sample = diags(256)
  const msgs = sample.map((tx) => ({ pk: txSigner(tx)!, msg: txSigningMessage(tx)!, sig: tx.sig }))
  const vt = timeIt(4000, (i) => { const m = msgs[i % msgs.length]!; if (!verify(m.pk, m.msg, m.sig)) throw new Error('verify') })
  const verifyPerS = 1000 / vt.mean

  // Throughput: TOTAL tx_diag submitted at once, round-robin over the four nodes.
  // A backlog of TOTAL requests at once: a request timeout long enough not to read it as a faulty leader.
  const txs = diags(TOTAL)
  let c = await cluster(5000)
  const viewsBefore = c.nodes[0]!.view
  const t0 = performance.now()
  const receipts = await Promise.all(txs.map((tx, i) => c.nodes[i % N]!.submit(tx)))
  const t1 = performance.now()
  const failed = receipts.filter((r) => !r.ok).length
  if (failed > 0) throw new Error(`${failed} tx_diag were rejected`)
  const height = await heightsEqual(c)
  if (c.nodes[0]!.view !== viewsBefore) console.log(`(a view change happened during the throughput run: view ${c.nodes[0]!.view})`)
  const tps = TOTAL / ((t1 - t0) / 1000)
  const blocks: Dblock[] = []
  for (let h = 1; h <= height; h++) blocks.push((await c.nodes[0]!.block(h))!)
  const perBlock = TOTAL / height
  await close(c)

  // Latency at 100 tx/s for 5 s, each submitted to a random node.
  c = await cluster()
  const lat: number[] = []
  const pending: Array<Promise<void>> = []
  const load = diags(500)
  const start = performance.now()
  for (let i = 0; i < load.length; i++) {
    const due = start + i * 10
    const wait = due - performance.now()
    if (wait > 0) await sleep(wait)
    const s = performance.now()
    pending.push(c.nodes[i % N]!.submit(load[i]!).then((r) => { if (!r.ok) throw new Error(r.reason); lat.push(performance.now() - s) }))
  }
  await Promise.all(pending)
  const achieved = load.length / ((performance.now() - start) / 1000)

  // View change: the leader crashes; time until a tx submitted right then is committed.
  await heightsEqual(c)
  const leader = c.nodes.findIndex((n) => toHex(n.id) === toHex(n.leader))
  const viewBefore = c.nodes[(leader + 1) % N]!.view
  c.net.down.add(toHex(c.nodes[leader]!.id))
  const vc0 = performance.now()
  const r = await c.nodes[(leader + 1) % N]!.submit(diags(1)[0]!)
  const viewChangeMs = performance.now() - vc0
  if (!r.ok) throw new Error(r.reason)
  const viewAfter = c.nodes[(leader + 1) % N]!.view
  c.net.down.clear()
  await close(c)

  table([
    ['metric', 'ours', 'paper / target'],
    ['committed tx_diag/s, n=4 (' + TOTAL + ' tx)', tps, 'target ≥ 2,500/s'],
    ['Dblocks / tx_diag per Dblock', `${height} / ${perBlock.toFixed(0)}`, ''],
    ['p50 commit latency @100 tx/s (ms)', pct(lat, 0.5), 'target ≤ 50 ms'],
    ['p99 commit latency @100 tx/s (ms)', pct(lat, 0.99), ''],
    ['offered load achieved (tx/s)', achieved, '100'],
    [`view change after leader crash (ms, request timeout ${REQUEST_TIMEOUT_MS} ms)`, viewChangeMs, `view ${viewBefore} → ${viewAfter}`],
    ['Ed25519 verify capacity, one core (/s)', verifyPerS, '4 nodes × tx/s must fit here (one process)']
  ])
  console.log('\nThe paper gives no PBFT throughput figure (§VI measures Ublock/Dblock sizes only).')
  return {
    pbft_n4_tx_per_s: tps,
    pbft_p50_ms_100tps: pct(lat, 0.5),
    pbft_p99_ms_100tps: pct(lat, 0.99),
    view_change_ms: viewChangeMs,
    verify_capacity_per_s: verifyPerS,
    pbft_n4_blocks: height,
    pbft_request_timeout_ms: REQUEST_TIMEOUT_MS
  }
}
