/**
 * Emergency escrow in the pure core (core tx/escrow.ts, emergency.ts,
 * release.ts): a tx_key with an escrow round-trips and stays version 2
 * without one; each accounting node opens only its own share; t releases
 * give the doctor exactly the requested epochs' Ik, fewer than t nothing;
 * a release opens only for its doctor and request.
 */
import t from 'tap'
import { combine, split } from 'shamir-secret-sharing'
import {
  buildTxEmergency, buildTxKey, buildTxRelease, decodeTx, encodeTx, equalBytes, ikCommitment, NotEscrowMemberError, openEscrowShare, openRelease,
  sha256, txId, utf8Bytes, type TxKey
} from '../../hub/src/core/index.ts'
import { who, TS } from '../helpers/core.ts'

const patient = who('esc-patient')
const doctors = [1, 2, 3, 4, 5].map((i) => who(`esc-doctor-${i}`))
const members = [0, 1, 2, 3].map((i) => who(`esc-member-${i}`))
const stranger = who('esc-stranger')
const er = who('esc-er-doctor')
const bytes = (label: string): Uint8Array => sha256(utf8Bytes(label))

async function escrowedKey (epoch: number, ik: Uint8Array): Promise<TxKey> {
  const shares = await split(ik, members.length, 3)
  return buildTxKey(patient, {
    ts: TS, epoch, ik, epochSecret: bytes(`s${epoch}`), doctors: doctors.map((d) => ({ id: d.id, x25519: d.agreement.publicKey })), ikmE: bytes(`e${epoch}`),
    escrow: { threshold: 3, members: members.map((m) => ({ id: m.id, x25519: m.agreement.publicKey })), shares, ikmE: bytes(`x${epoch}`) }
  })
}

t.test('a tx_key with an escrow round-trips; without one it is written as before', async (t) => {
  const tx = await escrowedKey(1, bytes('ik1'))
  const enc = encodeTx(tx)
  t.equal(enc[1], 3, 'version 3 carries the escrow')
  const back = decodeTx(enc) as TxKey
  t.same(encodeTx(back), enc)
  t.equal(back.escrow?.threshold, 3)
  const plain = buildTxKey(patient, { ts: TS, epoch: 1, ik: bytes('ik1'), epochSecret: bytes('s1'), doctors: [], ikmE: bytes('e1') })
  t.equal(encodeTx(plain)[1], 2, 'no escrow: version 2')
  t.equal((decodeTx(encodeTx(plain)) as TxKey).escrow, undefined)
  t.ok(enc.length <= 1200, `a tx_key granting 5 doctors with a 3-of-4 escrow is ${enc.length} bytes`)
})

t.test('each member opens its own share; t shares give Ik; a stranger opens none', async (t) => {
  const ik = bytes('ik2')
  const tx = await escrowedKey(2, ik)
  const shares = members.map((m) => openEscrowShare(tx, m))
  t.ok(equalBytes(await combine(shares.slice(1)), ik), 'three shares combine to Ik')
  t.throws(() => openEscrowShare(tx, stranger), NotEscrowMemberError)
  const two = await combine(shares.slice(0, 2))
  t.notOk(equalBytes(two, ik), 'two shares (below t) combine to something else')
  t.notOk(equalBytes(ikCommitment(patient.id, two), tx.ikCommit!), 'which C(Ik) does not accept')
})

t.test('t releases open exactly the requested epochs, for the requesting doctor only', async (t) => {
  const iks = [bytes('ik-a'), bytes('ik-b'), bytes('ik-c')]
  const keys = await Promise.all(iks.map(async (ik, i) => await escrowedKey(i + 1, ik)))
  const req = buildTxEmergency(er, { ts: TS, patient: patient.id, epochs: [1, 3], reason: 'unconscious in the ER, suspected sepsis' })
  t.same(decodeTx(encodeTx(req)), req, 'the request round-trips')
  const requestId = txId(req)
  const releases = members.slice(0, 3).map((m, i) => buildTxRelease(m, { ts: TS, request: req, requestId, keys, doctorX25519: er.agreement.publicKey, ikmE: bytes(`r${i}`) }))
  for (const r of releases) t.same(decodeTx(encodeTx(r)), r, 'a release round-trips')
  const opened = releases.map((r) => openRelease(r, { request: req, requestId, keys, doctor: er }))
  t.same([...opened[0]!.keys()], [1, 3], 'shares of the requested epochs only')
  for (const e of [1, 3]) t.ok(equalBytes(await combine(opened.map((o) => o.get(e)!)), iks[e - 1]!), `epoch ${e} opens`)
  t.throws(() => openRelease(releases[0]!, { request: req, requestId, keys, doctor: doctors[0]! }), 'another doctor opens nothing')
})

t.test('registry records give the emergency role and publish accounting nodes', async (t) => {
  const { DoctorRegistry, signRegistryRecord } = await import('../../hub/src/core/pbft/registry.ts')
  const { buildIdentityRecord, encodeIdentityRecord } = await import('../../hub/src/core/index.ts')
  const consortium = who('esc-consortium')
  const rec = (x: typeof er): Uint8Array => encodeIdentityRecord(buildIdentityRecord(x, TS))
  const reg = new DoctorRegistry({ members: [consortium.id], threshold: 1 }, [rec(doctors[0]!)])
  t.notOk(reg.isEmergency(doctors[0]!.id), 'a genesis doctor has no emergency role by default')
  const plain = signRegistryRecord({ action: 'register', seq: 1, identity: rec(doctors[1]!) }, [consortium.signing])
  t.equal(encodeTx(plain)[1], 1, 'a record without roles is still version 1')
  const role = signRegistryRecord({ action: 'register', seq: 2, identity: rec(er), roles: ['emergency'] }, [consortium.signing])
  const member = signRegistryRecord({ action: 'register', seq: 3, identity: rec(members[0]!), roles: ['accounting'] }, [consortium.signing])
  for (const r of [role, member]) t.same(decodeTx(encodeTx(r)), r, 'a record with roles round-trips (version 2)')
  const forged = { ...role, roles: [] }
  t.throws(() => reg.clone().after([plain]).apply(forged), /signature does not verify/, 'the role is signed: dropping or adding it breaks the record')
  for (const r of [plain, role, member]) reg.apply(r)
  t.ok(reg.isEmergency(er.id), 'the emergency role')
  t.notOk(reg.isEmergency(doctors[1]!.id))
  t.same(reg.accounting().map((r) => r.id), [members[0]!.id], 'the accounting node\'s record is published')
  t.equal(reg.status(members[0]!.id), 'unknown', 'and it is no doctor')
})
