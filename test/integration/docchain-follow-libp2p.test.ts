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
import { toHex, txId, verifyCertificate, type Dblock } from '../../hub/src/core/index.ts'
import { createNetNode } from '../../hub/src/net/node.ts'
import { DocchainFollower } from '../../hub/src/roles/docchain/follower.ts'
import { GTIME, startDocchainMembers } from '../helpers/docchain-members.ts'

t.test('a late reader catches up from the members, then follows by gossip', { timeout: 100_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'docchain-p2p-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const m = await startDocchainMembers(dir, 'dc-p2p')
  t.teardown(m.stop)

  // committed before the reader exists
  const early = await Promise.all([0, 1, 2].map(async (i) => await m.nodes[i]!.submit(m.diag())))
  t.ok(early.every((r) => r.ok), 'three tx_diag committed')

  const reader = await createNetNode({ network: 'devnet' })
  t.teardown(async () => { await reader.stop() })
  const got: Dblock[] = []
  const follower = await DocchainFollower.open({
    net: reader,
    members: m.ids,
    genesisTime: GTIME,
    registry: m.registry(),
    peers: m.addrs,
    dir: join(dir, 'reader'),
    onDblock: (b) => { verifyCertificate(b, m.ids); got.push(b); return false },
    pollMs: 0
  })
  t.teardown(async () => { await follower.stop() })
  follower.start()
  const height = await follower.catchUp()
  t.ok(height >= 1 && height === Math.max(...m.nodes.map((x) => x.height)), `caught up to the members' height ${height}`)
  const seen = (): Set<string> => new Set(got.flatMap((b) => b.txs.map((x) => toHex(x.id))))
  t.ok(early.every((r) => r.ok && seen().has(r.id)), 'every early tx_diag reached the late reader, certified')

  // the next one arrives by gossip (no poll): wait until a member sees the reader on the topic
  const deadline = Date.now() + 20_000
  while (!m.nets.some((x) => x.pubsub.getSubscribers(x.topics.dblock).some((p) => p.equals(reader.peerId))) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  const catchUpsBefore = follower.stats.catchUps
  const late = await m.nodes[3]!.submit(m.diag())
  t.ok(late.ok, 'a fourth tx_diag committed')
  const id = late.ok ? late.id : ''
  while (!seen().has(id) && Date.now() < deadline + 20_000) await new Promise((r) => setTimeout(r, 50))
  t.ok(seen().has(id), 'it reached the reader')
  t.equal(follower.stats.catchUps, catchUpsBefore, 'by gossip, without a catch-up request')
  t.equal(follower.stats.refused, 0, 'no Dblock refused')
  t.equal(toHex(txId(got.at(-1)!.txs.at(-1)!.tx)), id, 'the last Dblock handed on holds it')
})
