/**
 * The Userchain mempool on a real LevelDB (issue #4): bounded in bytes with
 * eviction by fee rate and a clear reason, template order (fee rate, nonce
 * order, arrival), timestamp window, kinds, epoch and nonce rules against
 * tip + pool, and persistence across a restart.
 */
import t, { type Test } from 'tap'
import {
  bodyTx, buildTxCoin, buildTxCoinbase, buildTxDiag, buildTxIoT, buildTxKey, sha256, toHex, utf8Bytes, type Tx
} from '../../hub/src/core/index.ts'
import { ChainStore } from '../../hub/src/store/chain.ts'
import { Mempool } from '../../hub/src/store/mempool.ts'
import { who } from '../helpers/core.ts'
import { makeBlock, NOW, TESTNET, tempDir } from '../helpers/userchain.ts'

const alice = who('alice')
const bob = who('bob')
const TX_TS = TESTNET.genesisTime + 5
function h (s: string): Uint8Array { return sha256(utf8Bytes(s)) }
function keyTx (epoch: number, salt = ''): Tx {
  return buildTxKey(alice, { ts: TX_TS, epoch, ik: h(`ik${epoch}${salt}`), epochSecret: h(`s${epoch}`), doctors: [], ikmE: h(`e${epoch}${salt}`) })
}
function iot (i: number, epoch = 1, ts = TX_TS): Tx { return buildTxIoT(alice, { ts, heiot: h(`b${i}`), epoch }) }
function pay (nonce: number, fee: number, amount = 100): Tx { return buildTxCoin(alice, { to: bob.id, amount, fee, nonce }) }
function code (fn: () => unknown): string | undefined {
  try { fn() } catch (err) { return (err as { code?: string }).code }
  return undefined
}

/** A store where alice holds one block reward and has key epoch 1 confirmed. */
async function funded (t: Test): Promise<{ store: ChainStore, dir: string }> {
  const dir = await tempDir(t, 'mp')
  const store = await ChainStore.open(dir, TESTNET)
  const b1 = makeBlock(store, store.tip, { miner: alice.id, txs: [keyTx(1)] })
  const r = await store.addBlock(b1)
  t.equal(r.status, 'connected')
  return { store, dir }
}

t.test('admission rules against tip + pool', async (t) => {
  const { store } = await funded(t)
  t.teardown(async () => { await store.close() })
  const mp = new Mempool(store)
  t.same(mp.add(bodyTx(iot(1)), NOW), [])
  t.equal(code(() => mp.add(bodyTx(iot(1)), NOW)), 'ERR_DUPLICATE_TX', 'duplicate')
  t.equal(code(() => mp.add(bodyTx(iot(2, 2)), NOW)), 'ERR_UNKNOWN_EPOCH', 'tx_IoT naming an epoch not yet keyed')
  t.equal(code(() => mp.add(bodyTx(keyTx(1, 'again')), NOW)), 'ERR_EPOCH_ORDER', 'tx_key epoch must rise')
  mp.add(bodyTx(keyTx(2)), NOW)
  t.same(mp.add(bodyTx(iot(3, 2)), NOW), [], 'the pooled tx_key opens epoch 2 for pooled tx_IoT')
  t.equal(code(() => mp.add(bodyTx(iot(4, 1, NOW - TESTNET.txMaxAge - 1)), NOW)), 'ERR_TX_TIME', 'expired')
  t.equal(code(() => mp.add(bodyTx(iot(5, 1, NOW + TESTNET.maxFutureDrift + 1)), NOW)), 'ERR_TX_TIME', 'from the future')
  t.equal(code(() => mp.add(bodyTx(buildTxCoinbase({ height: 9, to: alice.id, amount: 1 })), NOW)), 'ERR_WRONG_KIND')
  t.equal(code(() => mp.add(bodyTx(buildTxDiag(bob, { ts: TX_TS, causes: [h('c')], hedm: h('d') })), NOW)), 'ERR_WRONG_KIND', 'tx_diag belongs on Docchain')
  mp.add(bodyTx(pay(0, 1)), NOW)
  t.equal(code(() => mp.add(bodyTx(pay(2, 1)), NOW)), 'ERR_NONCE', 'nonce gap')
  t.equal(code(() => mp.add(bodyTx(buildTxCoin(alice, { to: bob.id, amount: 101, fee: 1, nonce: 0 })), NOW)), 'ERR_NONCE', 'second spend of a nonce')
  mp.add(bodyTx(pay(1, 1)), NOW)
  t.equal(code(() => mp.add(bodyTx(pay(2, 0, TESTNET.blockReward)), NOW)), 'ERR_FUNDS', 'pending spends count against the balance')
  t.same(mp.view.account(alice.id), { balance: TESTNET.blockReward - 202, nonce: 2 })
  t.equal(mp.size, 5)
})

