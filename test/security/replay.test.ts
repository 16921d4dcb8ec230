/**
 * Replays count once (paper §III-B: an active adversary may replay what it
 * saw on the network). Userchain: a tx again in the mempool, a confirmed tx
 * again, a confirmed tx inside a later block, a Healthcoin transfer again;
 * Docchain: one tx_diag sent to every accounting node and again after its
 * commit, and a leader that re-proposes a committed tx_diag in a later Dblock;
 * ingest: a device's readings sent again, also after the hub restarted.
 * Each replay is refused with its reason and counted, and the next honest
 * input is accepted. (Bit flips and forged signatures: test/integration/
 * userchain-node.test.ts; resubmission answers over the accounting node:
 * test/unit/pbft-accounting.test.ts; MQTT QoS 1 redelivery: ingest-aedes.)
 */
import t from 'tap'
import { join } from 'node:path'
import {
  buildTxCoin, buildTxIoT, buildTxKey, dblockProposal, encodeTx, equalBytes, sha256, toHex, txId, utf8Bytes, type TxDiag
} from '../../hub/src/core/index.ts'
import { decodeMessage } from '../../hub/src/core/pbft/messages.ts'
import { signMessage } from '../../hub/src/core/pbft/envelope.ts'
import { prePrepareBody, prePrepareCodec } from '../../hub/src/core/pbft/pre-prepare.ts'
import { CoreNode } from '../../hub/src/roles/core/node.ts'
import { Ingest } from '../../hub/src/ingest/pipeline.ts'
import { formatLine } from '../../hub/src/ingest/line.ts'
import { who } from '../helpers/core.ts'
import { makeBlock, NOW, TESTNET, tempDir } from '../helpers/userchain.ts'
import { ident, Sim, txPool } from '../fuzz/pbft-sim.ts'
import { addDevices } from '../integration/ingest-helpers.ts'

const h = (s: string): Uint8Array => sha256(utf8Bytes(s))
const alice = who('replay-alice')
const bob = who('replay-bob')
const TX_TS = TESTNET.genesisTime + 5

t.test('Userchain: a tx again, a confirmed tx again, a confirmed tx in a later block, a transfer again', async (t) => {
  const dir = await tempDir(t, 'replay')
  const node = await CoreNode.open({ dir, params: TESTNET, now: () => NOW, verifyThreads: 1 })
  t.teardown(async () => { await node.close() })
  const key = buildTxKey(alice, { ts: TX_TS, epoch: 1, ik: h('ik'), epochSecret: h('s'), doctors: [], ikmE: h('e') })
  const b1 = makeBlock(node.store, node.store.tip, { miner: alice.id, txs: [key] })
  t.ok((await node.submitBlock(b1)).accepted, 'alice\'s tx_key is confirmed and she has a coinbase')
  const count = (): number => Object.values(node.rejected).reduce((a, b) => a + b, 0)
  const refused = async (bytes: Uint8Array, want: string, what: string): Promise<void> => {
    const before = count()
    const r = await node.submitTx(bytes)
    t.ok(!r.accepted && r.code === want, `${what}: ${r.accepted ? 'accepted!' : `${r.code} (${r.reason})`}`)
    t.equal(count(), before + 1, `${what}: counted`)
  }

  const iot = encodeTx(buildTxIoT(alice, { ts: TX_TS + 1, heiot: h('batch-1'), epoch: 1 }))
  t.ok((await node.submitTx(iot)).accepted, 'a tx_IoT enters the mempool')
  await refused(iot, 'ERR_DUPLICATE_TX', 'the same tx_IoT again (mempool)')
  await refused(encodeTx(key), 'ERR_ALREADY_CONFIRMED', 'the confirmed tx_key again')

  const coin = buildTxCoin(alice, { to: bob.id, amount: 10, fee: 1, nonce: 0 })
  t.ok((await node.submitTx(encodeTx(coin))).accepted, 'a Healthcoin transfer enters the mempool')
  const b2 = makeBlock(node.store, b1, { miner: bob.id, txs: [coin] })
  t.ok((await node.submitBlock(b2)).accepted, 'and is confirmed')
  const bobHas = node.store.account(bob.id).balance
  await refused(encodeTx(coin), 'ERR_ALREADY_CONFIRMED', 'the confirmed transfer again')
  const r = await node.submitTx(encodeTx(buildTxCoin(alice, { to: bob.id, amount: 11, fee: 1, nonce: 0 })))
  t.notOk(r.accepted, `a new transfer reusing the spent nonce: ${r.accepted ? 'accepted!' : r.code}`)

  // a block that carries a confirmed tx again is invalid as a whole
  const tip = node.store.tip.hex
  const rejectedBefore = count()
  for (const [what, tx] of [['the confirmed tx_key', key], ['the confirmed transfer', coin]] as const) {
    const replay = makeBlock(node.store, b2, { miner: bob.id, txs: [tx] })
    const v = await node.submitBlock(replay)
    // a block with valid work is kept as a header (so it is not fetched again) and marked invalid
    t.ok(!v.accepted || v.status === 'invalid', `a later block holding ${what}: ${v.accepted ? `${v.status} (${v.reason})` : `${v.code} (${v.reason})`}`)
  }
  t.equal(count(), rejectedBefore + 2, 'both blocks counted as rejected')
  t.equal(node.store.tip.hex, tip, 'the tip did not move')
  t.equal(node.store.account(bob.id).balance, bobHas, 'bob was not paid twice')

  // the node keeps serving
  const b3 = makeBlock(node.store, b2, { miner: bob.id, txs: [buildTxIoT(alice, { ts: TX_TS + 1, heiot: h('batch-1'), epoch: 1 })] })
  t.ok((await node.submitBlock(b3)).accepted, 'an honest block right after is accepted')
  t.ok((await node.submitTx(encodeTx(buildTxIoT(alice, { ts: TX_TS + 2, heiot: h('batch-2'), epoch: 1 })))).accepted, 'and an honest tx')
})

