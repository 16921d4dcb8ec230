/**
 * Key management end to end through the chain store (paper §IV-B5, §V-C):
 * every tx_key and tx_IoT goes through a real CoreNode (LevelDB, signature
 * workers, ledger rules) and is mined into Ublocks; the doctors learn their
 * keys only by reading the chain. Grants, revocation with forward security,
 * a late grant, per-doctor diagnosis keys, and recovery from the chain alone.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import {
  buildTxIoT, buildTxKey, contentDigest, DecryptionError, openBatch, openDiagnosis, sealBatch, sealDiagnosis, solveUblockHeader, toHex, txId,
  utf8Bytes, type DoctorKey, type Tx, type TxIoT
} from '../../hub/src/core/index.ts'
import { CoreNode } from '../../hub/src/roles/core/node.ts'
import { UserKeys } from '../../hub/src/roles/user/keys.ts'
import { keyHistory } from '../../hub/src/roles/user/chain.ts'
import { DoctorKeyTracker } from '../../hub/src/roles/doctor/keys.ts'
import { NotGrantedError } from '../../hub/src/roles/user/errors.ts'
import { NOW, TESTNET, tempDir } from '../helpers/userchain.ts'
import { user, who } from '../helpers/core.ts'

const [D1, D2, D3] = [who('kc-d1'), who('kc-d2'), who('kc-d3')]
const directory = { lookup: (id: Uint8Array): DoctorKey | undefined => { const d = [D1!, D2!, D3!].find((x) => toHex(x.id) === toHex(id)); return d && { id: d.id, x25519: d.agreement.publicKey } } }
const rng = (n: number): Uint8Array => new Uint8Array(randomBytes(n))
const text = (b: Uint8Array): string => new TextDecoder().decode(b)

t.test('grant, revoke, late grant and recovery — all through Userchain', async (t) => {
  const dir = await tempDir(t, 'keys')
  const node = await CoreNode.open({ dir, params: TESTNET, now: () => NOW, verifyThreads: 1 })
  t.teardown(async () => { await node.close() })
  let ts = TESTNET.genesisTime + 5
  const keys = new UserKeys(user, { rng, now: () => ts++, directory })
  const submit = async (tx: Tx): Promise<void> => {
    const r = await node.submitTx(tx)
    if (!r.accepted) throw new Error(`${tx.kind} refused: ${r.code} ${r.reason}`)
  }
  const mine = async (): Promise<void> => {
    const tpl = node.template(user.id)
    const r = await node.submitBlock({ ...tpl, header: solveUblockHeader(tpl.header, 1_000_000)! })
    if (!r.accepted || r.status !== 'connected') throw new Error('block not connected')
  }
  // each doctor follows the chain, block by block, from where it left off
  const trackers = [D1!, D2!, D3!].map((d) => ({ tracker: new DoctorKeyTracker(d), height: 0 }))
  const follow = async (): Promise<void> => {
    for (const f of trackers) {
      for (; f.height < node.store.tip.height; f.height++) {
        const block = await node.store.getBlock(node.store.hashAt(f.height + 1)!)
        for (const { tx } of block!.txs) if (tx.kind === 'key') f.tracker.observe(tx)
      }
    }
  }
  const sealed: Array<{ tx: TxIoT, box: Uint8Array, plain: string }> = []
  const publishBatch = async (plain: string): Promise<TxIoT> => {
    const e = keys.current!
    const box = sealBatch(e.ik, rng(12), user.id, e.epoch, utf8Bytes(plain))
    const tx = buildTxIoT(user, { ts: ts++, heiot: contentDigest(box), epoch: e.epoch })
    await submit(tx)
    sealed.push({ tx, box, plain })
    return tx
  }

  await submit(keys.init()); await submit(keys.grant(D1!.id)); await submit(keys.grant(D2!.id))
  const b1 = await publishBatch('{"spo2":97}')
  await mine(); await follow()
  const [k1, k2, k3] = trackers.map((f) => f.tracker)
  t.equal(text(openBatch(k1!.keysFor(user.id, b1.epoch).ik, user.id, b1.epoch, sealed[0]!.box)), '{"spo2":97}', 'D1 decrypts the epoch batch, keys from the chain')
  t.equal(text(openBatch(k2!.keysFor(user.id, b1.epoch).ik, user.id, b1.epoch, sealed[0]!.box)), '{"spo2":97}', 'D2 too')

  await submit(keys.revoke(D1!.id))
  const b2 = await publishBatch('{"spo2":91}')
  await mine(); await follow()
  t.equal(k1!.status(user.id)!.granted, false, 'D1 learns of its revocation from the chain')
  t.throws(() => k1!.keysFor(user.id, b2.epoch), NotGrantedError, 'D1 has no key for the batch sealed after it')
  t.throws(() => openBatch(k1!.keysFor(user.id, b1.epoch).ik, user.id, b2.epoch, sealed[1]!.box), DecryptionError, 'its old key fails on the new batch')
  t.equal(text(openBatch(k2!.keysFor(user.id, b2.epoch).ik, user.id, b2.epoch, sealed[1]!.box)), '{"spo2":91}', 'D2 still reads')

  await submit(keys.grant(D3!.id))
  const b3 = await publishBatch('{"temp":38.2}')
  await mine(); await follow()
  t.equal(text(openBatch(k3!.keysFor(user.id, b3.epoch).ik, user.id, b3.epoch, sealed[2]!.box)), '{"temp":38.2}', 'D3 reads the current epoch')
  t.throws(() => k3!.keysFor(user.id, b1.epoch), NotGrantedError, 'D3 holds no key from before the revocation')
  t.throws(() => openBatch(k3!.keysFor(user.id, b3.epoch).ik, user.id, b1.epoch, sealed[0]!.box), DecryptionError, 'and cannot decrypt that batch')

  // dk differs per doctor; D2 cannot open D1's diagnosis
  const dk1 = k1!.keysFor(user.id, b1.epoch).dk
  const dk2 = k2!.keysFor(user.id, b1.epoch).dk
  t.not(toHex(dk1), toHex(dk2))
  const diag = sealDiagnosis(dk1, rng(12), D1!.id, txId(b1), utf8Bytes('hypoxaemia'))
  t.throws(() => openDiagnosis(dk2, D1!.id, txId(b1), diag), DecryptionError, 'D2 cannot open D1\'s diagnosis')

  // the chain refuses a stale epoch
  const stale = buildTxKey(user, { ts: ts++, epoch: 1, ik: rng(32), epochSecret: rng(32), doctors: [], ikmE: rng(32) })
  const r = await node.submitTx(stale)
  t.ok(!r.accepted && r.code === 'ERR_EPOCH_ORDER', `stale epoch refused (${r.accepted ? 'accepted' : r.reason})`)

  // recovery: wipe the user's local state but the private key; rebuild from the chain
  const history = await keyHistory(node.store, node.mempool, user.id)
  t.equal(history.length, 5, 'five tx_keys on Userchain')
  const rebuilt = UserKeys.fromChain(user, history, { rng, now: () => ts, directory })
  for (const s of sealed) t.equal(text(openBatch(rebuilt.epoch(s.tx.epoch).ik, user.id, s.tx.epoch, s.box)), s.plain, `recovered the key of epoch ${s.tx.epoch}`)
  t.equal(text(openDiagnosis(rebuilt.diagnosisKey(b1.epoch, D1!.id), D1!.id, txId(b1), diag)), 'hypoxaemia', 'and can read D1\'s diagnosis')
  t.same(rebuilt.doctors().map(toHex).sort(), [D2!, D3!].map((d) => toHex(d.id)).sort())
})
