/**
 * Fork choice and reorgs of a core user node on a real LevelDB (paper §IV-B3;
 * issue #4 acceptance): reorgs of depth 1 and 10 move transactions back to
 * the mempool with balances and indexes following; a branch with one
 * invalid block is rejected and its descendants never connect; an
 * equal-work tie keeps the first seen; a double spend across branches;
 * after each scenario a restart gives the same tip, indexes and mempool.
 */
import t, { type Test } from 'tap'
import {
  bodyTx, buildTxCoin, buildTxIoT, buildTxKey, sha256, toHex, ublockHash, utf8Bytes, type Tx, type Ublock
} from '../../hub/src/core/index.ts'
import { CoreNode } from '../../hub/src/roles/core/node.ts'
import { who } from '../helpers/core.ts'
import { makeBlock, NOW, TESTNET, tempDir } from '../helpers/userchain.ts'

const alice = who('alice')
const bob = who('bob')
const carol = who('carol')
const m1 = who('miner-1')
const m2 = who('miner-2')
const TX_TS = TESTNET.genesisTime + 5
const R = TESTNET.blockReward

function h (label: string): Uint8Array { return sha256(utf8Bytes(label)) }
function keyTx (epoch: number): Tx {
  return buildTxKey(alice, { ts: TX_TS, epoch, ik: h(`ik${epoch}`), epochSecret: h(`s${epoch}`), doctors: [{ id: bob.id, x25519: bob.agreement.publicKey }], ikmE: h(`e${epoch}`) })
}
function iot (i: number, epoch = 1): Tx { return buildTxIoT(alice, { ts: TX_TS, heiot: h(`batch${i}`), epoch }) }
function idOf (b: Ublock): string { return toHex(ublockHash(b.header)) }

async function open (dir: string): Promise<CoreNode> {
  return await CoreNode.open({ dir, params: TESTNET, now: () => NOW, verifyThreads: 1 })
}

async function accept (t: Test, node: CoreNode, b: Ublock, status: string): Promise<void> {
  const r = await node.submitBlock(b)
  t.equal(r.accepted && r.status, status, `block ${idOf(b).slice(0, 8)} at ${b.header.index}: ${r.accepted ? r.status : r.reason}`)
}

/** What a restart must preserve. */
async function snapshot (node: CoreNode): Promise<unknown> {
  const users = [alice, bob, carol, m1, m2]
  return {
    tip: node.store.tip.hex,
    height: node.store.height,
    accounts: users.map((u) => node.store.account(u.id)),
    epochs: node.store.latestEpoch(alice.id),
    userTxs: await Promise.all(users.map(async (u) => (await node.store.userTxs(u.id)).map((x) => toHex(x.txid)))),
    mempool: node.mempool.list().map((e) => toHex(e.bt.id)).sort()
  }
}

async function restartSame (t: Test, node: CoreNode, dir: string): Promise<CoreNode> {
  const before = await snapshot(node)
  await node.close()
  const again = await open(dir)
  t.same(await snapshot(again), before, 'a restart gives the same tip, accounts, indexes and mempool')
  t.same(await again.store.audit(), [], 'no index points to a missing or off-chain block')
  return again
}

/** genesis → a1 (coinbase to alice) → a2 (alice's tx_key epoch 1). */
async function base (t: Test): Promise<{ node: CoreNode, dir: string, a1: Ublock, a2: Ublock }> {
  const dir = await tempDir(t)
  const node = await open(dir)
  const g = node.store.tip
  const a1 = makeBlock(node.store, g, { miner: alice.id })
  await accept(t, node, a1, 'connected')
  const a2 = makeBlock(node.store, a1, { miner: m1.id, txs: [keyTx(1)] })
  await accept(t, node, a2, 'connected')
  return { node, dir, a1, a2 }
}

