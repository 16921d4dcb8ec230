/**
 * Grant scope (paper §IV-B5 Alg. 3, §V-C): a `from-now` grant seals a fresh
 * Ik, so the new doctor cannot open any batch sealed before its grant; a
 * `history` grant keeps the current Ik, so the doctor opens what was sealed
 * since the last fresh key (revocation, rotation, from-now grant) and
 * nothing before it. Batches are sealed and opened with the real AES-GCM of
 * core/batch.ts, the doctor's keys come from the tx_keys as a doctor node
 * reads them (roles/doctor DoctorKeyTracker).
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { DecryptionError, openBatch, sealBatch, utf8Bytes, type DoctorKey, type TxKey } from '../../hub/src/core/index.ts'
import { UserKeys, type DoctorDirectory } from '../../hub/src/roles/user/keys.ts'
import { DoctorKeyTracker } from '../../hub/src/roles/doctor/keys.ts'
import { user, who } from '../helpers/core.ts'

const [A, B, C] = [who('gs-a'), who('gs-b'), who('gs-c')]
const directory: DoctorDirectory = { lookup: (id) => [A!, B!, C!].map((d): DoctorKey => ({ id: d.id, x25519: d.agreement.publicKey })).find((d) => Buffer.compare(d.id, id) === 0) }
const rng = (n: number): Uint8Array => new Uint8Array(randomBytes(n))

function world (): { keys: UserKeys, chain: TxKey[], seal: (label: string) => { epoch: number, sealed: Uint8Array }, commit: (tx: TxKey) => void } {
  let clock = 1_790_000_000
  const keys = new UserKeys(user, { rng, now: () => clock, directory })
  const chain: TxKey[] = []
  return {
    keys,
    chain,
    seal: (label) => { const e = keys.current!; return { epoch: e.epoch, sealed: sealBatch(e.ik, rng(12), user.id, e.epoch, utf8Bytes(label)) } },
    // applied only once "accepted", as the epoch committer does
    commit: (tx) => { keys.apply(tx); chain.push(tx); clock += 60 }
  }
}

/** Which of the batches the doctor, knowing only the tx_keys, can open (Ik of the batch's epoch, else of its newest epoch). */
function opens (doctor: typeof A, chain: readonly TxKey[], batches: ReadonlyArray<{ epoch: number, sealed: Uint8Array }>): boolean[] {
  const tracker = new DoctorKeyTracker(doctor!)
  for (const tx of chain) tracker.observe(tx)
  const st = tracker.status(user.id)
  const iks = (st?.epochs ?? []).map((e) => tracker.keysFor(user.id, e).ik)
  return batches.map((b) => iks.some((ik) => {
    try { openBatch(ik, user.id, b.epoch, b.sealed); return true } catch (err) { if (err instanceof DecryptionError) return false; throw err }
  }))
}

t.test('from-now (the default): the doctor cannot open any batch sealed before its grant', async (t) => {
  const w = world()
  w.commit(w.keys.prepare({ kind: 'init' }))
  const b1 = w.seal('before any grant')
  w.commit(w.keys.prepare({ kind: 'grant', doctor: A!.id }))
  const b2 = w.seal('A granted')
  w.commit(w.keys.prepare({ kind: 'grant', doctor: B!.id }))
  const b3 = w.seal('B granted')
  t.not(Buffer.from(w.keys.epoch(3).ik).toString('hex'), Buffer.from(w.keys.epoch(2).ik).toString('hex'), 'the from-now grant sealed a fresh Ik')
  t.same(opens(B, w.chain, [b1, b2, b3]), [false, false, true], 'B opens only what is sealed from its grant on')
  t.same(opens(A, w.chain, [b1, b2, b3]), [false, true, true], 'A, granted earlier, opens from its own grant on')
  const tracker = new DoctorKeyTracker(B!)
  for (const tx of w.chain) tracker.observe(tx)
  t.notOk(tracker.holds(user.id, b2.epoch), 'the doctor-side check agrees: B holds no key for the epoch before its grant')
  t.ok(tracker.holds(user.id, b3.epoch))
})

t.test('history: the doctor opens back to the last fresh key and no further', async (t) => {
  const w = world()
  w.commit(w.keys.prepare({ kind: 'init' }))
  const b1 = w.seal('epoch 1')
  w.commit(w.keys.prepare({ kind: 'rotate' }))
  const b2 = w.seal('after the rotation')
  w.commit(w.keys.prepare({ kind: 'grant', doctor: A!.id, scope: 'history' }))
  const b3 = w.seal('history grant of A')
  w.commit(w.keys.prepare({ kind: 'grant', doctor: C!.id, scope: 'history' }))
  const b4 = w.seal('history grant of C')
  t.same(opens(A, w.chain, [b1, b2, b3, b4]), [false, true, true, true], 'A opens back to the rotation, not before it')
  t.same(opens(C, w.chain, [b1, b2, b3, b4]), [false, true, true, true], 'C too: no fresh key since the rotation')
  w.commit(w.keys.prepare({ kind: 'grant', doctor: B!.id }))
  const b5 = w.seal('from-now grant of B')
  t.same(opens(B, w.chain, [b1, b2, b3, b4, b5]), [false, false, false, false, true], 'a from-now grant after them reads only from its grant on')
  t.same(opens(A, w.chain, [b5]), [true], 'and the doctors granted before it keep reading')
})

t.test('a refused tx_key changes nothing: prepare does not touch the keys', async (t) => {
  const w = world()
  w.commit(w.keys.prepare({ kind: 'init' }))
  w.commit(w.keys.prepare({ kind: 'grant', doctor: A!.id }))
  const before = w.keys.current!
  const tx = w.keys.prepare({ kind: 'revoke', doctor: A!.id })
  t.equal(tx.epoch, before.epoch + 1)
  t.equal(w.keys.current, before, 'the epoch in use is still the accepted one')
  t.same(w.keys.doctors().map((d) => Buffer.from(d).toString('hex')), [Buffer.from(A!.id).toString('hex')], 'A is still granted until the revocation is accepted')
})
