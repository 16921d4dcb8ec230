/**
 * The chain store on a real LevelDB (issue #4): genesis on first open, the
 * network and lock guards, orphans, the state rules checked at connect
 * (key epochs, tx_IoT key references, nonces, balances, coinbase amount,
 * duplicates across blocks), the header index and the retarget context.
 */
import t from 'tap'
import {
  bodyTx, buildTxCoin, buildTxIoT, buildTxKey, genesisUblock, nextBits, sha256, toHex, txId, ublockHash, utf8Bytes, verifyMerkleProof, MAINNET, type Tx
} from '../../hub/src/core/index.ts'
import { ChainStore } from '../../hub/src/store/chain.ts'
import { who } from '../helpers/core.ts'
import { makeBlock, TESTNET, tempDir } from '../helpers/userchain.ts'

const alice = who('alice')
const bob = who('bob')
const TX_TS = TESTNET.genesisTime + 5
function h (s: string): Uint8Array { return sha256(utf8Bytes(s)) }
function keyTx (user: typeof alice, epoch: number, salt = ''): Tx {
  return buildTxKey(user, { ts: TX_TS, epoch, ik: h(`ik${epoch}${salt}`), epochSecret: h(`s${epoch}`), doctors: [], ikmE: h(`e${epoch}${salt}`) })
}
function iot (user: typeof alice, i: number, epoch: number): Tx { return buildTxIoT(user, { ts: TX_TS, heiot: h(`b${i}`), epoch }) }

t.test('first open writes genesis; reopen, network and lock guards', async (t) => {
  const dir = await tempDir(t, 'st')
  const s = await ChainStore.open(dir, TESTNET)
  t.equal(s.height, 0)
  t.equal(s.tip.hex, toHex(ublockHash(genesisUblock(TESTNET).header)), 'the tip is the network genesis')
  t.ok(await s.getBlock(s.tip.hash), 'genesis block stored')
  const locked = await ChainStore.open(dir, TESTNET).then(() => null, (err: { code?: string }) => err.code)
  t.equal(locked, 'ERR_STORE_LOCKED', 'a second process cannot open a data dir in use')
  await s.close()
  const other = await ChainStore.open(dir, MAINNET).then(() => null, (err: { code?: string }) => err.code)
  t.equal(other, 'ERR_NETWORK', 'a devnet data dir is not opened as mainnet')
  const again = await ChainStore.open(dir, TESTNET)
  t.equal(again.tip.hex, s.tip.hex)
  t.same(await again.audit(), [])
  await again.close()
})

