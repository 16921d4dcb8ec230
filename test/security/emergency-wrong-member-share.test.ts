/**
 * Attack: shares from the wrong member. A release signed by someone who is
 * not an accounting node of the registry is refused on Docchain
 * (ERR_WRONG_RELEASE_MEMBER); a release from an accounting node the
 * patient's escrow does not name is refused by the doctor
 * (WrongReleaseMemberError) instead of being combined; a release opens for
 * no other doctor.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { split } from 'shamir-secret-sharing'
import {
  buildTxEmergency, buildTxKey, DecryptionError, encodeTx, ESCROW_CT_BYTES, txId, txReleaseCodec, WrongReleaseMemberError, type TxRelease
} from '../../hub/src/core/index.ts'
import { signBody } from '../../hub/src/core/tx/common.ts'
import { EmergencyKeys } from '../../hub/src/roles/doctor/emergency.ts'
import { emergencyWorld, erDoctor, gp, members, patient, stranger } from '../helpers/emergency-world.ts'

const rnd = (n: number): Uint8Array => new Uint8Array(randomBytes(n))

/** A release signed by `by`, carrying made-up shares of `epochs`. */
function forged (by: typeof stranger, request: Uint8Array, epochs: number[]): TxRelease {
  return signBody(txReleaseCodec, { kind: 'release', member: by.id, ts: 1_790_000_000, request, enc: rnd(32), shares: epochs.map((epoch) => ({ epoch, ct: rnd(ESCROW_CT_BYTES) })) }, by.signing)
}

t.test('Docchain refuses a release from someone who is not an accounting node', async (t) => {
  const w = await emergencyWorld(t, t.testdir({}))
  await w.epoch({ kind: 'init' })
  const req = w.request([1])
  t.ok((await w.submit(req)).ok)
  await w.releases(req, 4)
  for (const who of [stranger, erDoctor]) {
    const r = await w.submit(encodeTx(forged(who, txId(req), [1])))
    t.match(r, { ok: false, code: 'ERR_WRONG_RELEASE_MEMBER', reason: /not an accounting node/ })
  }
})

t.test('the doctor refuses a release from a member the escrow does not name, and opens none meant for another', async (t) => {
  const ik = rnd(32)
  // the patient escrowed 2-of-3 to members 0..2 only
  const escrowTo = members.slice(0, 3)
  const key = buildTxKey(patient, {
    ts: 1_790_000_000, epoch: 1, ik, epochSecret: rnd(32), doctors: [], ikmE: rnd(32),
    escrow: { threshold: 2, members: escrowTo.map((m) => ({ id: m.id, x25519: m.agreement.publicKey })), shares: await split(ik, 3, 2), ikmE: rnd(32) }
  })
  const req = buildTxEmergency(erDoctor, { ts: 1_790_000_000, patient: patient.id, epochs: [1], reason: 'cardiac arrest' })
  const ek = new EmergencyKeys(erDoctor, req, [key])
  t.throws(() => { ek.add(forged(members[3]!, txId(req), [1])) }, WrongReleaseMemberError, 'member 3 holds no share of this escrow')
  t.equal(ek.released, 0, 'nothing was taken from it')
  // a release of member 0 opened by another doctor's key: a forged request naming gp as the requester
  const other = new EmergencyKeys(gp, { ...req, doctor: gp.id }, [key])
  t.throws(() => { other.add(forged(members[0]!, txId({ ...req, doctor: gp.id }), [1])) }, DecryptionError, 'made-up shares do not open')
})
