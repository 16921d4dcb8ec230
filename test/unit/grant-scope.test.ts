/**
 * Grant scope (paper §IV-B5 Alg. 3, §V-C): a `from-now` grant seals a fresh
 * Ik, so the new doctor cannot open any batch sealed before its grant; a
 * `history` grant keeps the current Ik, so the doctor opens what was sealed
 * since the last fresh key (revocation, rotation, from-now grant) and
 * nothing before it. Batches are sealed and opened with the real AES-GCM of
 * core/batch.ts, the doctor's keys come from the tx_keys as a doctor node
 * reads them (roles/doctor DoctorKeyTracker). The doctor's own check
 * (DoctorKeyTracker.holds), the accounting rule (doctorMayRead over the
 * evidence an accounting node reads off Userchain) and the user's choice of
 * the diagnosis key all agree with what the doctor can decrypt.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { DecryptionError, keyGrant, openBatch, openDiagnosis, sealBatch, sealDiagnosis, utf8Bytes, type DoctorKey, type Identity, type TxKey } from '../../hub/src/core/index.ts'
import { doctorMayRead, type ReadEvidence } from '../../hub/src/roles/accounting/grant.ts'
import { UserKeys, type DoctorDirectory, type EpochChange } from '../../hub/src/roles/user/keys.ts'
import { DoctorKeyTracker } from '../../hub/src/roles/doctor/keys.ts'
import { user, who } from '../helpers/core.ts'

const [A, B, C] = [who('gs-a'), who('gs-b'), who('gs-c')]
const directory: DoctorDirectory = { lookup: (id) => [A!, B!, C!].map((d): DoctorKey => ({ id: d.id, x25519: d.agreement.publicKey })).find((d) => Buffer.compare(d.id, id) === 0) }
const rng = (n: number): Uint8Array => new Uint8Array(randomBytes(n))

interface Sealed { epoch: number, sealed: Uint8Array }

function world (): { keys: UserKeys, chain: TxKey[], seal: (label: string) => Sealed, commit: (tx: TxKey) => void, steps: (changes: EpochChange[]) => Sealed[] } {
  let clock = 1_790_000_000
  const keys = new UserKeys(user, { rng, now: () => clock, directory })
  const chain: TxKey[] = []
  return {
    keys,
    chain,
    seal: (label) => { const e = keys.current!; return { epoch: e.epoch, sealed: sealBatch(e.ik, rng(12), user.id, e.epoch, utf8Bytes(label)) } },
    // applied only once "accepted", as the epoch committer does
    commit: (tx) => { keys.apply(tx); chain.push(tx); clock += 60 },
    /** Commits each change and seals a batch under the epoch it opened. */
    steps (changes) { return changes.map((c, i) => { this.commit(keys.prepare(c)); return this.seal(`step ${i}: ${c.kind}`) }) }
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
  const [b1, b2, b3, b4] = w.steps([{ kind: 'init' }, { kind: 'rotate' }, { kind: 'grant', doctor: A!.id, scope: 'history' }, { kind: 'grant', doctor: C!.id, scope: 'history' }]) as [Sealed, Sealed, Sealed, Sealed]
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

/** What an accounting node reads for (user, epoch), as UserchainView does from the chain: the opening tx_key's doctors, then the later ones whose Ik reaches back. */
function evidence (chain: readonly TxKey[], epoch: number): ReadEvidence {
  const own = chain.find((tx) => tx.epoch === epoch)!
  const later = []
  for (const tx of chain.filter((x) => x.epoch > epoch).sort((a, b) => a.epoch - b.epoch)) {
    if (tx.ikFrom > epoch) break
    later.push(keyGrant(tx))
  }
  return { envelopes: own.envelopes.map((e) => e.doctor), later }
}

/** Per batch: [decrypts, doctor node holds, accounting admits]. */
function verdicts (doctor: Identity, chain: readonly TxKey[], batches: ReadonlyArray<{ epoch: number, sealed: Uint8Array }>): Array<[boolean, boolean, boolean]> {
  const tracker = new DoctorKeyTracker(doctor)
  for (const tx of chain) tracker.observe(tx)
  const dec = opens(doctor, chain, batches)
  return batches.map((b, i) => [dec[i]!, tracker.holds(user.id, b.epoch), doctorMayRead(doctor.id, b.epoch, evidence(chain, b.epoch))])
}

t.test('the doctor node, the accounting rule and the cryptography agree for both scopes', async (t) => {
  const w = world()
  const all = w.steps([
    { kind: 'init' }, { kind: 'rotate' }, { kind: 'grant', doctor: A!.id, scope: 'history' }, { kind: 'grant', doctor: B!.id }, { kind: 'grant', doctor: C!.id, scope: 'history' }
  ])
  t.same(w.chain.map((tx) => [tx.epoch, tx.ikFrom]), [[1, 1], [2, 2], [3, 2], [4, 4], [5, 4]], 'each tx_key says from which epoch its Ik has sealed data')
  const agree = (v: Array<[boolean, boolean, boolean]>): boolean[] => v.map(([d, h, a]) => { if (d !== h || d !== a) t.fail(`disagree: decrypts ${d}, doctor holds ${h}, accounting admits ${a}`); return d })
  t.same(agree(verdicts(A!, w.chain, all)), [false, true, true, true, true], 'history A: back to the rotation, not before it')
  t.same(agree(verdicts(B!, w.chain, all)), [false, false, false, true, true], 'from-now B: nothing before its grant')
  t.same(agree(verdicts(C!, w.chain, all)), [false, false, false, true, true], 'history C: back to B\'s fresh Ik, no further')
  const [b6] = w.steps([{ kind: 'revoke', doctor: A!.id }])
  t.same(agree(verdicts(A!, w.chain, [...all, b6!])), [false, true, true, true, true, false], 'revoked A keeps what it could read, not what follows')
})

t.test('a history doctor\'s diagnosis of a batch sealed before its grant opens for the user', async (t) => {
  const w = world()
  w.commit(w.keys.prepare({ kind: 'init' }))
  w.commit(w.keys.prepare({ kind: 'rotate' }))
  const old = w.seal('before the grant')
  w.commit(w.keys.prepare({ kind: 'grant', doctor: A!.id, scope: 'history' }))
  w.commit(w.keys.prepare({ kind: 'grant', doctor: B!.id, scope: 'history' }))
  const tracker = new DoctorKeyTracker(A!)
  for (const tx of w.chain) tracker.observe(tx)
  const { ik, dk } = tracker.keysFor(user.id, old.epoch)
  t.same(openBatch(ik, user.id, old.epoch, old.sealed), utf8Bytes('before the grant'), 'the doctor decrypts the earlier batch with the Ik its grant gave it')
  const cause = rng(32)
  const sealed = sealDiagnosis(dk, rng(12), A!.id, cause, utf8Bytes('diagnosis'))
  t.same(openDiagnosis(w.keys.diagnosisKey(old.epoch, A!.id), A!.id, cause, sealed), utf8Bytes('diagnosis'), 'the user picks the same grant (dk_ij of the history grant\'s epoch) and reads it')
  t.throws(() => w.keys.diagnosisKey(1, A!.id), { code: 'ERR_NOT_GRANTED' }, 'nothing before the rotation')
})
