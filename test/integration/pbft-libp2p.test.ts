/**
 * Docchain over real libp2p on loopback (issue "Docchain: PBFT …"): four
 * accounting nodes, each with its own libp2p node and LevelDB, exchange PBFT
 * messages over `/healthchain/pbft/5.0.0`; doctors submit tx_diag to any
 * node; the leader is stopped mid-run; the three honest nodes change view,
 * commit every submitted tx_diag and end with identical Docchains.
 */
import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Libp2p } from '@libp2p/interface'
import { buildIdentityRecord, buildTxDiag, dblockHash, encodeIdentityRecord, sha256, toHex, utf8Bytes, verifyCertificate, type TxDiag } from '../../hub/src/core/index.ts'
import { DoctorRegistry } from '../../hub/src/core/pbft/registry.ts'
import { AccountingNode, type DiagReceipt } from '../../hub/src/roles/accounting/node.ts'
import { libp2pPbftTransport } from '../../hub/src/roles/accounting/libp2p-transport.ts'
import { createIpfsLibp2p } from '../../hub/src/ipfs/libp2p.ts'
import { GENESIS, ident } from '../fuzz/pbft-sim.ts'

const TXS = Number(process.env.PBFT_LIBP2P_TXS ?? 100)
const replicas = [0, 1, 2, 3].map((i) => ident(`p2p-replica-${i}`))
const doctor = ident('p2p-doctor')
const user = ident('p2p-user')
const causes = new Set<string>()
let n = 0
function diag (): TxDiag {
  const cause = sha256(utf8Bytes(`p2p-cause-${n}`))
  causes.add(toHex(cause))
  return buildTxDiag(doctor, { ts: 1_790_000_000 + n++, causes: [cause], hedm: sha256(utf8Bytes(`p2p-dm-${n}`)) })
}

t.test('4 accounting nodes over libp2p: commit, leader stopped, identical Docchains', { timeout: 100_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pbft-p2p-'))
  const libp2ps: Libp2p[] = []
  for (let i = 0; i < 4; i++) libp2ps.push(await createIpfsLibp2p())
  const peers = new Map(replicas.map((r, i) => [toHex(r.id), libp2ps[i]!.getMultiaddrs()[0]!.toString()]))
  const nodes: AccountingNode[] = []
  const stopped = new Set<number>()
  t.teardown(async () => {
    for (let i = 0; i < 4; i++) if (!stopped.has(i)) await nodes[i]?.stop()
    for (const l of libp2ps) await l.stop()
    await rm(dir, { recursive: true, force: true })
  })
  for (let i = 0; i < 4; i++) {
    nodes.push(await AccountingNode.start({
      identity: replicas[i]!,
      members: replicas.map((r) => r.id),
      genesis: GENESIS,
      dir: join(dir, `n${i}`),
      transport: await libp2pPbftTransport({ libp2p: libp2ps[i]!, self: replicas[i]!.id, peers }),
      registry: new DoctorRegistry({ members: [replicas[0]!.id], threshold: 1 }, [encodeIdentityRecord(buildIdentityRecord(doctor, 1))]),
      userchain: { iotTx: async (h) => (causes.has(toHex(h)) ? { user: user.id, epoch: 1 } : null), epochReaders: async () => ({ envelopes: [doctor.id] }) },
      payments: { paid: async () => Infinity, price: 1 },
      replica: { batchDelayMs: 5, requestTimeoutMs: 1500, viewChangeTimeoutMs: 1500, statusEveryMs: 300 },
      tickMs: 10
    }))
  }
  const receipts: Array<Promise<DiagReceipt>> = []
  const submitBatch = async (count: number, to: number[]): Promise<void> => {
    const batch: Array<Promise<DiagReceipt>> = []
    for (let i = 0; i < count; i++) batch.push(nodes[to[i % to.length]!]!.submit(diag()))
    receipts.push(...batch)
    await Promise.all(batch)
  }
  await submitBatch(TXS / 2, [0, 1, 2, 3])
  const leaderHex = toHex(nodes[0]!.leader)
  const leader = replicas.findIndex((r) => toHex(r.id) === leaderHex)
  t.ok(leader >= 0, `leader is replica ${leader}`)
  await nodes[leader]!.stop()
  await libp2ps[leader]!.stop()
  stopped.add(leader)
  const honest = [0, 1, 2, 3].filter((i) => i !== leader)
  await submitBatch(TXS / 2, honest)
  const all = await Promise.all(receipts)
  const failed = all.filter((r) => !r.ok)
  t.equal(failed.length, 0, `every tx_diag committed (${all.length}); failures: ${failed.slice(0, 3).map((r) => (r.ok ? '' : r.reason)).join('; ')}`)
  t.ok(honest.every((i) => nodes[i]!.view > 0), 'the honest nodes moved to a new view')
  // wait for the honest nodes to reach the same height, then compare every Dblock
  const deadline = Date.now() + 30_000
  while (new Set(honest.map((i) => nodes[i]!.height)).size > 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
  const height = nodes[honest[0]!]!.height
  t.same(honest.map((i) => nodes[i]!.height), honest.map(() => height), `all honest nodes at height ${height}`)
  const members = replicas.map((r) => r.id)
  let txCount = 0
  for (let h = 1; h <= height; h++) {
    const blocks = await Promise.all(honest.map(async (i) => await nodes[i]!.block(h)))
    const hashes = new Set(blocks.map((b) => toHex(dblockHash(b!.header))))
    if (hashes.size !== 1) { t.fail(`Dblock ${h} differs between honest nodes`); break }
    verifyCertificate(blocks[0]!, members)
    txCount += blocks[0]!.txs.length
  }
  t.equal(txCount, TXS, 'identical Docchains holding every tx_diag once, each block certified by 2f+1')
})
