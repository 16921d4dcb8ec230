/**
 * Gossip validation and peer penalties (issue #6; paper §IV-B2: receivers
 * verify before passing on; DESIGN §6). A real core node faces an evil
 * libp2p peer that publishes undecodable and invalid transactions and
 * blocks: each is rejected (not stored, not forwarded) and costs the peer in
 * gossipsub's score and ours, until it is banned and refused. Oversize data
 * is refused from its length prefix: gossip frames and request frames alike,
 * without the body ever being sent.
 */
import t from 'tap'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { lpStream } from '@libp2p/utils'
import {
  bodyTx, encodeUblock, meetsTarget, ublockHash, Writer, type Ublock
} from '../../hub/src/core/index.ts'
import { createNetNode, type NetNode } from '../../hub/src/net/node.ts'
import { protocolsFor } from '../../hub/src/net/protocols.ts'
import { MAX_UBLOCK_MESSAGE } from '../../hub/src/net/topics.ts'
import { makeBlock } from '../helpers/userchain.ts'
import { who } from '../helpers/core.ts'
import { aliceIot, aliceKey, startPeer, txHex, until, NETTEST } from './net-helpers.ts'

const alice = who('alice')
const doctor = who('doctor')

async function evil (t: { teardown: (fn: () => Promise<void>) => void }, target: string): Promise<NetNode> {
  const e = await createNetNode({ network: NETTEST.name, gossip: { maxInboundDataLength: 8 * 1024 * 1024 } })
  t.teardown(async () => { await e.stop() })
  e.pubsub.subscribe(e.topics.tx)
  e.pubsub.subscribe(e.topics.ublock)
  await e.connect(target)
  return e
}

t.test('invalid txs and blocks are rejected, their sender penalised, then banned', async (t) => {
  const a = await startPeer(t, 'a')
  await a.miner.mineOnce()
  const e = await evil(t, a.addr)
  const eid = e.peerId.toString()
  await until('evil peer in the mesh', () => a.net.pubsub.getSubscribers(a.net.topics.tx).some((p) => p.equals(e.peerId)) && e.pubsub.getSubscribers(e.topics.tx).length > 0)
  const stats = a.cnet.gossip.stats
  const height = a.node.store.height

  // A valid tx is accepted from the same peer: the validator is not a blanket refusal.
  const key = bodyTx(aliceKey(alice, doctor))
  await e.pubsub.publish(e.topics.tx, key.bytes)
  await until('valid tx accepted', () => a.node.mempool.has(key.id))
  t.equal(stats.tx.accepted, 1)

  // 1. undecodable bytes on the tx topic
  await e.pubsub.publish(e.topics.tx, Uint8Array.from({ length: 60 }, (_, i) => i * 7))
  await until('garbage rejected', () => stats.tx.rejected === 1)
  t.equal(a.net.peers.score(eid), -25, 'garbage tx costs 25 points')
  await until('gossipsub score negative', () => a.net.gossipScore(eid) < 0)
  t.ok(a.net.gossipScore(eid) < 0, `gossipsub P4 + P5 score ${a.net.gossipScore(eid).toFixed(1)}`)

  // 2. a tx whose signature does not verify
  const iot = bodyTx(aliceIot(alice, 1))
  const forged = iot.bytes.slice()
  forged[forged.length - 5]! ^= 0x01
  await e.pubsub.publish(e.topics.tx, forged)
  await until('bad signature rejected', () => stats.tx.rejected === 2)
  t.notOk(a.node.mempool.has(txHex(aliceIot(alice, 1))), 'forged tx not in the mempool')
  t.equal(a.node.mempool.size, 1)

  // 3. a block whose Merkle root does not match its transactions
  const good = makeBlock(a.node.store, a.node.store.tip, { miner: alice.id })
  const badRoot: Ublock = { header: { ...good.header, userroot: new Uint8Array(32).fill(7) }, txs: good.txs }
  await e.pubsub.publish(e.topics.ublock, encodeUblock(badRoot))
  await until('bad Merkle root rejected', () => stats.ublock.rejected === 1)
  t.equal(a.net.peers.score(eid), -75, 'three invalid messages cost 25 points each')
  t.notOk(a.net.peers.isBanned(eid))

  // 4. a block whose header misses its target: it cost its sender nothing to make, so it bans at once
  let block: Ublock = makeBlock(a.node.store, a.node.store.tip, { miner: alice.id })
  let nonce = 0
  while (meetsTarget(ublockHash({ ...block.header, nonce }), block.header.bits)) nonce++
  block = { header: { ...block.header, nonce }, txs: block.txs }
  await e.pubsub.publish(e.topics.ublock, encodeUblock(block))
  await until('bad PoW rejected', () => stats.ublock.rejected === 2)
  t.equal(a.node.store.height, height, 'no invalid block stored')
  t.equal(a.node.store.entry(ublockHash(block.header)), undefined)
  t.same(a.net.peers.penalties(eid).map((p) => p.reason.split(':')[0]), ['invalid tx', 'invalid tx', 'invalid ublock', 'invalid ublock'])

  t.ok(a.net.peers.isBanned(eid), `banned at score ${a.net.peers.score(eid)}`)
  await until('evil peer disconnected', () => a.net.libp2p.getConnections().every((c) => !c.remotePeer.equals(e.peerId)))
  await e.connect(a.addr, 5000).catch(() => {})
  await until('a banned peer cannot stay connected', () => e.libp2p.getConnections().every((c) => !c.remotePeer.equals(a.net.peerId) || c.status !== 'open'))
  t.ok(a.net.peers.refuses(eid), 'the gater refuses it')

  // The node keeps working with an honest peer.
  const b = await startPeer(t, 'b', { bootstrap: [a.addr] })
  await until('honest peer meshed', () => b.net.pubsub.getSubscribers(b.net.topics.tx).length > 0)
  const key2 = aliceKey(alice, doctor, 2)
  t.ok((await b.node.submitTx(key2)).accepted)
  await until('honest tx reaches a', () => a.node.mempool.has(txHex(key2)))
})