t.test('reorg of depth 1: txs return to the mempool, balances and indexes follow; equal work keeps the first seen', async (t) => {
  let { node, dir, a2 } = await base(t)
  const pay = buildTxCoin(alice, { to: bob.id, amount: 1000, fee: 7, nonce: 0 })
  const data = iot(1)
  for (const tx of [pay, data]) t.ok((await node.submitTx(tx)).accepted)
  t.equal(node.mempool.size, 2)
  const a3 = makeBlock(node.store, a2, { miner: m1.id, txs: [pay, data] })
  await accept(t, node, a3, 'connected')
  t.equal(node.mempool.size, 0, 'confirmed txs leave the mempool')
  t.same(node.store.account(bob.id), { balance: 1000, nonce: 0 })
  t.same(node.store.account(alice.id), { balance: R - 1007, nonce: 1 })
  t.same(node.store.account(m1.id), { balance: 2 * R + 7, nonce: 0 }, 'the coinbase collected the fee')
  const payId = toHex(bodyTx(pay).id)
  const dataId = toHex(bodyTx(data).id)
  t.same(node.store.txLocation(bodyTx(pay).id), { block: ublockHash(a3.header), height: 3, pos: 1 }, 'tx index names block and position')
  const again = await node.submitTx(pay)
  t.ok(!again.accepted && again.code === 'ERR_ALREADY_CONFIRMED', 'a confirmed tx is refused by the mempool')

  // A competing block at the same height: equal work, the first seen stays.
  const b3 = makeBlock(node.store, a2, { miner: m2.id, salt: 1 })
  await accept(t, node, b3, 'side')
  t.equal(node.store.tip.hex, idOf(a3), 'equal-work tie keeps the first seen')
  node = await restartSame(t, node, dir)
  t.equal(node.store.tip.hex, idOf(a3), 'and after a restart too')

  const b4 = makeBlock(node.store, b3, { miner: m2.id })
  const r = await node.submitBlock(b4)
  t.ok(r.accepted && r.tipChanged && r.disconnected.length === 1 && r.connected.length === 2, 'one block out, two in')
  t.equal(node.store.tip.hex, idOf(b4))
  t.same(node.mempool.list().map((e) => toHex(e.bt.id)), [payId, dataId], 'both txs of the orphaned block are back in the mempool, in block order')
  t.same(node.store.account(bob.id), { balance: 0, nonce: 0 }, 'the transfer is undone')
  t.same(node.store.account(alice.id), { balance: R, nonce: 0 })
  t.same(node.store.account(m1.id), { balance: R, nonce: 0 }, 'the orphaned coinbase is undone')
  t.same(node.store.account(m2.id), { balance: 2 * R, nonce: 0 })
  t.equal(node.store.txLocation(bodyTx(pay).id), undefined, 'tx index forgets the orphaned tx')
  t.same((await node.store.userTxs(bob.id)).length, 0, 'per-user index follows')
  node = await restartSame(t, node, dir)
  // The returned txs can be mined again on the new branch.
  const b5 = makeBlock(node.store, b4, { miner: m2.id, txs: node.mempool.select().map((x) => x.tx) })
  await accept(t, node, b5, 'connected')
  t.equal(node.mempool.size, 0)
  t.same(node.store.account(bob.id), { balance: 1000, nonce: 0 })
  node = await restartSame(t, node, dir)
  await node.close()
})

t.test('reorg of depth 10 to a heavier branch', async (t) => {
  let { node, dir, a2 } = await base(t)
  const main: Ublock[] = []
  let tip: Ublock = a2
  for (let i = 0; i < 10; i++) {
    tip = makeBlock(node.store, tip, { miner: m1.id, txs: [iot(100 + i)] })
    await accept(t, node, tip, 'connected')
    main.push(tip)
  }
  const aliceTxs = (await node.store.userTxs(alice.id)).length
  t.equal(aliceTxs, 1 + 1 + 10, 'coinbase, tx_key and ten tx_IoT indexed for alice')
  // A side branch from a2, one block longer, carrying other data.
  let side: Ublock = a2
  const sideBlocks: Ublock[] = []
  for (let i = 0; i < 11; i++) {
    side = makeBlock(node.store, side, { miner: m2.id, salt: 1, txs: i === 0 ? [iot(200)] : [] })
    sideBlocks.push(side)
  }
  for (let i = 0; i < 10; i++) await accept(t, node, sideBlocks[i]!, 'side')
  t.equal(node.store.tip.hex, idOf(main[9]!), 'less or equal work does not move the tip')
  const r = await node.submitBlock(sideBlocks[10]!)
  t.ok(r.accepted && r.disconnected.length === 10 && r.connected.length === 11, 'ten out, eleven in')
  t.equal(node.store.tip.hex, idOf(side))
  t.equal(node.store.height, 13)
  t.equal(node.mempool.size, 10, 'the ten tx_IoT are back in the mempool')
  t.same(node.store.account(m1.id), { balance: R, nonce: 0 }, 'the ten orphaned coinbases are undone')
  t.same(node.store.account(m2.id), { balance: 11 * R, nonce: 0 })
  t.equal((await node.store.userTxs(alice.id)).length, 1 + 1 + 1, 'alice: coinbase, tx_key and the side branch tx_IoT')
  for (const b of main) t.notOk(node.store.isOnMainChain(idOf(b)))
  t.equal(toHex(node.store.hashAt(5)!), idOf(sideBlocks[2]!), 'the height index follows')
  node = await restartSame(t, node, dir)
  // And back: the old branch grows heavier again (its blocks were kept).
  let back = main[9]!
  for (let i = 0; i < 2; i++) {
    back = makeBlock(node.store, back, { miner: m1.id, salt: 2 })
    await node.submitBlock(back)
  }
  t.equal(node.store.tip.hex, idOf(back), 'reorg back to the kept branch')
  t.equal(node.mempool.size, 1, 'only the side branch tx_IoT is pending now')
  node = await restartSame(t, node, dir)
  // Rebuilding every index from the stored blocks gives the same state.
  const before = await snapshot(node)
  await node.store.reindex()
  t.same(await snapshot(node), before, 'reindex rebuilds the same tip, accounts and indexes')
  t.same(await node.store.audit(), [])
  await node.close()
})

