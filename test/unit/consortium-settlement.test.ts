/**
 * The consortium's settlement (paper §IV-B4, roles/consortium/settlement.ts)
 * on a real core node and LevelDB chain store: each doctor is paid what it
 * earned for committed diagnoses, one settlement in flight at a time, and a
 * restart (a new node on the same directory and a CreditBook fed again from
 * Docchain) never pays twice — neither while the transfers are pending nor
 * once they are confirmed — and pays only what was earned since.
 */
import t from 'tap'
import { join } from 'node:path'
import { buildTxDiag, buildTxIoT, buildTxKey, dblockProposal, sha256, toHex, utf8Bytes, type Dblock, type Identity, type Tx } from '../../hub/src/core/index.ts'
import { CoreNode } from '../../hub/src/roles/core/node.ts'
import { UserchainView } from '../../hub/src/roles/accounting/userchain-view.ts'
import { CreditBook } from '../../hub/src/roles/consortium/credit.ts'
import { settle, settler } from '../../hub/src/roles/consortium/settlement.ts'
import { who } from '../helpers/core.ts'
import { makeBlock, NOW, TESTNET, tempDir } from '../helpers/userchain.ts'

const alice = who('settle-alice')
const [docA, docB] = [who('settle-doctor-a'), who('settle-doctor-b')] as [Identity, Identity]
const consortium = who('settle-consortium')
const miner = who('settle-miner')
const PRICE = 100
const TS = TESTNET.genesisTime + 5
const h = (s: string): Uint8Array => sha256(utf8Bytes(s))
const iotTx = (i: number): Tx => buildTxIoT(alice, { ts: TS, heiot: h(`b${i}`), epoch: 1 })

/** A committed Dblock with one tx_diag per (doctor, cause). */
function dblock (index: number, diags: Array<[Identity, Uint8Array]>): Dblock {
  return dblockProposal({ index, gtime: TS + index, prehash: new Uint8Array(32), view: 0, leader: new Uint8Array(32), txs: diags.map(([d, c], i) => buildTxDiag(d, { ts: TS + i, causes: [c], hedm: h(`dm${index}/${i}`) })) })
}

t.test('pays what doctors earned once, across restarts, pending or confirmed', async (t) => {
  const dir = join(await tempDir(t, 'settle'), 'uc')
  const open = async (): Promise<CoreNode> => await CoreNode.open({ dir, params: TESTNET, verifyThreads: 1, now: () => NOW })
  let core = await open()
  t.teardown(async () => { await core.close() })
  // the consortium's account holds one block reward; alice's tx_IoT are the diagnoses' causes
  const iots = [1, 2, 3, 4].map(iotTx)
  const b1 = makeBlock(core.store, core.store.tip, { miner: consortium.id, txs: [buildTxKey(alice, { ts: TS, epoch: 1, ik: h('ik'), epochSecret: h('s'), doctors: [], ikmE: h('e') }), ...iots] })
  t.equal((await core.submitBlock(b1)).accepted, true)
  const causes = b1.txs.slice(2).map((x) => x.id)
  const dblocks = [dblock(1, [[docA, causes[0]!], [docA, causes[1]!]]), dblock(2, [[docB, causes[2]!]])]
  /** A CreditBook fed Docchain from the start, as an accounting node builds it when it starts. */
  const book = async (upTo: number): Promise<CreditBook> => {
    const view = new UserchainView(core.store)
    const credit = new CreditBook(core.store, consortium.id, PRICE)
    for (const b of dblocks.slice(0, upTo)) await credit.onDblock(b, async (c) => await view.userOf(c))
    return credit
  }
  let credit = await book(2)
  t.same(credit.earners().map(toHex), [docA, docB].map((d) => toHex(d.id)), 'the doctors who earned')

  const paid = await settle(core, consortium, credit)
  t.same(paid.map((p) => [p.doctor, p.amount]), [[toHex(docA.id), 2 * PRICE], [toHex(docB.id), PRICE]], 'each doctor paid what it earned')
  t.same(core.mempool.list().map((e) => e.bt.tx.kind === 'coin' ? [toHex(e.bt.tx.to), e.bt.tx.amount, e.bt.tx.nonce] : null),
    [[toHex(docA.id), 2 * PRICE, 0], [toHex(docB.id), PRICE, 1]], 'two transfers from the consortium, consecutive nonces, on the core node')
  t.same(await settle(core, consortium, credit), [], 'nothing more while they are pending')

  // restart: the node reloads its mempool, the CreditBook is rebuilt from Docchain
  await core.close()
  core = await open()
  credit = await book(2)
  t.equal(core.mempool.list().length, 2, 'the pending transfers survive the restart')
  t.same(await settle(core, consortium, credit), [], 'a restart with the transfers pending pays nothing')

  // a block confirms them
  const b2 = makeBlock(core.store, b1, { miner: miner.id, txs: core.mempool.list().map((e) => e.bt.tx) })
  t.equal((await core.submitBlock(b2)).accepted, true)
  t.equal(core.mempool.list().length, 0)
  t.equal(await credit.transferred(consortium.id, docA.id), 2 * PRICE, 'confirmed on Userchain')
  t.same(await settle(core, consortium, credit), [], 'nothing owed once confirmed')

  await core.close()
  core = await open()
  credit = await book(2)
  t.same(await settle(core, consortium, credit), [], 'a restart after confirmation pays nothing')

  // one more committed diagnosis by doctor A: only that is paid, once, even when asked twice at the same time
  dblocks.push(dblock(3, [[docA, causes[3]!]]))
  credit = await book(3)
  const run = settler(core, consortium, credit)
  const [x, y] = await Promise.all([run(), run()])
  t.same([...x, ...y].map((p) => [p.doctor, p.amount]), [[toHex(docA.id), PRICE]], 'only the new earning, by one of two concurrent passes')
  t.equal(core.mempool.list().length, 1)
})

t.test('a doctor owed more than the consortium holds is not paid', async (t) => {
  const core = await CoreNode.open({ dir: join(await tempDir(t, 'settle2'), 'uc'), params: TESTNET, verifyThreads: 1, now: () => NOW })
  t.teardown(async () => { await core.close() })
  const iot = iotTx(9)
  const b1 = makeBlock(core.store, core.store.tip, { miner: miner.id, txs: [buildTxKey(alice, { ts: TS, epoch: 1, ik: h('ik'), epochSecret: h('s'), doctors: [], ikmE: h('e') }), iot] })
  t.equal((await core.submitBlock(b1)).accepted, true)
  const credit = new CreditBook(core.store, consortium.id, PRICE)
  const view = new UserchainView(core.store)
  await credit.onDblock(dblock(1, [[docA, b1.txs[2]!.id]]), async (c) => await view.userOf(c))
  t.equal(credit.earned(docA.id), PRICE)
  t.same(await settle(core, consortium, credit), [], 'an empty consortium account pays nothing')
  t.equal(core.mempool.list().length, 0)
})
