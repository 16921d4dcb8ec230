/**
 * Attack: emergency access by a doctor the consortium did not authorize for
 * it — not registered, registered without the emergency role, or a forged
 * signature — or for an epoch the patient never escrowed (opened before it
 * opted in). Each request is refused with the reason; none reaches
 * Docchain, so no accounting node releases anything.
 */
import t from 'tap'
import { encodeTx } from '../../hub/src/core/index.ts'
import { emergencyWorld, erDoctor, gp, patient, stranger } from '../helpers/emergency-world.ts'
import { mine } from '../helpers/doctor-world.ts'

t.test('requests by unauthorized doctors, or for unescrowed epochs, are refused with the reason', async (t) => {
  const w = await emergencyWorld(t, t.testdir({}))
  await w.epoch({ kind: 'init' }) // epoch 1, escrowed
  // epoch 2 opened without escrow (as before the patient opted in)
  const plain = w.keys.prepare({ kind: 'rotate' })
  t.ok((await w.core.submitTx(plain)).accepted)
  w.keys.apply(plain)
  await mine(w.core, patient.id)

  t.match(await w.submit(encodeTx(w.request([1], stranger))), { ok: false, code: 'ERR_UNREGISTERED_DOCTOR', reason: /not registered on Docchain/ }, 'unregistered doctor')
  t.match(await w.submit(encodeTx(w.request([1], gp))), { ok: false, code: 'ERR_NOT_EMERGENCY_DOCTOR', reason: /without the emergency role/ }, 'registered without the emergency role')
  const forged = { ...w.request([1], gp), doctor: erDoctor.id }
  t.match(await w.submit(encodeTx(forged)), { ok: false, code: 'ERR_BAD_SIGNATURE' }, 'another doctor\'s ID with its own signature')
  t.match(await w.submit(encodeTx(w.request([1, 2]))), { ok: false, code: 'ERR_NO_ESCROW', reason: /epoch 2 carries no emergency escrow/ }, 'an epoch the patient did not escrow')
  t.match(await w.submit(encodeTx(w.request([7]))), { ok: false, code: 'ERR_UNOPENED_EPOCH' }, 'an epoch not on Userchain')
  t.equal((await w.docchain()).length, 0, 'nothing reached Docchain')
})
