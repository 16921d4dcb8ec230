/**
 * Emergency access end to end (README "Emergency access"), n = 4, t = 3:
 * a patient who opted in escrows each epoch's IoT key to the four
 * accounting nodes; with one node down, an emergency doctor's request
 * commits on Docchain, the three honest members release their shares there,
 * and the doctor opens exactly the requested epochs — not the one between,
 * not the one a rotation opens afterwards. Two colluding members open
 * nothing; a doctor without the emergency role, or not registered, is
 * refused with the reason; the patient's page lists the access.
 */
import t from 'tap'
import { encodeTx, openBatch, toHex, txId } from '../../hub/src/core/index.ts'
import { EmergencyKeys } from '../../hub/src/roles/doctor/emergency.ts'
import { NotEnoughReleasesError } from '../../hub/src/roles/doctor/errors.ts'
import { emergencyAccessInfo } from '../../hub/src/app/emergency.ts'
import { emergencySection } from '../../hub/src/web/pages.ts'
import { emergencyWorld, erDoctor, gp, members, patient, stranger } from '../helpers/emergency-world.ts'

t.test('n = 4, t = 3: three honest members release, the doctor reads exactly the requested epochs', async (t) => {
  const w = await emergencyWorld(t, t.testdir({}))
  const gpGrant = { kind: 'grant', doctor: gp.id } as const
  await w.epoch({ kind: 'init' }) // epoch 1
  await w.epoch(gpGrant) // epoch 2
  await w.epoch({ kind: 'rotate' }) // epoch 3

  // refused with the reason: a registered doctor without the emergency role, and one not registered at all
  const plain = await w.submit(encodeTx(w.request([1], gp)))
  t.notOk(plain.ok)
  t.match(plain, { code: 'ERR_NOT_EMERGENCY_DOCTOR', reason: /without the emergency role/ })
  const unknown = await w.submit(encodeTx(w.request([1], stranger)))
  t.match(unknown, { ok: false, code: 'ERR_UNREGISTERED_DOCTOR', reason: /not registered on Docchain/ })

  // one member down: the other three carry PBFT (n = 3f+1, f = 1) and are the t = 3 releasing
  await w.nodes[3]!.stop()
  const req = w.request([1, 3])
  const r = await w.submit(req)
  t.ok(r.ok, `the request commits on Docchain${r.ok ? '' : `: ${r.reason}`}`)
  const releases = await w.releases(req, 3)
  t.same(new Set(releases.map((x) => toHex(x.member))), new Set(members.slice(0, 3).map((m) => toHex(m.id))), 'each honest member released once, on Docchain')

  const ek = new EmergencyKeys(erDoctor, req, [...w.txKeys.values()])
  ek.add(releases[0]!)
  ek.add(releases[1]!)
  await t.rejects(ek.open(), NotEnoughReleasesError, 'two releases are not enough')
  ek.add(releases[2]!)
  const iks = await ek.open()
  t.same([...iks.keys()], [1, 3], 'exactly the requested epochs')
  for (const e of [1, 3]) t.equal(new TextDecoder().decode(openBatch(iks.get(e)!, patient.id, e, w.batches.get(e)!)), `readings of epoch ${e}`, `epoch ${e}'s batch opens`)
  for (const ik of iks.values()) t.throws(() => openBatch(ik, patient.id, 2, w.batches.get(2)!), 'epoch 2, not requested, stays closed')

  // the patient's page shows the access: who, when, why, which epochs, who released
  const access = w.nodes[0]!.registry.emergencyAccesses().find((a) => a.id === toHex(txId(req)))!
  const html = emergencySection({ base: '', csrf: 'token' }, { emergency: { optIn: true, threshold: 3, members: 4, accesses: [emergencyAccessInfo(access)] } }).text
  t.match(html, toHex(erDoctor.id).slice(0, 16))
  t.match(html, 'suspected hypoglycaemia')
  t.match(html, /key periods 1, 3/)
  t.match(html, /3 accounting nodes released/)

  // a rotation afterwards: a fresh Ik nobody released, and no new release
  await w.epoch({ kind: 'rotate' }) // epoch 4
  for (const ik of iks.values()) t.throws(() => openBatch(ik, patient.id, 4, w.batches.get(4)!), 'the epoch after the rotation stays closed')
  t.equal((await w.docchain()).filter((x) => x.kind === 'release').length, 3, 'nothing more is released')
})
