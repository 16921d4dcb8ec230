/**
 * What an accounting node reads off Userchain for each tx_diag (paper §IV-B2,
 * §IV-B4): the user of a cited tx_IoT (UserchainView) and the Healthcoin
 * credit that user has left (CreditBook), on a real LevelDB chain store,
 * through new blocks and a reorg.
 */
import t from 'tap'
import { buildTxCoin, buildTxDiag, buildTxIoT, buildTxKey, dblockProposal, sha256, txId, utf8Bytes, type Dblock, type Tx } from '../../hub/src/core/index.ts'
import { ChainStore } from '../../hub/src/store/chain.ts'
import { UserchainView } from '../../hub/src/roles/accounting/userchain-view.ts'
import { CreditBook } from '../../hub/src/roles/consortium/credit.ts'
import { who } from '../helpers/core.ts'
import { makeBlock, TESTNET, tempDir } from '../helpers/userchain.ts'

const alice = who('credit-alice')
const bob = who('credit-bob')
const doctor = who('credit-doctor')
const consortium = who('credit-consortium')
const TS = TESTNET.genesisTime + 5
const h = (s: string): Uint8Array => sha256(utf8Bytes(s))
const keyTx = (): Tx => buildTxKey(alice, { ts: TS, epoch: 1, ik: h('ik'), epochSecret: h('s'), doctors: [], ikmE: h('e') })
const iotTx = (i: number): Tx => buildTxIoT(alice, { ts: TS, heiot: h(`b${i}`), epoch: 1 })

function dblock (index: number, causes: Uint8Array[]): Dblock {
  return dblockProposal({ index, gtime: TS + index, prehash: new Uint8Array(32), view: 0, leader: new Uint8Array(32), txs: causes.map((c, i) => buildTxDiag(doctor, { ts: TS + i, causes: [c], hedm: h(`dm${index}/${i}`) })) })
}

t.test('UserchainView: the user of a confirmed tx_IoT; misses and reorgs are read afresh', async (t) => {
  const s = await ChainStore.open(await tempDir(t, 'cv'), TESTNET)
  t.teardown(async () => { await s.close() })
  const view = new UserchainView(s)
  const key = keyTx()
  const iot = iotTx(1)
  t.equal(await view.userOf(txId(iot)), null, 'not on Userchain yet')
  const b1 = makeBlock(s, s.tip, { miner: alice.id, txs: [key, iot] })
  t.equal((await s.addBlock(b1)).status, 'connected')
  t.same(await view.userOf(txId(iot)), alice.id, 'a miss is not kept once a block connects')
  t.same(await view.userOf(txId(iot)), alice.id, 'asked again (kept)')
  t.equal(await view.userOf(txId(key)), null, 'a tx_key is not a tx_IoT')
  // a heavier branch without the tx_IoT disconnects it
  const g = { hash: s.hashAt(0)! }
  const f1 = makeBlock(s, g, { miner: bob.id, salt: 1 })
  await s.addBlock(f1)
  await s.addBlock(makeBlock(s, f1, { miner: bob.id, salt: 1 }))
  t.equal(s.height, 2, 'the fork is the best chain')
  t.equal(await view.userOf(txId(iot)), null, 'disconnected by the reorg')
})

t.test('CreditBook: prepaid credit, consumed once per committed tx_diag, earned by the doctor; reorgs count', async (t) => {
  const s = await ChainStore.open(await tempDir(t, 'cc'), TESTNET)
  t.teardown(async () => { await s.close() })
  const view = new UserchainView(s)
  const userOf = async (c: Uint8Array): Promise<Uint8Array | null> => await view.userOf(c)
  const credit = new CreditBook(s, consortium.id, 100)
  const b1 = makeBlock(s, s.tip, { miner: alice.id, txs: [keyTx(), iotTx(1), iotTx(2), iotTx(3)] })
  await s.addBlock(b1)
  const causes = b1.txs.slice(2).map((x) => x.id)
  t.notOk(await credit.hasPaid(alice.id), 'nothing paid yet')
  const pay = buildTxCoin(alice, { to: consortium.id, amount: 250, fee: 0, nonce: 0 })
  const other = buildTxCoin(alice, { to: bob.id, amount: 1000, fee: 0, nonce: 1 })
  const b2 = makeBlock(s, b1, { miner: bob.id, txs: [pay, other] })
  t.equal((await s.addBlock(b2)).status, 'connected')
  t.equal(await credit.paid(alice.id), 250, 'only transfers to the consortium count')
  t.equal(await credit.transferred(alice.id, bob.id), 1000)
  t.ok(await credit.hasPaid(alice.id))

  const d1 = dblock(1, [causes[0]!, causes[1]!])
  await credit.onDblock(d1, userOf)
  t.same(await credit.state(alice.id), { paid: 250, consumed: 200, credit: 50 })
  t.notOk(await credit.hasPaid(alice.id), 'less than one price left')
  await credit.onDblock(d1, userOf)
  t.equal((await credit.state(alice.id)).consumed, 200, 'a Dblock fed again (a replay) is not charged twice')
  t.equal(credit.earned(doctor.id), 200, 'the doctor earns one price per committed diagnosis')

  const unknown = dblock(2, [h('not on Userchain')])
  await credit.onDblock(unknown, userOf)
  t.equal((await credit.state(alice.id)).consumed, 200, 'a cause not on Userchain charges nobody')
  t.equal(credit.earned(doctor.id), 200)

  // blocks on top: only they are read, the sum so far is kept
  const b3 = makeBlock(s, b2, { miner: bob.id, txs: [iotTx(4), buildTxCoin(alice, { to: consortium.id, amount: 100, fee: 0, nonce: 2 })] })
  t.equal((await s.addBlock(b3)).status, 'connected')
  t.equal(await credit.paid(alice.id), 350, 'a payment in a newer block adds to those before it')
  await s.addBlock(makeBlock(s, b3, { miner: bob.id, txs: [iotTx(5)] }))
  t.equal(await credit.paid(alice.id), 350, 'a block without a payment changes nothing')
  t.equal(await credit.transferred(alice.id, bob.id), 1000)

  // a reorg that drops the payment blocks takes the credit with it
  const f2 = makeBlock(s, b1, { miner: bob.id, salt: 3 })
  await s.addBlock(f2)
  let f = f2
  for (let i = 0; i < 3; i++) { f = makeBlock(s, f, { miner: bob.id, salt: 3 }); await s.addBlock(f) }
  t.equal(s.height, 5, 'the fork is the best chain')
  t.equal(await credit.paid(alice.id), 0, 'the payment was disconnected')
  t.equal((await credit.state(alice.id)).credit, -200)
})
