/**
 * Issue #7 bench: upload + acknowledgement latency and throughput of
 * encrypted batches over the store protocol on loopback, replication 2
 * (paper Alg. 2 lines 2–3: the user node stores EIoT, then publishes
 * tx_IoT). The paper gives no IPFS timings, so there is no figure beside
 * ours. Also reported: a doctor's fetch (Alg. 4 input) of the same batches.
 *
 * The two storage nodes are daemons of their own (bench/_storage-node.ts,
 * one child process each), as in a deployment, where they are other
 * machines: what they spend receiving, hashing and pinning is not on the
 * uploader's core. The uploader's clock starts before uploadBatch and stops
 * when both acknowledgements are in (each storage node has fsynced the block
 * and its pin). For comparison with runs before the storage nodes had their
 * own processes, the 1 MiB case is also run with all three nodes in this
 * one process (upload_mb_per_s_1m_one_process).
 */
import { fork, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { performance } from 'node:perf_hooks'
import type { CID } from 'multiformats/cid'
import { IpfsNode, uploadBatch, type Provider } from '../hub/src/ipfs/index.ts'
import { openAdmission, StorageNode } from '../hub/src/roles/storage/index.ts'
import { table } from './_stats.ts'

const SIZES = [
  { name: '1k', bytes: 1024, n: 100 },
  { name: '64k', bytes: 64 * 1024, n: 50 },
  { name: '1m', bytes: 1024 * 1024, n: 20 }
]
const WARMUP = 3

function pct (sorted: number[], p: number): number { return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]! }

/** A storage node in a child process; its multiaddr once it listens. */
async function storageDaemon (dataDir: string): Promise<{ addr: string, stop: () => Promise<void> }> {
  const child: ChildProcess = fork(fileURLToPath(new URL('./_storage-node.ts', import.meta.url)), [dataDir], { execArgv: ['--no-warnings'] })
  const addr = await new Promise<string>((resolve, reject) => {
    child.once('message', (m) => { resolve((m as { addr: string }).addr) })
    child.once('exit', (code) => { reject(new Error(`storage node exited with ${code}`)) })
  })
  return {
    addr,
    stop: async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.send('stop')
      await exited
    }
  }
}

/**
 * Sequential uploads of `n` fresh batches of `bytes`: each one's upload+ack
 * time, the total, the CIDs, and this process's CPU time per upload (all its
 * threads: less sensitive than wall time to other load on the machine).
 */
async function uploads (user: IpfsNode, storage: Provider[], bytes: number, n: number): Promise<{ times: number[], total: number, cids: CID[], cpuMs: number }> {
  for (let i = 0; i < WARMUP; i++) await uploadBatch(user, new Uint8Array(randomBytes(bytes)), { storageNodes: storage, replication: 2 })
  const batches = Array.from({ length: n }, () => new Uint8Array(randomBytes(bytes)))
  const times: number[] = []
  const cids: CID[] = []
  const cpu = process.cpuUsage()
  const start = performance.now()
  for (const batch of batches) {
    const s = performance.now()
    const res = await uploadBatch(user, batch, { storageNodes: storage, replication: 2 })
    times.push(performance.now() - s)
    cids.push(res.cid)
  }
  const total = performance.now() - start
  const used = process.cpuUsage(cpu)
  times.sort((x, y) => x - y)
  return { times, total, cids, cpuMs: (used.user + used.system) / 1000 / n }
}

const mbPerS = (bytes: number, n: number, ms: number): number => (bytes * n / 1e6) / (ms / 1000)

export async function run (): Promise<Record<string, number>> {
  const dir = await mkdtemp(join(tmpdir(), 'hc-bench-ipfs-'))
  const metrics: Record<string, number> = {}
  const daemons = await Promise.all([storageDaemon(join(dir, 'a')), storageDaemon(join(dir, 'b'))])
  const user = await IpfsNode.create({ dataDir: join(dir, 'user') })
  const doctor = await IpfsNode.create({ dataDir: join(dir, 'doctor') })
  const storage = daemons.map((d) => d.addr)
  const rows: Array<Array<string | number>> = [['batch', 'n', 'upload+ack p50 ms', 'p90 ms', 'MB/s (sequential)', 'uploader CPU ms/upload', 'doctor fetch p50 ms']]
  try {
    for (const size of SIZES) {
      const { times, total, cids, cpuMs } = await uploads(user, storage, size.bytes, size.n)
      const fetches: number[] = []
      for (const cid of cids) {
        const s = performance.now()
        await doctor.get(cid, { providers: [storage[0]!], askConnected: false })
        fetches.push(performance.now() - s)
      }
      fetches.sort((x, y) => x - y)
      const mbps = mbPerS(size.bytes, size.n, total)
      metrics[`upload_ack_ms_p50_${size.name}`] = pct(times, 0.5)
      metrics[`upload_ack_ms_p90_${size.name}`] = pct(times, 0.9)
      metrics[`upload_mb_per_s_${size.name}`] = mbps
      metrics[`fetch_ms_p50_${size.name}`] = pct(fetches, 0.5)
      metrics[`upload_cpu_ms_${size.name}`] = cpuMs
      rows.push([size.name, size.n, pct(times, 0.5), pct(times, 0.9), mbps, cpuMs, pct(fetches, 0.5)])
      await user.gc()
      await doctor.gc()
    }
  } finally {
    await Promise.allSettled([...daemons.map(async (d) => { await d.stop() }), user.stop(), doctor.stop()])
  }
  // the same 1 MiB uploads with both storage nodes in this process (as the bench ran them before)
  const a = await StorageNode.create({ dataDir: join(dir, 'one-a'), admission: openAdmission })
  const b = await StorageNode.create({ dataDir: join(dir, 'one-b'), admission: openAdmission })
  const user1 = await IpfsNode.create({ dataDir: join(dir, 'one-user') })
  try {
    const one = SIZES[2]!
    const { times, total, cpuMs } = await uploads(user1, [a.ipfs.multiaddrs[0]!, b.ipfs.multiaddrs[0]!], one.bytes, one.n)
    metrics.upload_mb_per_s_1m_one_process = mbPerS(one.bytes, one.n, total)
    metrics.upload_ack_ms_p50_1m_one_process = pct(times, 0.5)
    metrics.upload_cpu_ms_1m_one_process = cpuMs
    rows.push(['1m, one process', one.n, pct(times, 0.5), pct(times, 0.9), metrics.upload_mb_per_s_1m_one_process, cpuMs, '-'])
  } finally {
    await Promise.allSettled([a.stop(), b.stop(), user1.stop()])
    await rm(dir, { recursive: true, force: true })
  }
  console.log('IPFS upload to 2 storage nodes (push to both at once, wait for both acks), loopback TCP + Noise + Yamux, LevelDB blockstores')
  console.log('clock: from before uploadBatch to both acknowledgements (block and pin fsynced on each storage node); storage nodes in child processes unless "one process"')
  table(rows)
  console.log('paper: no IPFS timing figure; MB = 10^6 bytes of ciphertext')
  return metrics
}