t.test('Docchain: one tx_diag sent to every node and again after commit is committed once; a leader re-proposing it is replaced', async (t) => {
  const sim = new Sim({ seed: 15, n: 4 })
  const [a, b, c, d] = txPool(4) as [TxDiag, TxDiag, TxDiag, TxDiag]
  for (let i = 0; i < 4; i++) { sim.submit(a, i, i); sim.submit(a, i, 10 + i) }
  sim.submit(b, 2, 5)
  const countOn = (i: number, tx: TxDiag): number => sim.nodes[i]!.chain.flatMap((x) => x.txs).filter((x) => equalBytes(x.id, txId(tx))).length
  t.ok(sim.run(() => [0, 1, 2, 3].every((i) => countOn(i, a) > 0 && countOn(i, b) > 0), 5000), 'committed')
  sim.run(() => false, sim.now + 500)
  for (let i = 0; i < 4; i++) t.equal(countOn(i, a), 1, `node ${i}: the tx_diag sent 8 times is on Docchain once`)
  const height = sim.nodes[0]!.chain.length
  sim.submit(a, 1, sim.now + 1)
  sim.submit(a, 3, sim.now + 2)
  sim.run(() => false, sim.now + 500)
  t.equal(sim.nodes[0]!.chain.length, height, 'sent again after its commit: no new Dblock')

  // the leader of view 0 slips the committed tx_diag into its next proposal
  const leader = ident('replica-0')
  let tampered = 0
  sim.tamper = (from, _to, bytes) => {
    let m
    try { m = decodeMessage(bytes) } catch { return null }
    if (from !== 0 || m.kind !== 'pre-prepare' || m.body.view !== 0) return null
    const blk = m.body.block
    tampered++
    const alt = dblockProposal({ index: blk.header.index, gtime: blk.header.gtime, prehash: blk.header.prehash, view: 0, leader: leader.id, txs: [...blk.txs.map((x) => x.tx as TxDiag), a] })
    return [signMessage(prePrepareCodec, prePrepareBody(m.body.seq, alt), leader.signing).bytes]
  }
  sim.submit(c, 1, sim.now + 1)
  sim.submit(d, 2, sim.now + 2)
  const honest = [1, 2, 3]
  t.ok(sim.run(() => honest.every((i) => countOn(i, c) === 1 && countOn(i, d) === 1), sim.now + 10_000), 'the new tx_diag commit under the next leader')
  t.ok(tampered > 0, `the leader sent ${tampered} tampered pre-prepares`)
  t.equal(sim.safety, null, 'safety holds')
  for (const i of honest) {
    t.equal(countOn(i, a), 1, `node ${i}: the replayed tx_diag is still on Docchain once`)
    t.ok(sim.nodes[i]!.replica.view >= 1, `node ${i} left the replaying leader's view`)
  }
  const ref = toHex(sim.nodes[1]!.chain.at(-1)!.header.prehash)
  t.ok(honest.every((i) => toHex(sim.nodes[i]!.chain.at(-1)!.header.prehash) === ref), 'the honest nodes hold one chain')
})

t.test('ingest: readings sent again are counted as replays, also after a restart, and stored once', async (t) => {
  const dir = await tempDir(t, 'replay-ingest')
  let ing = await Ingest.open(join(dir, 'ingest'), { sync: false })
  t.teardown(async () => { await ing.close() })
  await addDevices(ing, 'alice', [['ox-1', 'spo2']])
  const line = (s: number): string => formatLine({ d: 'ox-1', b: 7, s, t: 'spo2', v: 96, ts: s * 1000 }).trimEnd()
  for (let s = 0; s < 5; s++) t.ok((await ing.submit(line(s), { source: 'serial' })).ok, `reading ${s} stored`)
  for (let s = 0; s < 5; s++) t.notOk((await ing.submit(line(s), { source: 'serial' })).ok, `reading ${s} again: dropped`)
  t.notOk((await ing.submit(line(2), { source: 'mqtt', device: 'ox-1' })).ok, 'an old reading over MQTT: dropped')
  t.equal(ing.counters.dropped.ERR_REPLAY, 6, 'six replays counted')
  t.equal(ing.pendingCount('alice'), 5, 'five readings stored')

  await ing.close()
  ing = await Ingest.open(join(dir, 'ingest'), { sync: false })
  for (let s = 0; s < 5; s++) t.notOk((await ing.submit(line(s), { source: 'serial' })).ok, `after the restart, reading ${s} again: dropped`)
  t.equal(ing.counters.dropped.ERR_REPLAY, 5, 'counted after the restart too (the marks are stored with the readings)')
  t.ok((await ing.submit(line(5), { source: 'serial' })).ok, 'the next reading is stored')
  t.equal(ing.pendingCount('alice'), 6, 'six readings stored in all, none twice')
})