t.test('oversize messages are dropped without allocating them whole', async (t) => {
  const a = await startPeer(t, 'a')
  const stats = a.cnet.gossip.stats

  // A message over the topic limit (but within the frame limit) is rejected before it is decoded.
  const e = await evil(t, a.addr)
  await until('evil peer in the mesh', () => a.net.pubsub.getSubscribers(a.net.topics.ublock).some((p) => p.equals(e.peerId)) && e.pubsub.getSubscribers(e.topics.ublock).length > 0)
  await e.pubsub.publish(e.topics.ublock, new Uint8Array(MAX_UBLOCK_MESSAGE + 1))
  await until('oversize block message rejected', () => stats.ublock.oversize === 1)
  t.equal(stats.ublock.rejected, 1)
  t.ok(a.net.peers.score(e.peerId.toString()) < 0, 'and penalised')

  // A gossipsub frame over MAX_GOSSIP_RPC_BYTES: only its length prefix is ever sent.
  const raw = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] }, transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()], services: { identify: identify() }
  })
  t.teardown(async () => { await raw.stop() })
  await raw.handle('/meshsub/1.1.0', () => {}) // looks like a gossipsub peer, so A takes it as one
  await raw.dial(a.net.addrs()[0]!)
  await until('raw peer known to gossipsub', () => a.net.pubsub.getPeers().some((p) => p.equals(raw.peerId)))
  const s = await raw.dialProtocol(a.net.peerId, '/meshsub/1.1.0')
  s.send(new Writer(8).varint('len', 64 * 1024 * 1024).finish())
  await until('gossipsub drops the peer from its length prefix alone', () => !a.net.pubsub.getPeers().some((p) => p.equals(raw.peerId)))
  t.pass('a 64 MiB frame was refused after 4 bytes')

  // A request frame over the protocol's limit: answered TOO_LARGE, the body never sent.
  const spec = protocolsFor(NETTEST.name).headers
  const r = await raw.dialProtocol(a.net.peerId, spec.id)
  const lp = lpStream(r)
  r.send(new Writer(8).varint('len', 50 * 1024 * 1024).finish())
  const answer = (await lp.read({ signal: AbortSignal.timeout(10_000) })).subarray()
  t.equal(answer[0], 3, 'status TOO_LARGE')
  t.match(new TextDecoder().decode(answer.subarray(3)), /at most \d+ bytes/)
  t.ok(a.net.peers.score(raw.peerId.toString()) < 0, 'the sender is penalised')
})
