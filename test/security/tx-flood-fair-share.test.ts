/**
 * Attack tx-flood-fair-share (DESIGN §6; paper §III-B: a network attacker may
 * flood a node): a core node validated what its peers relayed first come,
 * first served, so a peer that sent hundreds of transactions — valid ones
 * that each cost a signature check, or ones refused by policy — made every
 * other peer's transaction wait behind all of them. Now relayed transactions
 * wait in a bounded queue per peer, served in rounds by deficit round robin
 * (net/fair-queue.ts). On a real core node (LevelDB, signature workers):
 * - one peer relays 400 tx_IoT, then ten other peers one each, all before
 *   the node answers any: the ten are validated in the first round and no
 *   more of the flood is answered before the last of them than the
 *   flooder's share of that round (first come, first served answered all
 *   400 first);
 * - one peer relays 1,500 at once: what exceeds its queue is dropped unread
 *   (no signature checked), refused with ERR_NET_QUEUE_FULL and counted,
 *   and another peer's transaction is still admitted.
 * Ordering and counts only, never time.
 */
import t, { type Test } from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildTxIoT, buildTxKey, DEVNET, encodeTx, sha256, utf8Bytes, type Identity } from '../../hub/src/core/index.ts'
import { CoreNode, type TxOutcome } from '../../hub/src/roles/core/node.ts'
import { who } from '../helpers/core.ts'
import { mine } from '../helpers/doctor-world.ts'

const h = (s: string): Uint8Array => sha256(utf8Bytes(s))

async function node (t: Test, name: string): Promise<{ core: CoreNode, users: Identity[], ts: number }> {
  const dir = await mkdtemp(join(tmpdir(), `${name}-`))
  const core = await CoreNode.open({ dir, params: DEVNET, verifyThreads: 2, relay: { iotPerWindow: 2_000 } })
  t.teardown(async () => { await core.close(); await rm(dir, { recursive: true, force: true }) })
  const ts = core.now() - 5
  const users = Array.from({ length: 11 }, (_, i) => who(`${name}-user-${i}`))
  for (const [i, u] of users.entries()) {
    const r = await core.submitTx(buildTxKey(u, { ts, epoch: 1, ik: h(`ik-${name}-${i}`), epochSecret: h(`s-${name}-${i}`), doctors: [], ikmE: h(`e-${name}-${i}`) }))
    if (!r.accepted) throw new Error(r.reason)
  }
  await mine(core, who(`${name}-miner`).id)
  return { core, users, ts }
}

t.test('tx-flood-fair-share: one peer\'s flood does not hold up another peer\'s tx beyond the flooder\'s share of a round', async (t) => {
  const { core, users, ts } = await node(t, 'fair-share')
  const [flooderUser, ...others] = users as [Identity, ...Identity[]]
  const flood = Array.from({ length: 400 }, (_, i) => encodeTx(buildTxIoT(flooderUser, { ts, heiot: h(`flood-${i}`), epoch: 1 })))
  const honest = others.map((u, i) => encodeTx(buildTxIoT(u, { ts, heiot: h(`honest-${i}`), epoch: 1 })))
  const answered: Array<'flood' | 'honest'> = []
  const sigsBefore = core.pool.requested
  const floodDone = Promise.all(flood.map(async (b) => { const r = await core.submitTx(b, 'flooder-peer'); answered.push('flood'); return r }))
  let honestRound = 0
  const honestDone = Promise.all(honest.map(async (b, i) => {
    const r = await core.submitTx(b, `honest-peer-${i}`)
    answered.push('honest')
    honestRound = Math.max(honestRound, core.admission.stats().rounds)
    return r
  }))
  const h10 = await honestDone
  t.ok(h10.every((r) => r.accepted), 'every honest peer\'s tx is admitted')
  t.equal(honestRound, 1, 'all ten validated in the first round')
  // 11 peers waiting: each gets roundBytes / 11 of the first round; a 140-byte tx_IoT costs minCost
  const share = Math.floor(core.admission.quantum(11) / core.admission.minCost)
  const lastHonest = answered.lastIndexOf('honest')
  const floodFirst = answered.slice(0, lastHonest).filter((x) => x === 'flood').length
  t.ok(floodFirst <= share, `${floodFirst} flood txs answered before the last honest one (the flooder's share of a round: ${share}; first come, first served: 400)`)
  const f = await floodDone
  t.equal(f.filter((r) => r.accepted).length, 400, 'the flood, valid and within its quota, is admitted after')
  t.equal(core.pool.requested - sigsBefore, 410, 'each signature checked once')
})

t.test('tx-flood-fair-share: what overflows a peer\'s queue is dropped unread and counted; another peer is still served', async (t) => {
  const { core, users, ts } = await node(t, 'fair-overflow')
  const flood = Array.from({ length: 1_500 }, (_, i) => encodeTx(buildTxIoT(users[0]!, { ts, heiot: h(`overflow-${i}`), epoch: 1 })))
  const sigsBefore = core.pool.requested
  const floodDone = Promise.all(flood.map(async (b) => await core.submitTx(b, 'flooder-peer')))
  const other = await core.submitTx(encodeTx(buildTxIoT(users[1]!, { ts, heiot: h('overflow-honest'), epoch: 1 })), 'honest-peer')
  t.ok(other.accepted, 'the other peer\'s tx is admitted')
  const f: TxOutcome[] = await floodDone
  const cap = core.admission.maxItemsPerPeer
  const dropped = f.filter((r) => !r.accepted && r.code === 'ERR_NET_QUEUE_FULL')
  t.equal(dropped.length, 1_500 - cap, `all beyond the ${cap} a peer may have waiting are dropped`)
  t.match(dropped[0], { reason: /more than 1024 messages waiting/ }, 'with the reason')
  t.equal(f.filter((r) => r.accepted).length, cap, 'what was queued is admitted')
  t.equal(core.rejected.ERR_NET_QUEUE_FULL, 1_500 - cap, 'and counted by code')
  t.equal(core.pool.requested - sigsBefore, cap + 1, 'no signature of a dropped tx was checked')
  t.equal(core.admission.stats().dropped, 1_500 - cap, 'the queue counts them too')
})
