/**
 * Regression: "an accounting node started before its peers never reached
 * them". Its first sends found the peers down; libp2p then kept a dead
 * connection ("the connection muxer is closed") and every later PBFT send
 * to that peer failed on it, so the node stayed in view 0 while the others
 * moved on and nothing committed. net/reqresp.ts now aborts such a
 * connection when opening a stream fails, so the next send dials afresh.
 * Three of four accounting nodes start one after another over real libp2p
 * (the fourth stays down); all submitted tx_diag must commit. (The stale
 * connection depends on timing, so this start order does not always hit it;
 * crash-accounting.test.ts, restarting a peer 30 times, does.)
 */
import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, until } from '../integration/ingest-helpers.ts'
import { diag, peerId, peerMap, startReplica } from './accounting-setup.ts'

t.test('accounting nodes started one after another (one down) still commit every tx_diag', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hc-pbft-order-'))
  const ports = await Promise.all([0, 1, 2, 3].map(async () => await freePort()))
  const peers = peerMap(await Promise.all(ports.map(async (p, i) => `/ip4/127.0.0.1/tcp/${p}/p2p/${await peerId(i)}`)))
  const rs: Array<Awaited<ReturnType<typeof startReplica>>> = []
  t.teardown(async () => { for (const r of rs) { await r.node.stop(); await r.libp2p.stop() } await rm(dir, { recursive: true, force: true }) })
  for (const i of [0, 1, 2]) {
    // each node's first status messages meet peers that are not up yet
    rs.push(await startReplica(i, join(dir, `n${i}`), ports[i]!, peers))
  }
  const all = Promise.all(Array.from({ length: 30 }, async (_, n) => await rs[n % 3]!.node.submit(diag(100_000 + n))))
  let timer: NodeJS.Timeout | undefined
  const receipts = await Promise.race([all, new Promise<null>((resolve) => { timer = setTimeout(() => resolve(null), 20_000) })])
  clearTimeout(timer)
  t.ok(receipts !== null && receipts.every((r) => r.ok), 'all 30 tx_diag committed (bounded wait: 20 s)')
  await until(() => rs.every((r) => r.node.height === rs[0]!.node.height), 10_000, 'equal heights')
  t.ok(rs[0]!.node.height > 0, `the three nodes agree at height ${rs[0]!.node.height}`)
})
