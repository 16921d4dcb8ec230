/**
 * Issue #7 bench: upload + acknowledgement latency and throughput of
 * encrypted batches over the store protocol on loopback, replication 2
 * (paper Alg. 2 lines 2–3: the user node stores EIoT, then publishes
 * tx_IoT). The paper gives no IPFS timings, so there is no figure beside
 * ours. Also reported: a doctor's fetch (Alg. 4 input) of the same batches.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { IpfsNode, uploadBatch } from '../hub/src/ipfs/index.ts'
import { openAdmission, StorageNode } from '../hub/src/roles/storage/index.ts'
import { table } from './_stats.ts'

const SIZES = [
  { name: '1k', bytes: 1024, n: 100 },
  { name: '64k', bytes: 64 * 1024, n: 50 },
  { name: '1m', bytes: 1024 * 1024, n: 20 }
]
const WARMUP = 3

function pct (sorted: number[], p: number): number { return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]! }

export async function run (): Promise<Record<string, number>> {
  const dir = await mkdtemp(join(tmpdir(), 'hc-bench-ipfs-'))
  const metrics: Record<string, number> = {}
  const a = await StorageNode.create({ dataDir: join(dir, 'a'), admission: openAdmission })
  const b = await StorageNode.create({ dataDir: join(dir, 'b'), admission: openAdmission })
  const user = await IpfsNode.create({ dataDir: join(dir, 'user') })
  const doctor = await IpfsNode.create({ dataDir: join(dir, 'doctor') })
  const storage = [a.ipfs.multiaddrs[0]!, b.ipfs.multiaddrs[0]!]
  const rows: Array<Array<string | number>> = [['batch', 'n', 'upload+ack p50 ms', 'p90 ms', 'MB/s (sequential)', 'doctor fetch p50 ms']]
  try {
    for (const size of SIZES) {
      for (let i = 0; i < WARMUP; i++) await uploadBatch(user, new Uint8Array(randomBytes(size.bytes)), { storageNodes: storage, replication: 2 })
      const batches = Array.from({ length: size.n }, () => new Uint8Array(randomBytes(size.bytes)))
      const times: number[] = []
      const cids = []
      const start = performance.now()
      for (const batch of batches) {
        const s = performance.now()
        const res = await uploadBatch(user, batch, { storageNodes: storage, replication: 2 })
        times.push(performance.now() - s)
        cids.push(res.cid)
      }
      const total = performance.now() - start
      const fetches: number[] = []
      for (const cid of cids) {
        const s = performance.now()
        await doctor.get(cid, { providers: [storage[0]!], askConnected: false })
        fetches.push(performance.now() - s)
      }
      times.sort((x, y) => x - y)
      fetches.sort((x, y) => x - y)
      const mbps = (size.bytes * size.n / 1e6) / (total / 1000)
      metrics[`upload_ack_ms_p50_${size.name}`] = pct(times, 0.5)
      metrics[`upload_ack_ms_p90_${size.name}`] = pct(times, 0.9)
      metrics[`upload_mb_per_s_${size.name}`] = mbps
      metrics[`fetch_ms_p50_${size.name}`] = pct(fetches, 0.5)
      rows.push([size.name, size.n, pct(times, 0.5), pct(times, 0.9), mbps, pct(fetches, 0.5)])
      await user.gc()
      await doctor.gc()
    }
  } finally {
    await Promise.allSettled([a.stop(), b.stop(), user.stop(), doctor.stop()])
    await rm(dir, { recursive: true, force: true })
  }
  console.log('IPFS upload to 2 storage nodes (push, wait for both acks), loopback TCP + Noise + Yamux, LevelDB blockstores')
  table(rows)
  console.log('paper: no IPFS timing figure; MB = 10^6 bytes of ciphertext')
  return metrics
}
