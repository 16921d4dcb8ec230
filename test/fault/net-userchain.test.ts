/**
 * Userchain under network faults on loopback (issue #15, "Network faults";
 * paper §IV-B3: nodes follow the chain with the most work). Three mining
 * core user nodes (real libp2p, LevelDB, miners — test/integration/
 * net-helpers.ts), every ordered pair linked through its own TCP proxy
 * (test/helpers/tcp-proxy.ts), each node allowed to dial only its links:
 *  1. {A} | {B, C}: both sides mine, A with a tx only it has seen; after
 *     healing (the bootstrap redial loop reconnects through the proxies)
 *     all three converge on the heavier {B, C} chain by tip hash, A's
 *     branch is off the best chain, its tx back in the mempools and mined
 *     by another node;
 *  2. slow links (40 ms ± 40 ms, 256 KB/s) and C restarted on its LevelDB
 *     directory and port while A and B mine: C catches up;
 *  3. C's links stall (bytes held, nothing reset) while A and B mine 2
 *     blocks and C 1, then flow again: C reorgs;
 *  4. all three mine at once over the slow links: converge.
 * Each step prints heights and the time to heal.
 */
import t from 'tap'
import { loadOrCreatePeerKey } from '../../hub/src/net/node.ts'
import { freePort } from '../integration/ingest-helpers.ts'
import { aliceIot, aliceKey, meshed, mine, startPeer, txHex, until, type Peer } from '../integration/net-helpers.ts'
import { who } from '../helpers/core.ts'
import { tempDir } from '../helpers/userchain.ts'
import { ProxyMesh } from '../helpers/tcp-proxy.ts'

const alice = who('alice')
const doctor = who('doctor')
const NAMES = ['a', 'b', 'c']

function sameTip (peers: readonly Peer[]): boolean {
  return peers.every((p) => p.node.store.tip.hex === peers[0]!.node.store.tip.hex)
}
function heights (peers: readonly Peer[]): string {
  return peers.map((p) => `${p.name}:${p.node.store.height}/${p.node.store.tip.hex.slice(0, 8)}`).join(' ')
}
function tcpPort (ma: { getComponents: () => Array<{ name: string, value?: string }> }): number {
  return Number(ma.getComponents().find((c) => c.name === 'tcp')?.value ?? -1)
}

