/**
 * Docchain under network faults on loopback (issue "Reliability and security
 * suite"): four accounting nodes over real libp2p, every ordered pair linked
 * through its own TCP proxy (test/helpers/tcp-proxy.ts) with seeded delay and
 * jitter. (1) The leader is partitioned away: the other three change view and
 * go on committing; after healing, the old leader catches up by state
 * transfer. (2) A 2|2 partition: no side has 2f+1, so nothing commits (and
 * nothing diverges); after healing every submitted tx_diag commits. (3) One
 * backup is stopped and reopened on its LevelDB directory and port while the
 * others commit over slower links (40 ms ± 40 ms): it catches up. (4) The
 * leader's links stall (bytes held, no reset) long enough for a view change,
 * then flow again. At each step all four Docchains are identical, block for
 * block, certificates valid; views, heights and times to heal are printed.
 */
import t from 'tap'
import { join } from 'node:path'
import { dblockHash, toHex, verifyCertificate, type Dblock } from '../../hub/src/core/index.ts'
import type { DiagReceipt } from '../../hub/src/roles/accounting/node.ts'
import { freePort, sleep, tempDir, until } from '../integration/ingest-helpers.ts'
import { ProxyMesh } from '../helpers/tcp-proxy.ts'
import { diag, peerId, replicas, startReplica } from './accounting-setup.ts'

t.setTimeout(240_000)

