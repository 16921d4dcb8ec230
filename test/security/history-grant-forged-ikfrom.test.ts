/**
 * Attack history-grant-forged-ikfrom (paper §IV-B5 Alg. 3, §V-C): a tx_key
 * claims an ikFrom its Ik does not have — history across a rotation, an Ik
 * kept since earlier than it was made, a kept Ik passed off as fresh — so
 * that accounting nodes would admit (and pay for) diagnoses of data the
 * doctor cannot read, or a revocation's fresh Ik would look like the old one.
 * Real parts: a Userchain core node on LevelDB, blocks mined for real. Every
 * forgery is refused with ERR_IK_FROM, in the mempool and in a mined block,
 * and the user's key state on the chain is unchanged; the honest history
 * grant goes through.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildTxKey, DEVNET, solveUblockHeader, toHex, ublockTemplate, type DoctorKey, type Identity, type TxKey } from '../../hub/src/core/index.ts'
import { CoreNode } from '../../hub/src/roles/core/node.ts'
import { UserKeys } from '../../hub/src/roles/user/keys.ts'
import { legacyTxKey, who } from '../helpers/core.ts'
import { mine } from '../helpers/doctor-world.ts'

const rng = (n: number): Uint8Array => new Uint8Array(randomBytes(n))
const now = (): number => Math.floor(Date.now() / 1000) - 5

t.test('history-grant-forged-ikfrom: a tx_key whose ikFrom is not true of the chain is refused, in the mempool and in a block', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'forged-ikfrom-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const core = await CoreNode.open({ dir: join(dir, 'userchain'), params: DEVNET, verifyThreads: 1 })
  t.teardown(async () => { await core.close() })
  const miner = who('fik-miner')
  const doctor = who('fik-doctor')
  const dk: DoctorKey = { id: doctor.id, x25519: doctor.agreement.publicKey }
  const directory = { lookup: (id: Uint8Array): DoctorKey | undefined => toHex(id) === toHex(doctor.id) ? dk : undefined }
  const patient = who('fik-patient')
  const keys = new UserKeys(patient, { rng, now, directory })
  const send = async (tx: TxKey): Promise<void> => { const r = await core.submitTx(tx); if (!r.accepted) throw new Error(`refused: ${r.reason}`); keys.apply(tx) }
  await mine(core, miner.id)
  await send(keys.prepare({ kind: 'init' })) // epoch 1
  await send(keys.prepare({ kind: 'rotate' })) // epoch 2: a fresh Ik
  await mine(core, miner.id)
  const state = core.store.latestKey(patient.id)
  t.same(state && [state.epoch, state.ikFrom], [2, 2])

  const forge = (ik: Uint8Array, ikFrom: number, user: Identity = patient, epoch = 3): TxKey =>
    buildTxKey(user, { ts: now(), epoch, ikFrom, ik, epochSecret: rng(32), doctors: user === patient ? [dk] : [], ikmE: rng(32) })
  const forgeries = [
    { what: 'a fresh Ik claiming the history of the previous epoch', tx: forge(rng(32), 2), says: /its Ik is not the one of epoch 2/ },
    { what: 'the Ik of before the rotation, claimed back to epoch 1', tx: forge(keys.epoch(1).ik, 1), says: /its Ik is not the one of epoch 2/ },
    { what: 'the kept Ik, claimed from before it was made', tx: forge(keys.epoch(2).ik, 1), says: /in use since epoch 2/ },
    { what: 'the kept Ik, passed off as fresh', tx: forge(keys.epoch(2).ik, 3), says: /claims a fresh Ik from epoch 3, but commits to the Ik of epoch 2/ },
    { what: 'a first tx_key claiming a history', tx: forge(rng(32), 1, who('fik-stranger'), 2), says: /no earlier tx_key/ }
  ]
  for (const f of forgeries) {
    const r = await core.submitTx(f.tx)
    t.notOk(r.accepted, `${f.what}: refused by the mempool`)
    if (!r.accepted) {
      t.equal(r.code, 'ERR_IK_FROM', `${f.what}: ${r.reason}`)
      t.match(r.reason, f.says)
    }
  }

  // a miner that skips the mempool's check: the block is refused when it connects
  const tip = core.store.tip
  const tpl = ublockTemplate({ prev: tip.header, prevHash: tip.hash, gtime: Math.max(now(), tip.header.gtime + 1), bits: core.store.nextBitsAfter(tip), miner: miner.id, reward: DEVNET.blockReward, txs: [forgeries[0]!.tx] })
  let header = null
  for (let nonce = 0; header === null; nonce += 1_000_000) header = solveUblockHeader({ ...tpl.header, nonce }, 1_000_000)
  const b = await core.submitBlock({ header, txs: tpl.txs })
  t.equal(b.accepted && b.status, 'invalid', 'a mined block carrying the forgery is marked invalid')
  t.match(b.accepted ? b.reason : b.reason, /ikFrom: claims an Ik in use since epoch 2, but its Ik is not the one of epoch 2/, 'the reason names the ikFrom rule')
  t.equal(toHex(core.store.tip.hash), toHex(tip.hash), 'the tip did not move')
  t.same(core.store.latestKey(patient.id), state, 'the patient\'s key state on the chain is unchanged')

  // the honest history grant keeps epoch 2's Ik and says so
  const honest = keys.prepare({ kind: 'grant', doctor: doctor.id, scope: 'history' })
  t.equal(honest.ikFrom, 2)
  await send(honest)
  await mine(core, miner.id)
  t.same(core.store.latestKey(patient.id)?.ikFrom, 2, 'the honest history grant is mined with ikFrom 2')

  // keeping the Ik is granting: it cannot take the Ik back from a doctor, nor be kept for nothing
  const other = who('fik-other-doctor')
  const keep = (doctors: DoctorKey[]): TxKey => buildTxKey(patient, { ts: now(), epoch: 4, ikFrom: 2, ik: keys.epoch(3).ik, epochSecret: keys.epoch(3).epochSecret, doctors, ikmE: rng(32) })
  const drops = await core.submitTx(keep([{ id: other.id, x25519: other.agreement.publicKey }]))
  t.notOk(drops.accepted, 'a kept Ik that drops the granted doctor: refused')
  if (!drops.accepted) t.match(drops.reason, new RegExp(`drops doctor ${toHex(doctor.id)}`))
  const idle = await core.submitTx(keep([dk]))
  t.notOk(idle.accepted, 'a kept Ik that grants no one new: refused')
  if (!idle.accepted) t.match(idle.reason, /grants no new doctor/)

  // a version-1 tx_key commits to no Ik: nothing may claim to extend it
  const old = who('fik-legacy')
  const legacyKeys = new UserKeys(old, { rng, now, directory })
  const v1 = legacyTxKey(legacyKeys.prepare({ kind: 'init' }), old)
  const r1 = await core.submitTx(v1)
  t.ok(r1.accepted, 'a version-1 tx_key is still accepted (it claims nothing)')
  legacyKeys.apply(v1)
  await mine(core, miner.id)
  const claim = forge(legacyKeys.epoch(1).ik, 1, old, 2)
  const r2 = await core.submitTx(claim)
  t.notOk(r2.accepted, 'a claim to extend its Ik is refused')
  if (!r2.accepted) t.match(r2.reason, /epoch 1 commits to no Ik/)
  const grant = legacyKeys.prepare({ kind: 'grant', doctor: doctor.id, scope: 'history' })
  t.equal(grant.ikFrom, grant.epoch, 'the user\'s own history grant over it claims nothing earlier')
  t.ok((await core.submitTx(grant)).accepted)
})
