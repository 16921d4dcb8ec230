/**
 * Docchain from the real accounting daemons (paper §IV-B3; roles/accounting/
 * service.ts): four `healthchain accounting` processes on loopback commit
 * tx_diag; a reader that is no member catches up from them over docchain/1,
 * then gets the next Dblock from their gossip, every certificate verified
 * against the members and the registry of their config.
 */
import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildIdentityRecord, DEVNET, encodeIdentityRecord, toHex, type Dblock } from '../../hub/src/core/index.ts'
import { DoctorRegistry } from '../../hub/src/core/pbft/registry.ts'
import { createNetNode } from '../../hub/src/net/node.ts'
import { DocchainFollower } from '../../hub/src/roles/docchain/follower.ts'
import { Cluster, consortium, doctor } from '../helpers/accounting-cluster.ts'

t.setTimeout(180_000)

async function until (what: string, cond: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

t.test('a reader follows the Docchain of four accounting processes', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hc-docchain-proc-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const cluster = await Cluster.start({ dir, causes: 4 })
  t.teardown(async () => { await cluster.close() })
  const members = cluster.members.map((m) => m.id)
  const early = await cluster.submit(0, cluster.diags(5))
  t.equal(early.length, 5, 'five tx_diag committed before the reader starts')

  const reader = await createNetNode({ network: 'devnet' })
  t.teardown(async () => { await reader.stop() })
  const got: Dblock[] = []
  const follower = await DocchainFollower.open({
    net: reader,
    members,
    genesisTime: DEVNET.genesisTime,
    registry: new DoctorRegistry({ members: [consortium.id], threshold: 1 }, [encodeIdentityRecord(buildIdentityRecord(doctor, DEVNET.genesisTime))]),
    peers: cluster.addrs.map((a) => a!),
    dir: join(dir, 'reader'),
    onDblock: (b) => { got.push(b); return false },
    pollMs: 0
  })
  t.teardown(async () => { await follower.stop() })
  follower.start()
  await follower.catchUp()
  const seen = (): Set<string> => new Set(got.flatMap((b) => b.txs.map((x) => toHex(x.id))))
  t.ok(early.every((r) => seen().has(toHex(r.id))), `caught up to Dblock ${follower.height}: every committed tx_diag, certified`)

  await until('the members on the dblock topic', () => reader.pubsub.getSubscribers(reader.topics.dblock).length >= 1)
  const catchUps = follower.stats.catchUps
  const late = await cluster.submit(1, cluster.diags(1))
  await until('the next Dblock', () => seen().has(toHex(late[0]!.id)))
  t.pass('the next tx_diag reached the reader')
  t.equal(follower.stats.catchUps, catchUps, 'by gossip from the daemons')
  t.equal(follower.stats.refused, 0, 'no Dblock refused')
})