t.test('three mining core nodes through partitions, slow links, stalls and a restart converge on the heaviest chain', async (t) => {
  const dirs = await Promise.all(NAMES.map(async (n) => await tempDir(t, `net-fault-${n}`)))
  const ids = await Promise.all(dirs.map(async (d) => (await loadOrCreatePeerKey(d)).publicKey.toString()))
  const ports = await Promise.all(NAMES.map(async () => await freePort()))
  const mesh = await ProxyMesh.start(ports, { delayMs: 2, jitterMs: 8, seed: 15 })
  t.teardown(async () => { await mesh.close() })

  const start = async (i: number): Promise<Peer> => {
    const links = mesh.ports(i)
    const p = await startPeer(t, NAMES[i]!, {
      dir: dirs[i]!,
      bootstrap: [0, 1, 2].filter((j) => j !== i).map((j) => mesh.addr(i, j, ids[j]!)),
      // each node reaches the others only through its proxies; they redial every 300 ms while away
      net: { listen: [`/ip4/127.0.0.1/tcp/${ports[i]!}`], redialMs: 300, denyDialMultiaddr: (ma) => !links.has(tcpPort(ma)) }
    })
    if (process.env.NET_DEBUG !== undefined) p.cnet.sync.on('error', (err: Error, peer: string) => { console.error(`${p.name} sync with ${peer.slice(-6)}: ${err.message}`) })
    return p
  }
  const peers: Peer[] = []
  for (let i = 0; i < 3; i++) peers.push(await start(i))
  const [a, b] = peers as [Peer, Peer, Peer]
  const all = (): Peer[] => peers
  const connectedTo = (p: Peer, q: Peer): boolean => p.net.libp2p.getConnections().some((c) => c.status === 'open' && c.remotePeer.equals(q.net.peerId))
  await meshed(all())
  for (const p of [a, b, peers[2]!]) {
    await mine(p)
    await until(`block of ${p.name} everywhere`, () => sameTip(all()))
  }
  t.equal(a.node.store.height, 3, `three blocks mined by three nodes over 2–10 ms links (${heights(all())})`)

  // 1. {A} | {B, C}
  mesh.partition([[0]])
  await until('A cut off', () => peers.slice(1).every((q) => !connectedTo(a, q) && !connectedTo(q, a)))
  const fork = a.node.store.height
  const stray = aliceKey(alice, doctor)
  t.ok((await a.node.submitTx(stray)).accepted, 'a tx only A sees')
  for (const _ of [1, 2]) await mine(a)
  t.ok(a.node.store.txLocation(Buffer.from(txHex(stray), 'hex')) !== undefined, 'A confirmed it on its own branch')
  const strayBlock = a.node.store.hashAt(fork + 1)!
  const majority = peers.slice(1)
  for (const p of [peers[1]!, peers[2]!, peers[1]!, peers[2]!]) {
    await mine(p)
    await until('{B, C} agree', () => sameTip(majority))
  }
  t.equal(a.node.store.height, fork + 2, 'A alone mined 2 blocks')
  t.equal(b.node.store.height, fork + 4, '{B, C} mined 4 blocks')
  t.ok(peers.every((p) => peers.every((q) => p === q || a === p || a === q || connectedTo(p, q))), 'B and C stayed connected')
  t.pass(`partitioned: ${heights(all())}`)
  let t0 = Date.now()
  mesh.heal()
  await until('healed: one tip', () => sameTip(all()), 30_000)
  t.pass(`healed in ${Date.now() - t0} ms (redial, sync, reorg): ${heights(all())}`)
  t.equal(a.node.store.height, fork + 4, 'A reorged to the heavier branch')
  t.notOk(a.node.store.isOnMainChain(strayBlock), 'its own branch is off the best chain')
  t.ok(a.node.mempool.has(txHex(stray)), 'the tx of the lost branch went back to its mempool')
  await until('the returned tx reaches B and C', () => majority.every((p) => p.node.mempool.has(txHex(stray))), 20_000)
  await mine(b)
  await until('the block with the returned tx everywhere', () => sameTip(all()) && all().every((p) => p.node.store.txLocation(Buffer.from(txHex(stray), 'hex')) !== undefined))
  t.pass(`B mined the returned tx; it is confirmed on every node (${heights(all())})`)

  // 2. slow links, C restarted on its own store and port while A and B mine
  mesh.shape({ delayMs: 40, jitterMs: 40, bytesPerSecond: 256 * 1024 })
  const c = peers[2]!
  const cHeight = c.node.store.height
  await c.close()
  const iots = [aliceIot(alice, 1), aliceIot(alice, 2)]
  t.ok((await a.node.submitTx(iots[0]!)).accepted && (await b.node.submitTx(iots[1]!)).accepted, 'txs submitted on A and B while C is down')
  for (const p of [a, b, a]) {
    await mine(p)
    await until('A and B agree', () => sameTip([a, b]), 20_000)
  }
  t0 = Date.now()
  peers[2] = await start(2)
  t.equal(peers[2].node.store.height, cHeight, `C reopened its store at height ${cHeight}`)
  await until('C at the tip', () => sameTip(all()), 30_000)
  t.pass(`C caught up in ${Date.now() - t0} ms over slow links: ${heights(all())}`)
  for (const tx of iots) t.ok(peers[2].node.store.txLocation(Buffer.from(txHex(tx), 'hex')) !== undefined, `C has ${txHex(tx).slice(0, 8)} confirmed`)

  // 3. C's links stall: no reset, bytes held; A and B mine 2 blocks, C 1; then the bytes flow and C reorgs
  const stalled = peers[2]
  mesh.partition([[2]], 'stall')
  for (const p of [a, b]) {
    await mine(p)
    await until('A and B agree', () => sameTip([a, b]), 20_000)
  }
  await mine(stalled)
  t.ok(stalled.node.store.height === a.node.store.height - 1 && !sameTip(all()), `stalled: ${heights(all())}`)
  t0 = Date.now()
  mesh.heal()
  await until('converged after the stall', () => sameTip(all()), 30_000)
  t.pass(`converged ${Date.now() - t0} ms after the stall ended: ${heights(all())}`)

  // 4. all three mine at once over the slow links
  const h0 = a.node.store.height
  for (const p of all()) p.miner.start()
  await until('concurrent blocks', () => all().every((p) => p.node.store.height >= h0 + 4), 40_000)
  await Promise.all(all().map(async (p) => { await p.miner.stop() }))
  t0 = Date.now()
  for (let round = 0; round < 10 && !sameTip(all()); round++) {
    await until('convergence after concurrent mining', () => sameTip(all()), 8000).catch(() => {})
    if (!sameTip(all())) await mine(all().reduce((x, y) => (y.node.store.tip.work > x.node.store.tip.work ? y : x)))
  }
  t.ok(sameTip(all()), `concurrent mining over slow links converged in ${Date.now() - t0} ms: ${heights(all())}`)
  for (const p of all()) t.same(await p.node.store.audit(), [], `${p.name} store consistent`)
  t.ok(mesh.refused > 0, `the partition cut links (${mesh.refused} connections cut or refused; ${(mesh.bytes / 1024).toFixed(0)} KiB through the proxies)`)
})
