/**
 * Docchain under network faults on loopback (issue "Reliability and security
 * suite"): four accounting nodes over real libp2p, every ordered pair linked
 * through its own TCP proxy (test/helpers/tcp-proxy.ts) with seeded delay and
 * jitter. (1) The leader is partitioned away: the other three change view and
 * go on committing; after healing, the old leader catches up by state
 * transfer. (2) A 2|2 partition: no side has 2f+1, so nothing commits (and
 * nothing diverges); after healing every submitted tx_diag commits. At each
 * step all four Docchains are identical, block for block, certificates valid.
 */
import t from 'tap'
import { join } from 'node:path'
import { dblockHash, toHex, verifyCertificate, type Dblock } from '../../hub/src/core/index.ts'
import type { DiagReceipt } from '../../hub/src/roles/accounting/node.ts'
import { freePort, sleep, tempDir, until } from '../integration/ingest-helpers.ts'
import { TcpProxy } from '../helpers/tcp-proxy.ts'
import { diag, peerId, replicas, startReplica } from './accounting-setup.ts'

t.setTimeout(240_000)

t.test('partitions and delays among four accounting nodes: commits stop without a quorum, resume and converge after healing', async (t) => {
  const dir = await tempDir(t, 'net-docchain')
  const ports = await Promise.all([0, 1, 2, 3].map(async () => await freePort()))
  const ids = await Promise.all([0, 1, 2, 3].map(async (i) => await peerId(i)))
  // proxy[i][j]: how node i reaches node j
  const proxy: TcpProxy[][] = []
  for (let i = 0; i < 4; i++) {
    proxy.push([])
    for (let j = 0; j < 4; j++) proxy[i]!.push(await TcpProxy.start(ports[j]!, { delayMs: 5, jitterMs: 15, seed: 1 + i * 4 + j }))
  }
  const nodes: Array<Awaited<ReturnType<typeof startReplica>>> = []
  for (let i = 0; i < 4; i++) {
    const peers = new Map(replicas.map((r, j) => [toHex(r.id), `/ip4/127.0.0.1/tcp/${j === i ? ports[j]! : proxy[i]![j]!.port}/p2p/${ids[j]!}`]))
    nodes.push(await startReplica(i, join(dir, `n${i}`), ports[i]!, peers))
  }
  t.teardown(async () => {
    for (const n of nodes) { await n.node.stop(); await n.libp2p.stop() }
    for (const row of proxy) for (const p of row) await p.close()
  })
  const partition = (side: ReadonlySet<number>): void => {
    for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) if (side.has(i) !== side.has(j)) proxy[i]![j]!.cut(); else proxy[i]![j]!.heal()
  }
  const heal = (): void => { partition(new Set()) }
  let n = 200_000
  const submit = (to: readonly number[], count: number): Array<Promise<DiagReceipt>> => Array.from({ length: count }, (_, k) => nodes[to[k % to.length]!]!.node.submit(diag(n++)))
  const heights = (): number[] => nodes.map((x) => x.node.height)
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
  const leaderHex = toHex(nodes[0]!.node.leader)
  const leader = replicas.findIndex((r) => toHex(r.id) === leaderHex)
  partition(new Set([leader]))
  const others = [0, 1, 2, 3].filter((i) => i !== leader)
  const second = await Promise.all(submit(others, 40))
  t.ok(second.every((r) => r.ok), `leader ${leader} cut off: the other three commit 40 more`)
  t.ok(others.every((i) => nodes[i]!.node.view > 0), `they changed view (now ${nodes[others[0]!]!.node.view})`)
  t.ok(nodes[leader]!.node.height < nodes[others[0]!]!.node.height, `the old leader is behind (${nodes[leader]!.node.height} < ${nodes[others[0]!]!.node.height})`)
  heal()
  await identical('after healing the leader partition')

  // (2) 2|2: no quorum on either side
  partition(new Set([0, 1]))
  const before = heights()
  const third = Promise.all(submit([0, 2], 20))
  await sleep(3000)
  t.same(heights(), before, 'a 2|2 partition commits nothing on either side')
  heal()
  const done = await third
  t.ok(done.every((r) => r.ok), 'after healing, the 20 tx_diag submitted during the partition commit')
  await identical('after healing the 2|2 partition')
  const refused = proxy.flat().reduce((s, p) => s + p.refused, 0)
  t.ok(refused > 0, `the partitions did cut links (${refused} connections cut or refused)`)
})