t.test('state rules checked at connect', async (t) => {
  const dir = await tempDir(t, 'st')
  const s = await ChainStore.open(dir, TESTNET)
  t.teardown(async () => { await s.close() })
  const b1 = makeBlock(s, s.tip, { miner: alice.id, txs: [keyTx(alice, 1)] })
  t.equal((await s.addBlock(b1)).status, 'connected')
  t.equal(s.latestEpoch(alice.id), 1)
  t.ok(s.hasEpoch(alice.id, 1))
  t.same(s.epochTx(alice.id, 1), bodyTx(keyTx(alice, 1)).id, 'epoch → its tx_key')
  const invalid = async (txs: Tx[], why: RegExp, msg: string, f: { reward?: number } = {}): Promise<void> => {
    const r = await s.addBlock(makeBlock(s, b1, { miner: bob.id, txs, salt: Math.floor(Math.random() * 1000), ...f }))
    t.equal(r.status, 'invalid', msg)
    t.match(r.reason, why, msg)
    t.equal(s.tip.hex, toHex(ublockHash(b1.header)), 'the tip did not move')
  }
  await invalid([keyTx(alice, 1, 'x')], /not above the previous epoch 1/, 'tx_key epoch must rise')
  await invalid([keyTx(alice, 3), keyTx(alice, 2)], /epoch 2 is not above the previous epoch 3/, 'also within one block')
  await invalid([iot(alice, 1, 2)], /no tx_key of this user with epoch 2/, 'tx_IoT naming a missing epoch')
  await invalid([keyTx(bob, 1), iot(alice, 2, 2)], /epoch 2/, 'another user\'s epoch does not count')
  await invalid([buildTxCoin(alice, { to: bob.id, amount: 1, fee: 0, nonce: 1 })], /nonce 1, the account expects 0/, 'nonce gap')
  await invalid([buildTxCoin(bob, { to: alice.id, amount: 1, fee: 0, nonce: 0 })], /spends 1, the account holds 0/, 'overspend')
  await invalid([], /exceeds reward \+ fees/, 'coinbase paying more than reward + fees', { reward: TESTNET.blockReward + 1 })
  await invalid([keyTx(alice, 1)], /already on the chain/, 'a tx confirmed in an earlier block')
  // Valid: tx_key of epoch 2 and a tx_IoT using it in the same block, a transfer with a fee.
  const pay = buildTxCoin(alice, { to: bob.id, amount: 10, fee: 3, nonce: 0 })
  const b2 = makeBlock(s, b1, { miner: bob.id, txs: [keyTx(alice, 2), iot(alice, 5, 2), pay] })
  t.equal((await s.addBlock(b2)).status, 'connected', 'tx_key then tx_IoT of its epoch in one block')
  t.same(s.account(alice.id), { balance: TESTNET.blockReward - 13, nonce: 1 })
  t.same(s.account(bob.id), { balance: TESTNET.blockReward + 3 + 10, nonce: 0 }, 'coinbase = reward + fees, plus the transfer')
  t.equal(s.latestEpoch(alice.id), 2)
  t.same((await s.userTxs(bob.id)).map((x) => [x.height, x.pos]), [[2, 0], [2, 3]], 'per-user index: coinbase and transfer')
  t.same(toHex(s.hashAt(2)!), toHex(ublockHash(b2.header)), 'header index by height')
  const proofs = await s.userTxProofs(alice.id)
  t.equal(proofs.length, 5, 'alice: coinbase + tx_key of block 1; tx_key, tx_IoT, transfer of block 2')
  for (const p of proofs) {
    t.ok(verifyMerkleProof(p.tx.id, p.pos, p.size, p.proof, p.header.userroot), `proof of ${p.tx.tx.kind} at ${p.header.index}/${p.pos} verifies against the header`)
  }
  t.notOk(verifyMerkleProof(proofs[0]!.tx.id, proofs[0]!.pos, proofs[0]!.size, proofs[0]!.proof, proofs[3]!.header.userroot), 'and not against another block')
  t.same(await s.audit(), [])
})

t.test('orphans, duplicates and the header context', async (t) => {
  const dir = await tempDir(t, 'st')
  const s = await ChainStore.open(dir, TESTNET)
  t.teardown(async () => { await s.close() })
  const b1 = makeBlock(s, s.tip, { miner: alice.id })
  const b2 = makeBlock(s, b1, { miner: alice.id })
  const orphan = await s.addBlock(b2).then(() => null, (err: { code?: string }) => err.code)
  t.equal(orphan, 'ERR_ORPHAN', 'a block with an unknown parent')
  t.equal((await s.addBlock(b1)).status, 'connected')
  t.equal((await s.addBlock(b1)).status, 'duplicate')
  const ctx = s.headerContext(ublockHash(b1.header), 123)
  t.equal(ctx.prevIndex, 1)
  t.equal(ctx.expectedBits, TESTNET.genesisBits)
  t.same(ctx.prevTimes, [TESTNET.genesisTime, b1.header.gtime])
  t.equal(ctx.now, 123)
  // Retarget: on a network retargeting every 4 blocks, block 4's bits follow nextBits.
  const RT = { ...TESTNET, retargetInterval: 4, genesisBits: 0x1f7fffff }
  const dir2 = await tempDir(t, 'st')
  const r = await ChainStore.open(dir2, RT)
  t.teardown(async () => { await r.close() })
  let prev = r.tip as { hash: Uint8Array } | ReturnType<typeof makeBlock>
  for (let i = 1; i < 4; i++) {
    const b = makeBlock(r, prev, { miner: alice.id, bits: 0x1f7fffff })
    t.equal((await r.addBlock(b)).status, 'connected')
    prev = b
  }
  const expected = nextBits(RT, 4, 0x1f7fffff, RT.genesisTime, RT.genesisTime + 30)
  t.equal(r.nextBitsAfter(r.tip), expected, 'retarget over the window')
  t.not(expected, 0x1f7fffff, 'blocks 10 s apart against 3 s expected make the target easier')
})

