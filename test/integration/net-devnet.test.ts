/**
 * Issue #6 acceptance on loopback (paper §IV-B2, §III-A): 3 core user nodes
 * mining + 1 light user node, real libp2p (TCP, Noise, Yamux, gossipsub),
 * real LevelDB chain stores and real miners.
 *  - txs published on any node (the light node too) reach every mempool;
 *  - every core node converges on the same tip, also after all three mined at once;
 *  - the light node follows the headers and verifies its own txs' proofs;
 *  - a node started after 50 blocks syncs to the tip (headers first, bodies from several peers, with progress);
 *  - a partitioned pair that mined its own branch reorgs to the heavier branch after healing.
 */
import t from 'tap'
import { toHex } from '../../hub/src/core/index.ts'
import { LightNode } from '../../hub/src/roles/light/light-node.ts'
import type { SyncProgress } from '../../hub/src/net/sync.ts'
import { who } from '../helpers/core.ts'
import { aliceIot, aliceKey, meshed, mine, NETTEST, NOW, startPeer, txHex, until, type Peer } from './net-helpers.ts'

const alice = who('alice')
const doctor = who('doctor')

function sameTip (peers: readonly Peer[]): boolean {
  return peers.every((p) => p.node.store.tip.hex === peers[0]!.node.store.tip.hex)
}