t.test('a branch with one invalid block is rejected, its descendants never connect', async (t) => {
  let { node, dir, a1, a2 } = await base(t)
  // Side branch from a1: c2 valid, c3 overspends (signed, well formed), c4 on top.
  const c2 = makeBlock(node.store, a1, { miner: m2.id, salt: 1 })
  await accept(t, node, c2, 'side')
  const overspend = buildTxCoin(alice, { to: carol.id, amount: R + 1, fee: 0, nonce: 0 })
  const c3 = makeBlock(node.store, c2, { miner: m2.id, txs: [overspend] })
  const r3 = await node.submitBlock(c3)
  t.ok(r3.accepted && r3.status === 'invalid' && /spends/.test(r3.reason ?? ''), `c3 is marked invalid: ${r3.accepted ? r3.reason : r3.reason}`)
  t.equal(node.store.tip.hex, idOf(a2), 'the tip is back on the valid branch (first seen of the tie)')
  t.same(node.store.account(carol.id), { balance: 0, nonce: 0 })
  t.same(await node.store.audit(), [])
  const c4 = makeBlock(node.store, c3, { miner: m2.id })
  const r4 = await node.submitBlock(c4)
  t.ok(!r4.accepted && r4.code === 'ERR_KNOWN_INVALID', 'a descendant of the invalid block is rejected')
  const again = await node.submitBlock(c3)
  t.ok(!again.accepted && again.code === 'ERR_KNOWN_INVALID', 'the invalid block is never retried')
  t.equal(node.rejected.ERR_KNOWN_INVALID, 2, 'rejections are counted')
  node = await restartSame(t, node, dir)
  const c5 = makeBlock(node.store, c4, { miner: m2.id })
  const r5 = await node.submitBlock(c5)
  t.ok(!r5.accepted && r5.code === 'ERR_KNOWN_INVALID', 'still rejected after a restart')
  t.equal(node.store.tip.hex, idOf(a2))
  await node.close()
})

t.test('double spend across branches', async (t) => {
  let { node, dir, a1, a2 } = await base(t)
  const toBob = buildTxCoin(alice, { to: bob.id, amount: R - 10, fee: 10, nonce: 0 })
  const toCarol = buildTxCoin(alice, { to: carol.id, amount: R - 10, fee: 10, nonce: 0 })
  t.ok((await node.submitTx(toBob)).accepted)
  const dup = await node.submitTx(toCarol)
  t.ok(!dup.accepted && dup.code === 'ERR_NONCE', 'the mempool refuses the second spend of nonce 0')
  const a3 = makeBlock(node.store, a2, { miner: m1.id, txs: [toBob] })
  await accept(t, node, a3, 'connected')
  t.same(node.store.account(bob.id), { balance: R - 10, nonce: 0 })
  // The other branch spends the same nonce to carol and outgrows the first.
  const d2 = makeBlock(node.store, a1, { miner: m2.id, salt: 1, txs: [keyTx(1)] })
  const d3 = makeBlock(node.store, d2, { miner: m2.id, txs: [toCarol] })
  const d4 = makeBlock(node.store, d3, { miner: m2.id })
  await accept(t, node, d2, 'side')
  await accept(t, node, d3, 'side')
  const dropped: string[] = []
  node.on('drop', (d: { id: string, reason: string }) => { dropped.push(d.reason) })
  await accept(t, node, d4, 'connected')
  t.same(node.store.account(bob.id), { balance: 0, nonce: 0 }, 'bob loses the payment of the orphaned branch')
  t.same(node.store.account(carol.id), { balance: R - 10, nonce: 0 })
  t.same(node.store.account(alice.id), { balance: 0, nonce: 1 })
  t.equal(node.mempool.size, 0, 'the spend to bob does not come back: its nonce is used')
  t.ok(dropped.some((r) => /nonce/.test(r)), `dropped with a reason: ${dropped.join('; ')}`)
  // Re-sending the spend to bob is refused too.
  const resend = await node.submitTx(toBob)
  t.ok(!resend.accepted && resend.code === 'ERR_NONCE')
  // A block carrying it on the new tip is invalid.
  const bad = makeBlock(node.store, d4, { miner: m1.id, txs: [toBob] })
  const rb = await node.submitBlock(bad)
  t.ok(rb.accepted && rb.status === 'invalid', 'a block replaying the double spend is marked invalid')
  node = await restartSame(t, node, dir)
  await node.close()
})