t.test('reorgs deeper than the configured limit are not followed; the branch is kept', async (t) => {
  const dir = await tempDir(t, 'st')
  const s = await ChainStore.open(dir, TESTNET, { maxReorgDepth: 2 })
  t.teardown(async () => { await s.close() })
  const g = s.tip
  let main: ReturnType<typeof makeBlock> | null = null
  for (let i = 0; i < 3; i++) {
    main = makeBlock(s, main ?? g, { miner: alice.id })
    await s.addBlock(main)
  }
  let side: ReturnType<typeof makeBlock> | null = null
  const results: string[] = []
  for (let i = 0; i < 4; i++) {
    side = makeBlock(s, side ?? g, { miner: bob.id, salt: 1 })
    results.push((await s.addBlock(side)).status)
  }
  t.same(results, ['side', 'side', 'side', 'side'], 'a heavier branch forking 3 blocks back stays a side branch')
  t.equal(s.tip.hex, toHex(ublockHash(main!.header)))
  t.equal(s.blockCount, 1 + 3 + 4, 'the side branch is stored')
  // Within the limit it is followed: a fork 2 blocks back.
  const m1 = s.hashAt(1)!
  let near: ReturnType<typeof makeBlock> | { hash: Uint8Array } = { hash: m1 }
  for (let i = 0; i < 3; i++) {
    near = makeBlock(s, near, { miner: bob.id, salt: 2 })
    await s.addBlock(near)
  }
  t.equal(s.tip.hex, toHex(ublockHash((near as ReturnType<typeof makeBlock>).header)), 'a reorg of depth 2 is followed')
  t.same(await s.audit(), [])
})

t.test('per-user index: one entry per (user, block); a store of the older layout is reindexed on open', async (t) => {
  const dir = await tempDir(t, 'st')
  const s = await ChainStore.open(dir, TESTNET)
  const b1 = makeBlock(s, s.tip, { miner: alice.id, txs: [keyTx(alice, 1), keyTx(bob, 1)] })
  t.equal((await s.addBlock(b1)).status, 'connected')
  const b2 = makeBlock(s, b1, { miner: bob.id, txs: [iot(alice, 1, 1), iot(bob, 2, 1), iot(alice, 3, 1)] })
  t.equal((await s.addBlock(b2)).status, 'connected')
  const want = [[1, 0], [1, 1], [2, 1], [2, 3]]
  t.same((await s.userTxs(alice.id)).map((x) => [x.height, x.pos]), want, 'coinbase and tx_key of block 1, two tx_IoT of block 2')
  t.same((await s.userTxs(alice.id, 3)).map((x) => [x.height, x.pos]), want.slice(0, 3), 'limit counts transactions, not entries')
  t.same((await s.userTxs(alice.id)).map((x) => toHex(x.txid)), [b1.txs[0]!, b1.txs[1]!, b2.txs[1]!, b2.txs[3]!].map((x) => toHex(x.id)))
  t.same((await s.userTxs(alice.id, Infinity, 2)).map((x) => [x.height, x.pos]), want.slice(2), 'from a height up')
  t.same([s.userTxsAt(alice.id, 1), s.userTxsAt(alice.id, 2), s.userTxsAt(alice.id, 3)], [[0, 1], [1, 3], []], 'positions at one height')
  t.same((await s.txsAt(2, [1, 3])).map((x) => x === undefined ? null : toHex(txId(x))), [b2.txs[1]!, b2.txs[3]!].map((x) => toHex(x.id)), 'transactions of a block by position, each decoded alone')
  t.same(await s.txsAt(2, [9]), [undefined], 'a position the block does not have')
  t.same(txId((await s.confirmedTx(b2.txs[3]!.id))!), b2.txs[3]!.id, 'a confirmed transaction by id')
  t.same(txId((await s.confirmedTx(b2.txs[3]!.id))!), b2.txs[3]!.id, 'asked again')
  let entries = 0
  for await (const _ of s.db.keys({ gt: Uint8Array.of(0x55), lt: Uint8Array.of(0x56) })) entries++
  t.equal(entries, 1 + 2 + 2, 'one key per user and block: genesis coinbase; alice and bob in block 1, and in block 2')
  // An older layout: no layout record, per-tx keys (U‖id‖height‖pos → txid).
  await s.db.del(Uint8Array.of(0x6d, ...utf8Bytes('layout')))
  for await (const k of s.db.keys({ gt: Uint8Array.of(0x55), lt: Uint8Array.of(0x56) })) await s.db.del(k)
  await s.db.put(Uint8Array.of(0x55, ...alice.id, 0, 0, 0, 2, 0, 0, 0, 1), b2.txs[1]!.id)
  await s.close()
  const again = await ChainStore.open(dir, TESTNET)
  t.teardown(async () => { await again.close() })
  t.equal(again.height, 2)
  t.same((await again.userTxs(alice.id)).map((x) => [x.height, x.pos]), want, 'rebuilt in the current layout')
  t.same(await again.audit(), [])
})

