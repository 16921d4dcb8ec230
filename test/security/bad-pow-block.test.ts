/**
 * Attack bad-pow-block (paper §IV-B3; DESIGN §6: "header, size and PoW are
 * checked before any signature work"): a peer gossips Ublocks of 1 MiB —
 * about 7,000 signed transactions each — whose headers carry no valid proof
 * of work. A received Ublock used to start its ~7,000 signature checks
 * before its header and PoW were looked at, and an invalid one cost its
 * sender a quarter of a ban. Real nodes on loopback (a core node with its
 * libp2p gossip, and the attacker's own libp2p node): 100 such blocks from
 * one peer, and not one signature is checked (the core node's signature
 * pool counts what it is asked to verify) and the peer is banned and hung
 * up at the first; the same block with a valid proof of work does cost
 * signature checks (the count is not blind). The CPU cost of a rejection is
 * measured by `npm run bench -- hardening` (invalid_pow_reject_ms).
 */
import t from 'tap'
import { encodeUblock, solveUblockHeader } from '../../hub/src/core/index.ts'
import { bigBlock, withoutPow } from '../helpers/big-block.ts'
import { createNetNode } from '../../hub/src/net/node.ts'
import { NETTEST, NOW, startPeer, until } from '../integration/net-helpers.ts'

t.test('bad-pow-block: 100 blocks of 1 MiB without proof of work from one peer — no signature checked, the peer banned', async (t) => {
  const victim = await startPeer(t, 'bad-pow-victim')
  await victim.miner.mineOnce()
  const attacker = await createNetNode({ network: NETTEST.name })
  t.teardown(async () => { await attacker.stop() })
  attacker.pubsub.subscribe(attacker.topics.ublock)
  await attacker.connect(victim.addr)
  const aid = attacker.peerId.toString()
  await until('the attacker in the victim\'s ublock mesh', () => victim.net.pubsub.getSubscribers(victim.net.topics.ublock).some((p) => p.equals(attacker.peerId)) && attacker.pubsub.getSubscribers(attacker.topics.ublock).length > 0)

  const tip = victim.node.store.tip
  const template = bigBlock(tip, victim.node.store.nextBitsAfter(tip), 'attack')
  const blocks = Array.from({ length: 100 }, (_, i) => encodeUblock(withoutPow({ ...template, header: { ...template.header, gtime: NOW - i } })))
  t.ok(blocks.every((b) => b.length > 1_000_000 && b.length <= 1_048_576 + 89), `each block is ~1 MiB (${blocks[0]!.length} bytes, ${template.txs.length} signed txs)`)
  const stats = victim.cnet.gossip.stats.ublock
  const checkedBefore = victim.node.pool.requested
  let sent = 0
  // One after another (a gossipsub stream drops what overflows its buffer: 100 MiB at once would not even arrive).
  for (const b of blocks) {
    try { await attacker.pubsub.publish(attacker.topics.ublock, b); sent++ } catch { /* hung up: nobody left to send to */ }
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  await until('the attacker banned', () => victim.net.peers.isBanned(aid), 60_000)
  await until('the attacker hung up', () => victim.net.libp2p.getConnections().every((c) => !c.remotePeer.equals(attacker.peerId)))
  t.equal(victim.node.pool.requested - checkedBefore, 0, `not one signature was checked (${stats.rejected} blocks rejected of ${sent} sent)`)
  t.ok(stats.rejected >= 1, 'the first block was rejected…')
  t.match(victim.net.peers.penalties(aid)[0]?.reason ?? '', /invalid ublock: .*(above the target|easier than)/, '…for its proof of work')
  t.ok(victim.net.peers.score(aid) <= victim.net.peers.banScore, `one block without proof of work bans its sender (score ${victim.net.peers.score(aid)})`)
  t.equal(victim.node.rejected.ERR_POW, stats.rejected - stats.banned, 'every block that reached the chain was refused for its PoW (the rest dropped unread)')
  t.ok(victim.net.peers.refuses(aid), 'and the gater refuses it')
  await attacker.connect(victim.addr, 5000).catch(() => {})
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.ok(victim.net.libp2p.getConnections().every((c) => !c.remotePeer.equals(attacker.peerId)), 'a redial does not get a connection')

  // The count is not blind: the same transactions under a solved header do cost signature checks.
  const solved = solveUblockHeader({ ...template.header, gtime: NOW + 60 }, 50_000_000)
  t.ok(solved !== null, 'solved on the testnet target')
  const r = await victim.node.submitBlock(encodeUblock({ ...template, header: solved! }))
  t.comment(`the solved block: ${JSON.stringify(r.accepted ? r.status : r.reason)}`)
  t.ok(victim.node.pool.requested - checkedBefore >= template.txs.length - 1, `a block with valid PoW has its ${template.txs.length - 1} signatures checked (${victim.node.pool.requested - checkedBefore})`)
})