t.test('3 mining core nodes + 1 light node on loopback', async (t) => {
  const a = await startPeer(t, 'a')
  const b = await startPeer(t, 'b', { bootstrap: [a.addr] })
  const c = await startPeer(t, 'c', { bootstrap: [a.addr, b.addr] })
  const cores = [a, b, c]
  for (const p of cores) p.cnet.sync.on('error', (err: Error, peer: string) => { if (process.env.NET_DEBUG !== undefined) console.error(`${p.name} sync with ${peer.slice(-6)}: ${err.message}`) })
  const light = await LightNode.start({ params: NETTEST, user: alice.id, now: () => NOW, bootstrap: [a.addr, b.addr], redialMs: 0 })
  t.teardown(async () => { await light.stop() })
  await meshed(cores)
  await until('light node connected', () => light.corePeers().length === 2)

  // Round-robin mining: each block reaches the others by gossip.
  for (const p of [a, b, c, a, b, c]) {
    await mine(p)
    await until(`tip of ${p.name} everywhere`, () => sameTip(cores))
  }
  t.equal(a.node.store.height, 6, 'six blocks, mined by three nodes, on every node')

  // All three at once: forks happen; once they stop and one more block breaks ties, all converge.
  for (const p of cores) p.miner.start()
  await until('some concurrent blocks', () => cores.every((p) => p.node.store.height >= 12), 30_000)
  await Promise.all(cores.map(async (p) => { await p.miner.stop() }))
  // Nakamoto convergence: the next block, mined on the heaviest tip, outweighs every rival branch.
  for (let round = 0; round < 10 && !sameTip(cores); round++) {
    const heaviest = cores.reduce((x, y) => (y.node.store.tip.work > x.node.store.tip.work ? y : x))
    await mine(heaviest)
    await until('convergence after concurrent mining', () => sameTip(cores), 5000).catch(() => {})
  }
  t.ok(sameTip(cores), 'all three on one tip')
  t.pass(`converged at height ${a.node.store.height} on ${a.node.store.tip.hex.slice(0, 12)} after concurrent mining`)

  // Transactions published on every node, the light node included, reach every mempool.
  const key = aliceKey(alice, doctor)
  await light.publishTx(key)
  await until('tx_key from the light node in every mempool', () => cores.every((p) => p.node.mempool.has(txHex(key))))
  const iots = [aliceIot(alice, 1), aliceIot(alice, 2), aliceIot(alice, 3)]
  for (const [i, p] of cores.entries()) t.ok((await p.node.submitTx(iots[i]!)).accepted, `tx_IoT submitted on ${p.name}`)
  const all = [key, ...iots].map(txHex)
  await until('every tx in every mempool', () => cores.every((p) => all.every((id) => p.node.mempool.has(id))))
  t.pass('4 txs published on 4 different nodes are in all 3 mempools')

  await mine(c)
  await until('block with the txs everywhere', () => sameTip(cores) && cores.every((p) => p.node.mempool.size === 0))
  for (const id of all) t.ok(a.node.store.txLocation(Buffer.from(id, 'hex')) !== undefined, `${id.slice(0, 8)} confirmed`)

  // The light node: headers only, then its own txs with proofs from both core peers.
  await light.syncHeaders()
  t.equal(light.headers.tip.hex, a.node.store.tip.hex, 'light node header tip = core tip')
  const { reports, liars } = await light.checkPeers()
  t.equal(liars.length, 0, 'honest core nodes')
  t.equal(reports.length, 2)
  t.same(new Set(reports[0]!.txs.map((x) => toHex(x.proven.tx.id))), new Set(all), 'every tx of alice proven against the light header chain')

  // Mine up to 50+ blocks, then start a late node: it syncs headers first, then bodies from several peers.
  while (a.node.store.height < 55) {
    await mine(cores[a.node.store.height % 3]!)
    await until('each block everywhere', () => sameTip(cores))
  }
  await until('tip everywhere before the late node', () => sameTip(cores), 30_000)
  const d = await startPeer(t, 'd', { bootstrap: [a.addr, b.addr, c.addr] })
  d.cnet.sync.on('error', (err: Error, peer: string) => { if (process.env.NET_DEBUG !== undefined) console.error(`d sync with ${peer.slice(-6)}: ${err.message}`) })
  const progress: SyncProgress[] = []
  d.cnet.sync.on('progress', (p: SyncProgress) => { progress.push(p) })
  await until('late node at the tip', () => d.node.store.tip.hex === a.node.store.tip.hex, 40_000)
  t.ok(d.cnet.sync.blocksFetched >= 50, `late node fetched ${d.cnet.sync.blocksFetched} blocks (${d.cnet.sync.bytesFetched} bytes)`)
  t.ok(progress.length >= 50 && progress.at(-1)!.height === a.node.store.height, `progress reported up to ${progress.at(-1)?.height}/${progress.at(-1)?.target}`)
  t.ok(d.cnet.sync.servedBy.size >= 2, `bodies came from ${d.cnet.sync.servedBy.size} peers: ${[...d.cnet.sync.servedBy.values()].join(', ')} blocks`)
  t.ok(progress.every((p, i) => i === 0 || p.blocks > progress[i - 1]!.blocks), 'progress is monotonic')
  t.same(await d.node.store.audit(), [], 'late node store consistent')
  const all4 = [...cores, d]
  await meshed(all4)

  // Partition {c, d} from {a, b}; each side mines; the lighter side reorgs after healing.
  for (const x of [c, d]) for (const y of [a, b]) { await x.net.block(y.net.peerId); await y.net.block(x.net.peerId) }
  await until('partitioned', () => [c, d].every((x) => x.net.libp2p.getConnections().every((conn) => ![a, b].some((y) => y.net.peerId.equals(conn.remotePeer)))))
  const fork = a.node.store.height
  const stray = aliceIot(alice, 4)
  t.ok((await c.node.submitTx(stray)).accepted, 'a tx only the {c, d} side sees')
  for (const p of [c, d]) {
    await mine(p)
    await until('{c, d} agree on their branch', () => sameTip([c, d]))
  }
  t.equal(d.node.store.height, fork + 2, 'the pair mined 2 blocks of its own')
  const strayBlock = c.node.store.hashAt(fork + 1)!
  t.ok(c.node.store.txLocation(Buffer.from(txHex(stray), 'hex')) !== undefined, 'the stray tx is confirmed on the minority branch')
  for (const p of [a, b, a, b]) {
    await mine(p)
    await until('{a, b} agree on their branch', () => sameTip([a, b]))
  }
  t.equal(a.node.store.height, fork + 4, '{a, b} mined 4 blocks meanwhile')
  for (const x of [c, d]) for (const y of [a, b]) { x.net.unblock(y.net.peerId); y.net.unblock(x.net.peerId) }
  await c.net.connect(a.addr)
  await d.net.connect(b.addr)
  await until('healed: all four on the heavier branch', () => sameTip(all4), 30_000)
  t.equal(c.node.store.height, fork + 4, 'the pair reorged to the 4-block branch')
  t.notOk(c.node.store.isOnMainChain(strayBlock), 'its own branch is off the best chain')
  t.ok(c.node.mempool.has(txHex(stray)), 'the stray tx went back to the mempool')
  for (const p of all4) t.same(await p.node.store.audit(), [], `${p.name} store consistent after the reorg`)

  // A node that was offline catches up on restart, with the same peer id and its own store.
  const dId = d.net.peerId.toString()
  const dHeight = d.node.store.height
  await d.close()
  for (let i = 0; i < 5; i++) {
    await mine(cores[i % 3]!)
    await until('each block everywhere', () => sameTip(cores))
  }
  const d2 = await startPeer(t, 'd', { dir: d.dir, bootstrap: [a.addr, b.addr, c.addr] })
  t.equal(d2.node.store.height, dHeight, 'restarted from its own store')
  t.equal(d2.net.peerId.toString(), dId, 'with the same peer id')
  await until('restarted node at the tip', () => d2.node.store.tip.hex === a.node.store.tip.hex)
  t.equal(d2.cnet.sync.blocksFetched, 5, 'fetching only the 5 blocks it missed')
})