t.test('a tx_key\'s Ik facts (ikFrom, C(Ik)) follow the best chain through a reorg, and the ikFrom rule reads them', async (t) => {
  const dir = await tempDir(t, 'st')
  const s = await ChainStore.open(dir, TESTNET)
  t.teardown(async () => { await s.close() })
  const fresh = keyTx(alice, 1)
  const b1 = makeBlock(s, s.tip, { miner: alice.id, txs: [fresh] })
  await s.addBlock(b1)
  const kept = buildTxKey(alice, { ts: TX_TS, epoch: 2, ikFrom: 1, ik: h('ik1'), epochSecret: h('s1'), doctors: [{ id: bob.id, x25519: bob.agreement.publicKey }], ikmE: h('e2') })
  const b2 = makeBlock(s, b1, { miner: alice.id, txs: [kept] })
  t.equal((await s.addBlock(b2)).status, 'connected', 'a history epoch keeping epoch 1\'s Ik connects')
  t.same(s.latestKey(alice.id), { epoch: 2, ikFrom: 1, ikCommit: kept.ikCommit, doctors: [bob.id] })
  // a heavier side branch from b1 with a fresh epoch 2 takes over
  const other = keyTx(alice, 2, 'side')
  const s2 = makeBlock(s, b1, { miner: bob.id, txs: [other], salt: 1 })
  await s.addBlock(s2)
  await s.addBlock(makeBlock(s, s2, { miner: bob.id, salt: 1 }))
  t.equal(s.tip.hex, toHex(ublockHash(s.entry(s.hashAt(3)!)!.header)), 'the side branch is the best chain')
  t.same(s.latestKey(alice.id), { epoch: 2, ikFrom: 2, ikCommit: other.kind === 'key' ? other.ikCommit : null, doctors: [] }, 'the fresh epoch 2 of the new best chain')
  // on this chain, keeping epoch 1's Ik at epoch 3 is a lie
  const lie = buildTxKey(alice, { ts: TX_TS, epoch: 3, ikFrom: 1, ik: h('ik1'), epochSecret: h('s1'), doctors: [], ikmE: h('e3') })
  const bad = await s.addBlock(makeBlock(s, { hash: s.hashAt(3)! }, { miner: bob.id, txs: [lie], salt: 1 }))
  t.equal(bad.status, 'invalid')
  t.match(bad.reason, /ikFrom: claims an Ik in use since epoch 1, but its Ik is not the one of epoch 2/)
  t.same(await s.audit(), [])
  await s.close()
  const again = await ChainStore.open(dir, TESTNET)
  t.same(again.latestKey(alice.id)?.ikFrom, 2, 'the record is on disk')
  await again.close()
})
