/**
 * Key management (paper §IV-B5 Alg. 3, §V-C): grants, revocation with forward
 * security, per-doctor diagnosis keys, and recovery from the chain alone.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import {
  DecryptionError, decodeTx, encodeTx, openBatch, openDiagnosis, sealBatch, sealDiagnosis, txId, buildTxIoT,
  utf8Bytes, type TxKey, type DoctorKey, LimitExceededError, MAX_ENVELOPES
} from '../../hub/src/core/index.ts'
import { toHex } from '../../hub/src/core/codec.ts'
import { publishEpoch, UserKeys, type DoctorDirectory } from '../../hub/src/roles/user/keys.ts'
import { DoctorKeyTracker } from '../../hub/src/roles/doctor/keys.ts'
import { AlreadyGrantedError, NotGrantedError, StaleEpochError, UnregisteredDoctorError } from '../../hub/src/roles/user/errors.ts'
import { user, who } from '../helpers/core.ts'

const [D1, D2, D3] = [who('kd1'), who('kd2'), who('kd3')]
const directory: DoctorDirectory = {
  lookup: (id) => [D1!, D2!, D3!].map((d): DoctorKey => ({ id: d.id, x25519: d.agreement.publicKey })).find((d) => Buffer.compare(d.id, id) === 0)
}
const rng = (n: number): Uint8Array => new Uint8Array(randomBytes(n))
const text = (b: Uint8Array): string => new TextDecoder().decode(b)

t.test('grant D1, D2; revoke D1; grant D3 — forward security', async (t) => {
  const clock = { t: 1_790_000_000 }
  const keys = new UserKeys(user, { rng, now: () => clock.t, directory })
  const chain: TxKey[] = []
  const pub = (tx: TxKey): void => { chain.push(decodeTx(encodeTx(tx)) as TxKey); clock.t += 60 }
  const trackers = [D1!, D2!, D3!].map((d) => new DoctorKeyTracker(d))
  const seen: TxKey[] = []
  const sync = (): void => { for (const tx of chain.splice(0)) { seen.push(tx); for (const tk of trackers) tk.observe(tx) } }

  pub(keys.init()); pub(keys.grant(D1!.id)); pub(keys.grant(D2!.id)); sync()
  const e1 = keys.current!.epoch
  const batch1 = sealBatch(keys.current!.ik, rng(12), user.id, e1, utf8Bytes('{"hr":[72,74]}'))
  for (const [i, d] of [[0, 'D1'], [1, 'D2']] as const) {
    const k = trackers[i]!.keysFor(user.id, e1)
    t.equal(text(openBatch(k.ik, user.id, e1, batch1)), '{"hr":[72,74]}', `${d} reads the epoch-${e1} batch`)
  }
  t.throws(() => trackers[2]!.keysFor(user.id, e1), NotGrantedError, 'D3 holds nothing yet')

  pub(keys.revoke(D1!.id)); sync()
  const e2 = keys.current!.epoch
  t.ok(e2 > e1)
  const batch2 = sealBatch(keys.current!.ik, rng(12), user.id, e2, utf8Bytes('{"spo2":88}'))
  t.equal(trackers[0]!.status(user.id)!.granted, false, 'D1 sees its revocation')
  t.equal(trackers[0]!.status(user.id)!.revokedAt, e2)
  t.throws(() => trackers[0]!.keysFor(user.id, e2), NotGrantedError, 'D1 has no key for the new epoch')
  const oldK1 = trackers[0]!.keysFor(user.id, e1)
  t.throws(() => openBatch(oldK1.ik, user.id, e2, batch2), DecryptionError, 'D1 cannot decrypt a batch sealed after the revocation')
  t.throws(() => openBatch(oldK1.ik, user.id, e1, batch2), DecryptionError, '…under any epoch label')
  t.equal(text(openBatch(trackers[1]!.keysFor(user.id, e2).ik, user.id, e2, batch2)), '{"spo2":88}', 'D2 still can')

  pub(keys.grant(D3!.id)); sync()
  const e3 = keys.current!.epoch
  const batch3 = sealBatch(keys.current!.ik, rng(12), user.id, e3, utf8Bytes('{"temp":38.4}'))
  const k3 = trackers[2]!.keysFor(user.id, e3)
  t.equal(text(openBatch(k3.ik, user.id, e3, batch3)), '{"temp":38.4}', 'D3 reads the current epoch')
  t.throws(() => trackers[2]!.keysFor(user.id, e1), NotGrantedError, 'D3 holds no key of the epoch before the revocation')
  t.throws(() => openBatch(k3.ik, user.id, e1, batch1), DecryptionError, 'D3 cannot decrypt batches sealed before it was granted (older key)')
  t.same(trackers[2]!.patientsGranted().map((u) => Buffer.from(u).toString('hex')), [Buffer.from(user.id).toString('hex')])
  t.same(trackers[0]!.patientsGranted(), [], 'D1 has no patients left')

  t.throws(() => keys.grant(D2!.id), AlreadyGrantedError)
  t.throws(() => keys.revoke(D1!.id), NotGrantedError)
  t.throws(() => keys.grant(who('stranger').id), UnregisteredDoctorError)
  t.throws(() => keys.apply(seen[1]!), StaleEpochError, 'a stale epoch is rejected')
})

t.test('each doctor has its own dk; D2 cannot open D1\'s diagnosis', async (t) => {
  const clock = { t: 1_790_000_000 }
  const keys = new UserKeys(user, { rng, now: () => clock.t++, directory })
  const txs = [keys.init(), keys.grant(D1!.id), keys.grant(D2!.id)]
  const t1 = new DoctorKeyTracker(D1!)
  const t2 = new DoctorKeyTracker(D2!)
  for (const tx of txs) { t1.observe(tx); t2.observe(tx) }
  const e = keys.current!.epoch
  const k1 = t1.keysFor(user.id, e)
  const k2 = t2.keysFor(user.id, e)
  t.not(Buffer.from(k1.dk).toString('hex'), Buffer.from(k2.dk).toString('hex'), 'dk_i1 ≠ dk_i2')
  t.same(k1.ik, k2.ik, 'both read the same IoT key')
  const iot = buildTxIoT(user, { ts: clock.t, heiot: rng(32), epoch: e })
  const diag = sealDiagnosis(k1.dk, rng(12), D1!.id, txId(iot), utf8Bytes('sinus tachycardia'))
  t.throws(() => openDiagnosis(k2.dk, D1!.id, txId(iot), diag), DecryptionError, 'D2 cannot open it')
  t.equal(text(openDiagnosis(keys.diagnosisKey(e, D1!.id), D1!.id, txId(iot), diag)), 'sinus tachycardia', 'the user can')
})

t.test('recovery from the chain alone: every past batch and diagnosis', async (t) => {
  const clock = { t: 1_790_000_000 }
  const keys = new UserKeys(user, { rng, now: () => clock.t++, directory })
  const chain: TxKey[] = []
  const sealed: Array<{ epoch: number, box: Uint8Array, text: string }> = []
  const diagnoses: Array<{ epoch: number, doctor: Uint8Array, cause: Uint8Array, box: Uint8Array }> = []
  const seal = (s: string): void => {
    const e = keys.current!
    sealed.push({ epoch: e.epoch, box: sealBatch(e.ik, rng(12), user.id, e.epoch, utf8Bytes(s)), text: s })
    for (const d of e.doctors) {
      const cause = rng(32)
      diagnoses.push({ epoch: e.epoch, doctor: d, cause, box: sealDiagnosis(keys.diagnosisKey(e.epoch, d), rng(12), d, cause, utf8Bytes(`dx ${s}`)) })
    }
  }
  chain.push(keys.init()); seal('a')
  chain.push(keys.grant(D1!.id)); seal('b')
  chain.push(keys.grant(D2!.id)); seal('c')
  chain.push(keys.revoke(D1!.id)); seal('d')
  chain.push(keys.rotate()); seal('e')
  // wipe everything but the private key; rebuild from the tx_keys (shuffled) as read from the chain
  const wire = chain.map((x) => encodeTx(x)).reverse().map((b) => decodeTx(b) as TxKey)
  const rebuilt = UserKeys.fromChain(user, wire, { rng, now: () => clock.t, directory })
  t.equal(rebuilt.history().length, 5)
  for (const s of sealed) t.equal(text(openBatch(rebuilt.epoch(s.epoch).ik, user.id, s.epoch, s.box)), s.text, `batch ${s.text} (epoch ${s.epoch})`)
  for (const d of diagnoses) t.match(text(openDiagnosis(rebuilt.diagnosisKey(d.epoch, d.doctor), d.doctor, d.cause, d.box)), /^dx /)
  t.equal(diagnoses.length, 0 + 1 + 2 + 1 + 1)
  t.same(rebuilt.doctors(), keys.doctors())
})

t.test('scheduled rotation and envelope limit', async (t) => {
  const clock = { t: 1_000 }
  const keys = new UserKeys(user, { rng, now: () => clock.t, directory, rotationSeconds: 3600 })
  t.ok(keys.rotationDue(), 'no epoch yet: due')
  keys.init(); keys.grant(D1!.id)
  clock.t += 1800
  t.notOk(keys.rotationDue())
  clock.t += 1800
  t.ok(keys.rotationDue(), 'after the period')
  const ikBefore = keys.current!.ik
  keys.rotate()
  t.not(Buffer.from(keys.current!.ik).toString('hex'), Buffer.from(ikBefore).toString('hex'), 'fresh Ik')
  t.notOk(keys.rotationDue())
  const many = new UserKeys(user, { rng, now: () => clock.t, directory: { lookup: (id) => ({ id, x25519: D1!.agreement.publicKey }) } })
  many.init()
  for (let i = 0; i < MAX_ENVELOPES; i++) many.grant(who(`m${i}`).id)
  t.throws(() => many.grant(who('one-too-many').id), LimitExceededError, 'more envelopes than the limit')
})

t.test('regression grant-applied-before-accepted: a tx_key the node refuses leaves the keys as Userchain knows them', async (t) => {
  // The page's grant and revoke (and the Node-RED keys node) built the epoch,
  // applied it, then submitted it: a refused tx_key left the page showing a
  // doctor granted or revoked who was not, and batches sealed under an epoch
  // no node accepted.
  const keys = new UserKeys(user, { rng, now: () => 1_790_000_000, directory })
  await publishEpoch(keys, keys.init(), () => {})
  await publishEpoch(keys, keys.grant(D1!.id), () => {})
  const before = keys.current!
  const refuse = (): never => { throw new Error('mempool full') }
  await t.rejects(publishEpoch(keys, keys.grant(D2!.id), refuse), /mempool full/, 'the refusal reaches the caller')
  t.equal(keys.current, before, 'the current epoch is the accepted one')
  t.same(keys.doctors().map(toHex), [toHex(D1!.id)], 'the refused grant is not shown')
  await t.rejects(publishEpoch(keys, keys.revoke(D1!.id), async () => { throw new Error('stale') }), /stale/)
  t.same(keys.doctors().map(toHex), [toHex(D1!.id)], 'nor a refused revocation')
  t.equal(keys.current!.ik, before.ik, 'and new batches keep the accepted IoT key')
  const ok = keys.grant(D2!.id)
  t.equal(ok.epoch, before.epoch + 1, 'the next tx_key takes the epoch number the refused one had')
  t.same(await publishEpoch(keys, ok, () => 'accepted'), 'accepted', 'an accepted one returns what publish returned')
  t.equal(keys.current!.epoch, ok.epoch)
})