t.test('partitions and delays among four accounting nodes: commits stop without a quorum, resume and converge after healing', async (t) => {
  const dir = await tempDir(t, 'net-docchain')
  const ports = await Promise.all([0, 1, 2, 3].map(async () => await freePort()))
  const ids = await Promise.all([0, 1, 2, 3].map(async (i) => await peerId(i)))
  const mesh = await ProxyMesh.start(ports, { delayMs: 5, jitterMs: 15, seed: 1 })
  const peersOf = (i: number): Map<string, string> => new Map(replicas.map((r, j) => [toHex(r.id), j === i ? `/ip4/127.0.0.1/tcp/${ports[j]!}/p2p/${ids[j]!}` : mesh.addr(i, j, ids[j]!)]))
  const nodes: Array<Awaited<ReturnType<typeof startReplica>>> = []
  for (let i = 0; i < 4; i++) nodes.push(await startReplica(i, join(dir, `n${i}`), ports[i]!, peersOf(i)))
  const down = new Set<number>()
  t.teardown(async () => {
    for (const [i, n] of nodes.entries()) if (!down.has(i)) { await n.node.stop(); await n.libp2p.stop() }
    await mesh.close()
  })
  const partition = (side: readonly number[]): void => { mesh.partition([side]) }
  const heal = (): void => { mesh.heal() }
  let n = 200_000
  const submit = (to: readonly number[], count: number): Array<Promise<DiagReceipt>> => Array.from({ length: count }, (_, k) => nodes[to[k % to.length]!]!.node.submit(diag(n++)))
  const heights = (): number[] => nodes.map((x) => x.node.height)
  const views = (): string => nodes.map((x, i) => `n${i}:h${x.node.height}/v${x.node.view}`).join(' ')
  /** The leader most nodes follow (a node just restarted may have moved to a view of its own). */
  const leaderIndex = (): number => {
    const votes = new Map<string, number>()
    for (const x of nodes) votes.set(toHex(x.node.leader), (votes.get(toHex(x.node.leader)) ?? 0) + 1)
    const hex = [...votes].sort((p, q) => q[1] - p[1])[0]![0]
    return replicas.findIndex((r) => toHex(r.id) === hex)
  }
  const identical = async (what: string): Promise<void> => {
    await until(() => new Set(heights()).size === 1, 60_000, `equal heights (${what})`)
    const h = nodes[0]!.node.height
    for (let k = 1; k <= h; k++) {
      const blocks = await Promise.all(nodes.map(async (x) => await x.node.block(k))) as Dblock[]
      if (new Set(blocks.map((b) => toHex(dblockHash(b.header)))).size !== 1) { t.fail(`${what}: Dblock ${k} differs`); return }
      verifyCertificate(blocks[0]!, replicas.map((r) => r.id))
    }
    t.pass(`${what}: four identical certified Docchains at height ${h}`)
  }

  const first = await Promise.all(submit([0, 1, 2, 3], 40))
  t.ok(first.every((r) => r.ok), 'with 5–20 ms links, 40 tx_diag commit')
  await identical('delayed links')

  // (1) the leader alone on its side
  const leader = leaderIndex()
  partition([leader])
  const others = [0, 1, 2, 3].filter((i) => i !== leader)
  const second = await Promise.all(submit(others, 40))
  t.ok(second.every((r) => r.ok), `leader ${leader} cut off: the other three commit 40 more`)
  t.ok(others.every((i) => nodes[i]!.node.view > 0), `they changed view (now ${nodes[others[0]!]!.node.view})`)
  t.ok(nodes[leader]!.node.height < nodes[others[0]!]!.node.height, `the old leader is behind (${nodes[leader]!.node.height} < ${nodes[others[0]!]!.node.height})`)
  t.pass(`leader partitioned: ${views()}`)
  let t0 = Date.now()
  heal()
  await identical('after healing the leader partition')
  t.pass(`the old leader caught up ${Date.now() - t0} ms after healing: ${views()}`)

  // (2) 2|2: no quorum on either side
  partition([0, 1])
  const before = heights()
  const third = Promise.all(submit([0, 2], 20))
  await sleep(3000)
  t.same(heights(), before, 'a 2|2 partition commits nothing on either side')
  heal()
  const done = await third
  t.ok(done.every((r) => r.ok), 'after healing, the 20 tx_diag submitted during the partition commit')
  await identical('after healing the 2|2 partition')

  // (3) slower links; a backup stopped, reopened on its directory and port while the others commit
  mesh.shape({ delayMs: 40, jitterMs: 40 })
  const backup = [0, 1, 2, 3].find((i) => i !== leaderIndex())!
  const live = [0, 1, 2, 3].filter((i) => i !== backup)
  await nodes[backup]!.node.stop()
  await nodes[backup]!.libp2p.stop()
  down.add(backup)
  const fourth = await Promise.all(submit(live, 30))
  t.ok(fourth.every((r) => r.ok), `node ${backup} down: the other three commit 30 over 40–80 ms links`)
  const was = nodes[backup]!.node.height
  t0 = Date.now()
  nodes[backup] = await startReplica(backup, join(dir, `n${backup}`), ports[backup]!, peersOf(backup))
  down.delete(backup)
  t.equal(nodes[backup].node.height, was, `node ${backup} reopened its Docchain at height ${was}`)
  await identical(`after node ${backup} restarted`)
  t.pass(`node ${backup} caught up ${Date.now() - t0} ms after its restart: ${views()}`)

  // (4) the leader's links stall (no reset): the others change view; then the held bytes flow
  const stalled = leaderIndex()
  const viewBefore = nodes[stalled]!.node.view
  mesh.partition([[stalled]], 'stall')
  const others4 = [0, 1, 2, 3].filter((i) => i !== stalled)
  const fifth = await Promise.all(submit(others4, 20))
  t.ok(fifth.every((r) => r.ok), `leader ${stalled} stalled: the other three commit 20 more`)
  t.ok(others4.every((i) => nodes[i]!.node.view > viewBefore), `they left view ${viewBefore}: ${views()}`)
  t0 = Date.now()
  heal()
  await identical('after the stall')
  t.pass(`the stalled node caught up ${Date.now() - t0} ms after the stall ended: ${views()}`)
  t.ok(mesh.refused > 0, `the partitions did cut links (${mesh.refused} connections cut or refused; ${(mesh.bytes / 1024).toFixed(0)} KiB through the proxies)`)
})
