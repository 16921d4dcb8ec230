/**
 * Docchain reaches readers over real libp2p on loopback (paper §IV-B3):
 * four accounting nodes, each with its own libp2p node and LevelDB, commit
 * tx_diag by PBFT and publish each Dblock (net/docchain.ts); a reader that
 * joins late catches up over docchain/1 from the members, then receives the
 * next Dblock by gossip — every certificate verified against the members.
 */
import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildIdentityRecord, buildTxDiag, encodeIdentityRecord, sha256, toHex, txId, utf8Bytes, verifyCertificate, type Dblock, type TxDiag } from '../../hub/src/core/index.ts'
import { DoctorRegistry } from '../../hub/src/core/pbft/registry.ts'
import { AccountingNode, type DiagReceipt } from '../../hub/src/roles/accounting/node.ts'
import { libp2pPbftTransport } from '../../hub/src/roles/accounting/libp2p-transport.ts'
import { docchainGenesis, publishDocchain } from '../../hub/src/net/docchain.ts'
import { createNetNode, type NetNode } from '../../hub/src/net/node.ts'
import { DocchainFollower } from '../../hub/src/roles/docchain/follower.ts'
import { ident } from '../fuzz/pbft-sim.ts'

const GTIME = 1_790_000_000
const replicas = [0, 1, 2, 3].map((i) => ident(`dc-p2p-replica-${i}`))
const members = replicas.map((r) => r.id)
const doctor = ident('dc-p2p-doctor')
const user = ident('dc-p2p-user')
const causes = new Set<string>()
let n = 0
function diag (): TxDiag {
  const cause = sha256(utf8Bytes(`dc-p2p-cause-${n}`))
  causes.add(toHex(cause))
  return buildTxDiag(doctor, { ts: GTIME + n++, causes: [cause], hedm: sha256(utf8Bytes(`dc-p2p-dm-${n}`)) })
}
const registry = (): DoctorRegistry => new DoctorRegistry({ members: [replicas[0]!.id], threshold: 1 }, [encodeIdentityRecord(buildIdentityRecord(doctor, 1))])

t.test('a late reader catches up from the members, then follows by gossip', { timeout: 100_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'docchain-p2p-'))
  const nets: NetNode[] = []
  const stops: Array<() => Promise<void>> = []
  t.teardown(async () => {
    for (const s of stops.reverse()) await s().catch(() => {})
    for (const x of nets) await x.stop()
    await rm(dir, { recursive: true, force: true })
  })
  for (let i = 0; i < 4; i++) nets.push(await createNetNode({ network: 'devnet' }))
  const peers = new Map(replicas.map((r, i) => [toHex(r.id), nets[i]!.addrs()[0]!.toString()]))
  const nodes: AccountingNode[] = []
  for (let i = 0; i < 4; i++) {
    const node = await AccountingNode.start({
      identity: replicas[i]!,
      members,
      genesis: docchainGenesis(GTIME),
      dir: join(dir, `n${i}`),
      transport: await libp2pPbftTransport({ libp2p: nets[i]!.libp2p, self: replicas[i]!.id, peers }),
      registry: registry(),
      userchain: { iotTx: async (h) => (causes.has(toHex(h)) ? { user: user.id } : null) },
      payments: { hasPaid: async () => true },
      replica: { batchDelayMs: 5, requestTimeoutMs: 1500, viewChangeTimeoutMs: 1500, statusEveryMs: 300 },
      tickMs: 10
    })
    stops.push(async () => { await node.stop() })
    const pub = await publishDocchain(nets[i]!, members, node)
    stops.push(pub.stop)
    node.onCommit = (b) => { pub.publish(b) }
    nodes.push(node)
  }

  // committed before the reader exists
  const early = await Promise.all([0, 1, 2].map(async (i) => await nodes[i]!.submit(diag())))
  t.ok(early.every((r) => r.ok), 'three tx_diag committed')
  const committed = (rs: DiagReceipt[]): string[] => rs.map((r) => (r.ok ? r.id : ''))

  const reader = await createNetNode({ network: 'devnet' })
  nets.push(reader)
  const got: Dblock[] = []
  const follower = await DocchainFollower.open({
    net: reader,
    members,
    genesisTime: GTIME,
    registry: registry(),
    peers: [...peers.values()],
    dir: join(dir, 'reader'),
    onDblock: (b) => { verifyCertificate(b, members); got.push(b); return false },
    pollMs: 0
  })
  stops.push(async () => { await follower.stop() })
  follower.start()
  const height = await follower.catchUp()
  t.ok(height >= 1 && height === Math.max(...nodes.map((x) => x.height)), `caught up to the members' height ${height}`)
  const seen = (): Set<string> => new Set(got.flatMap((b) => b.txs.map((x) => toHex(x.id))))
  t.ok(committed(early).every((id) => seen().has(id)), 'every early tx_diag reached the late reader, certified')

  // the next one arrives by gossip (no poll): wait until a member sees the reader on the topic
  const deadline = Date.now() + 20_000
  while (!nets.slice(0, 4).some((x) => x.pubsub.getSubscribers(x.topics.dblock).some((p) => p.equals(reader.peerId))) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  const catchUpsBefore = follower.stats.catchUps
  const late = await nodes[3]!.submit(diag())
  t.ok(late.ok, 'a fourth tx_diag committed')
  const id = late.ok ? late.id : ''
  while (!seen().has(id) && Date.now() < deadline + 20_000) await new Promise((r) => setTimeout(r, 50))
  t.ok(seen().has(id), 'it reached the reader')
  t.equal(follower.stats.catchUps, catchUpsBefore, 'by gossip, without a catch-up request')
  t.equal(follower.stats.refused, 0, 'no Dblock refused')
  t.equal(toHex(txId(got.at(-1)!.txs.at(-1)!.tx)), id, 'the last Dblock handed on holds it')
})