t.test('bounded by bytes: full pool refuses or evicts by fee rate, with a reason', async (t) => {
  const { store } = await funded(t)
  t.teardown(async () => { await store.close() })
  const one = bodyTx(iot(0)).bytes.length
  const mp = new Mempool(store, { maxBytes: 3 * one })
  for (let i = 0; i < 3; i++) mp.add(bodyTx(iot(i)), NOW)
  t.equal(mp.bytes, 3 * one)
  t.equal(code(() => mp.add(bodyTx(iot(3)), NOW)), 'ERR_MEMPOOL_FULL', 'no fee: refused, nothing evicted')
  t.equal(mp.size, 3)
  const dropped = mp.add(bodyTx(pay(0, 50)), NOW)
  t.ok(dropped.length >= 1 && dropped.every((d) => /evicted: mempool full/.test(d.reason)), 'a paying transfer evicts tx_IoT')
  t.equal(dropped[0]!.id, toHex(bodyTx(iot(2)).id), 'the newest of the lowest fee rate goes first')
  t.ok(mp.bytes <= mp.maxBytes)
  t.ok(mp.has(bodyTx(pay(0, 50)).id))
})

t.test('template order: fee rate first, nonces in order, then arrival; persisted across restart', async (t) => {
  const { store, dir } = await funded(t)
  let s = store
  t.teardown(async () => { await s.close() })
  const mp = new Mempool(s)
  const txs = [iot(1), pay(0, 1), pay(1, 500), iot(2), buildTxCoin(who('carol'), { to: alice.id, amount: 1, fee: 0, nonce: 0 })]
  mp.add(bodyTx(txs[0]!), NOW)
  mp.add(bodyTx(txs[1]!), NOW)
  mp.add(bodyTx(txs[2]!), NOW)
  mp.add(bodyTx(txs[3]!), NOW)
  t.equal(code(() => mp.add(bodyTx(txs[4]!), NOW)), 'ERR_FUNDS', 'carol holds nothing')
  const order = mp.select().map((b) => toHex(b.id))
  const id = (tx: Tx): string => toHex(bodyTx(tx).id)
  t.same(order, [id(txs[1]!), id(txs[2]!), id(txs[0]!), id(txs[3]!)], 'transfers (nonce 0 before its higher-paying nonce 1), then tx_IoT by arrival')
  t.same(mp.select(bodyTx(txs[1]!).bytes.length + 2).map((b) => toHex(b.id)), [id(txs[1]!)], 'a size limit is respected')
  await mp.flush()
  await s.close()
  s = await ChainStore.open(dir, TESTNET)
  const again = new Mempool(s)
  t.same(await again.load(NOW), [])
  t.same(again.list().map((e) => toHex(e.bt.id)), [id(txs[0]!), id(txs[1]!), id(txs[2]!), id(txs[3]!)], 'the pool survives a restart, in arrival order')
  t.same(again.view.account(alice.id), mp.view.account(alice.id))
  // Confirming some drops them; what a later block invalidates is dropped with a reason.
  const b2 = makeBlock(s, s.tip, { miner: bob.id, txs: [txs[1]!, txs[0]!] })
  await s.addBlock(b2)
  t.same(again.rebuild([], NOW), [])
  t.same(again.list().map((e) => toHex(e.bt.id)), [id(txs[2]!), id(txs[3]!)], 'confirmed txs leave')
  const spend = buildTxCoin(alice, { to: bob.id, amount: TESTNET.blockReward - 200, fee: 0, nonce: 1 })
  await s.addBlock(makeBlock(s, b2, { miner: bob.id, txs: [spend] }))
  const dropped = again.rebuild([], NOW)
  t.equal(dropped.length, 1, 'the transfer whose nonce the chain used is dropped')
  t.match(dropped[0]!.reason, /nonce/)
  await again.flush()
  await s.close()
  s = await ChainStore.open(dir, TESTNET)
  const third = new Mempool(s)
  await third.load(NOW)
  t.same(third.list().map((e) => toHex(e.bt.id)), [id(txs[3]!)], 'the persisted pool follows the drops')
  t.equal(code(() => third.add(bodyTx(iot(1)), NOW)), 'ERR_ALREADY_CONFIRMED')
})

t.test('expiry: templates skip, and the pool drops, txs past txMaxAge', async (t) => {
  const { store } = await funded(t)
  t.teardown(async () => { await store.close() })
  const mp = new Mempool(store)
  const late = TX_TS + 1000
  mp.add(bodyTx(keyTx(2)), NOW) // ts = TX_TS
  mp.add(bodyTx(iot(1, 2, late)), NOW) // names epoch 2, stamped later
  mp.add(bodyTx(pay(0, 1)), NOW) // transfers carry no timestamp
  const gtime = TX_TS + TESTNET.txMaxAge + 1
  t.same(mp.select(undefined, gtime).map((b) => b.tx.kind), ['coin'], 'a template at that gtime leaves out the expired tx_key and the tx_IoT that needs its epoch')
  t.same(mp.expire(NOW), [], 'nothing expired yet')
  const dropped = mp.expire(gtime)
  t.equal(dropped.length, 2, 'the tx_key expires, and the tx_IoT naming its epoch goes with it')
  t.ok(dropped.every((d) => /expired|epoch/.test(d.reason)), dropped.map((d) => d.reason).join('; '))
  t.same(mp.list().map((e) => e.bt.tx.kind), ['coin'])
})
