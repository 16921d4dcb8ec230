/**
 * A transaction signed by one key but claiming another ID is rejected, for
 * every signed kind (paper §III-B: an adversary may forge messages but holds
 * no one else's private key): tx_IoT and tx_key claiming another user,
 * TxCoin spending another account, tx_diag claiming a registered doctor,
 * and an identity record claiming another ID. The node keeps serving: the
 * honest transaction right after is accepted. (Replays — the same tx again,
 * a confirmed tx again, a tx_diag resubmitted — are pinned in
 * test/integration/userchain-node.test.ts and test/unit/pbft-accounting.test.ts.)
 */
import t from 'tap'
import {
  bodyTx, buildIdentityRecord, buildTxCoin, buildTxDiag, buildTxIoT, buildTxKey, decodeIdentityRecord, encodeIdentityRecord, encodeTx,
  sha256, utf8Bytes, type Tx
} from '../../hub/src/core/index.ts'
import { DoctorRegistry } from '../../hub/src/core/pbft/registry.ts'
import { checkDiagSync } from '../../hub/src/roles/accounting/validate.ts'
import { CoreNode } from '../../hub/src/roles/core/node.ts'
import { who } from '../helpers/core.ts'
import { makeBlock, NOW, TESTNET, tempDir } from '../helpers/userchain.ts'

const h = (s: string): Uint8Array => sha256(utf8Bytes(s))
const mallory = who('mallory')
const alice = who('alice')
const TX_TS = TESTNET.genesisTime + 5

t.test('every signed kind claiming someone else\'s ID is refused; the node keeps serving', async (t) => {
  const dir = await tempDir(t, 'impersonation')
  const node = await CoreNode.open({ dir, params: TESTNET, now: () => NOW, verifyThreads: 1 })
  t.teardown(async () => { await node.close() })
  const aliceKey = buildTxKey(alice, { ts: TX_TS, epoch: 1, ik: h('ik'), epochSecret: h('s'), doctors: [], ikmE: h('e') })
  t.ok((await node.submitBlock(makeBlock(node.store, node.store.tip, { miner: alice.id, txs: [aliceKey] }))).accepted, 'alice has epoch 1 and a coinbase')

  const claims: Array<[string, Tx]> = [
    ['tx_IoT signed by mallory as alice', { ...buildTxIoT(mallory, { ts: TX_TS, heiot: h('x'), epoch: 1 }), user: alice.id }],
    ['tx_key signed by mallory as alice', { ...buildTxKey(mallory, { ts: TX_TS, epoch: 2, ik: h('ik2'), epochSecret: h('s2'), doctors: [], ikmE: h('e2') }), user: alice.id }],
    ['TxCoin signed by mallory spending alice\'s coins', { ...buildTxCoin(mallory, { to: mallory.id, amount: 1000, fee: 1, nonce: 0 }), from: alice.id }]
  ]
  for (const [what, tx] of claims) {
    const r = await node.submitTx(encodeTx(tx))
    t.ok(!r.accepted && r.code === 'ERR_BAD_SIGNATURE', `${what}: ${r.accepted ? 'accepted!' : r.code}`)
  }
  t.ok(node.rejected.ERR_BAD_SIGNATURE! >= claims.length, 'each refusal is counted')
  const honest = await node.submitTx(encodeTx(buildTxIoT(alice, { ts: TX_TS, heiot: h('honest'), epoch: 1 })))
  t.ok(honest.accepted, 'alice\'s own tx_IoT right after is accepted')
})

t.test('a tx_diag claiming a registered doctor, and an identity record claiming another ID, are refused', async (t) => {
  const doctor = who('registered-doctor')
  const registry = new DoctorRegistry({ members: [alice.id], threshold: 1 }, [encodeIdentityRecord(buildIdentityRecord(doctor, 1))])
  const forged = { ...buildTxDiag(mallory, { ts: 1_790_000_000, causes: [h('c')], hedm: h('d') }), doctor: doctor.id }
  t.equal(checkDiagSync(bodyTx(forged), registry)?.code, 'ERR_BAD_SIGNATURE', 'accounting nodes refuse it with a reason')
  const genuine = buildTxDiag(doctor, { ts: 1_790_000_000, causes: [h('c')], hedm: h('d') })
  t.equal(checkDiagSync(bodyTx(genuine), registry), null, 'the doctor\'s own passes')
  const record = { ...buildIdentityRecord(mallory, 1), id: doctor.id }
  t.throws(() => decodeIdentityRecord(encodeIdentityRecord(record)), { code: 'ERR_BAD_SIGNATURE' }, 'identity record signed by another key')
})
