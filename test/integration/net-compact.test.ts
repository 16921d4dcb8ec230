/**
 * Compact block relay on loopback (BIP 152 for Ublocks; paper §IV-B2):
 * three core nodes in a line a — b — c, real libp2p, LevelDB and signature
 * checks. A block whose transactions the peers hold is rebuilt from their
 * mempools; one whose transactions they never saw (cold) is completed by a
 * blocktxn round; b forwards what it accepted and c asks b for what it
 * lacks. Every peer stores the block byte for byte as mined.
 */
import t from 'tap'
import { bodyTx, toHex } from '../../hub/src/core/index.ts'
import { alice, inBothMempools } from '../helpers/compact.ts'
import { makeBlock } from '../helpers/userchain.ts'
import { aliceIot, aliceKey, meshed, mine, startPeer, until, type Peer } from './net-helpers.ts'
import { who } from '../helpers/core.ts'

async function storedEverywhere (peers: readonly Peer[], hex: string): Promise<string[]> {
  await until(`block ${hex.slice(0, 8)} everywhere`, () => peers.every((p) => p.node.store.tip.hex === hex))
  return await Promise.all(peers.map(async (p) => toHex((await p.node.store.getBlockBytes(Buffer.from(hex, 'hex')))!)))
}

t.test('a compactly relayed block is byte-identical to the full block, warm and cold, over two hops', async (t) => {
  const a = await startPeer(t, 'a')
  const b = await startPeer(t, 'b', { bootstrap: [a.addr] })
  const c = await startPeer(t, 'c', { bootstrap: [b.addr] })
  await meshed([a, b, c], 1)
  await a.node.submitTx(aliceKey(alice, who('doctor')))
  await mine(a)
  await until('c follows', () => c.node.store.tip.hex === a.node.store.tip.hex)
  t.equal(a.cnet.gossip.stats.ublock.accepted + b.cnet.gossip.stats.ublock.accepted + c.cnet.gossip.stats.ublock.accepted, 0, 'no block went whole over gossip')

  // Warm: 40 txs in every mempool, then a mines them.
  const txs = await inBothMempools(a, b, 40, 0)
  await until('txs reach c', () => txs.every((x) => c.node.mempool.has(x.id)))
  const before = { b: { ...b.cnet.compact.stats }, c: { ...c.cnet.compact.stats } }
  await mine(a)
  const warm = a.node.store.tip.hex
  const copies = await storedEverywhere([b, c], warm)
  const mined = toHex((await a.node.store.getBlockBytes(Buffer.from(warm, 'hex')))!)
  t.same(copies, [mined, mined], 'b and c store the block as mined')
  t.equal(b.cnet.compact.stats.rebuilt, before.b.rebuilt + 1, 'b rebuilt it from its mempool')
  t.equal(c.cnet.compact.stats.rebuilt, before.c.rebuilt + 1, 'c rebuilt what b forwarded')
  t.equal(b.cnet.compact.stats.txsFetched + c.cnet.compact.stats.txsFetched, 0, 'nothing fetched')
  t.equal(b.node.mempool.size + c.node.mempool.size, 0, 'mempools emptied by the block')

  // Cold: a block of txs no mempool ever held.
  const fresh = Array.from({ length: 25 }, (_, i) => aliceIot(alice, 500 + i))
  const block = makeBlock(a.node.store, a.node.store.tip, { miner: who('miner-a').id, txs: fresh })
  const r = await a.node.submitBlock(block)
  t.ok(r.accepted)
  const cold = a.node.store.tip.hex
  const coldCopies = await storedEverywhere([b, c], cold)
  const coldMined = toHex((await a.node.store.getBlockBytes(Buffer.from(cold, 'hex')))!)
  t.same(coldCopies, [coldMined, coldMined], 'cold peers store it as mined')
  t.equal(b.cnet.compact.stats.txsFetched, 25, 'b asked a for the 25 it lacked')
  t.equal(c.cnet.compact.stats.txsFetched, 25, 'c asked b for them')
  t.equal(b.cnet.compact.stats.fullFetches + c.cnet.compact.stats.fullFetches, 0, 'no whole-block fallback')
  t.ok(fresh.every((x) => !b.node.mempool.has(bodyTx(x).id)), 'the fetched txs did not linger in a mempool')
})
