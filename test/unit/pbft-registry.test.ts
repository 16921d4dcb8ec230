/**
 * Doctor registry (core/pbft/registry.ts): genesis doctors, m-of-n consortium
 * register/suspend records, strict codec, ordering and every rejection.
 */
import t from 'tap'
import { bodyTx, buildIdentityRecord, encodeIdentityRecord, equalBytes, InvalidFieldError, QuorumError, UnknownVersionError, TrailingBytesError } from '../../hub/src/core/index.ts'
import { DoctorRegistry, decodeRegistryRecord, encodeRegistryRecord, signRegistryRecord } from '../../hub/src/core/pbft/registry.ts'
import { ident } from '../fuzz/pbft-sim.ts'

const consortium = [ident('c0'), ident('c1'), ident('c2')]
const cons = { members: consortium.map((c) => c.id), threshold: 2 }
const [d0, d1, d2] = [ident('doc-a'), ident('doc-b'), ident('doc-c')]
const rec = (d: typeof d0, ts = 100): Uint8Array => encodeIdentityRecord(buildIdentityRecord(d!, ts))

t.test('genesis doctors are active with their X25519 keys; others unknown', async (t) => {
  const reg = new DoctorRegistry(cons, [rec(d0), rec(d1)])
  t.equal(reg.status(d0!.id), 'active')
  t.equal(reg.status(d2!.id), 'unknown')
  t.ok(equalBytes(reg.x25519(d1!.id)!, d1!.agreement.publicKey), 'X25519 key from the identity record')
  t.equal(reg.active().length, 2)
  const bad = rec(d0).slice()
  bad[bad.length - 1]! ^= 1
  t.throws(() => new DoctorRegistry(cons, [bad]), InvalidFieldError, 'a forged genesis identity record')
  t.throws(() => new DoctorRegistry({ ...cons, threshold: 4 }, []), InvalidFieldError, 'threshold above n')
})

t.test('register and suspend need m of n distinct consortium signatures, in sequence', async (t) => {
  const reg = new DoctorRegistry(cons, [rec(d0)])
  const r1 = signRegistryRecord({ action: 'register', seq: 1, identity: rec(d2) }, [consortium[0]!.signing, consortium[2]!.signing])
  const back = decodeRegistryRecord(encodeRegistryRecord(r1))
  t.same(encodeRegistryRecord(back), encodeRegistryRecord(r1), 'codec round trip')
  reg.apply(back)
  t.equal(reg.status(d2!.id), 'active')
  t.equal(reg.seq, 1)
  t.throws(() => reg.apply(r1), InvalidFieldError, 'a replayed record is out of sequence')

  const one = signRegistryRecord({ action: 'suspend', seq: 2, identity: rec(d2) }, [consortium[1]!.signing])
  t.throws(() => reg.apply(one), QuorumError, 'one signature of a 2-of-3 consortium')
  const twice = { ...one, sigs: [one.sigs[0]!, one.sigs[0]!] }
  t.throws(() => reg.apply(twice), QuorumError, 'the same member twice counts once')
  const outsider = signRegistryRecord({ action: 'suspend', seq: 2, identity: rec(d2) }, [consortium[1]!.signing, ident('mallory').signing])
  t.throws(() => reg.apply(outsider), /not a consortium member/)
  const forged = { ...signRegistryRecord({ action: 'suspend', seq: 2, identity: rec(d2) }, [consortium[0]!.signing, consortium[1]!.signing]), action: 'register' as const }
  t.throws(() => reg.apply(forged), /does not verify/, 'signatures bind the action')
  t.equal(reg.status(d2!.id), 'active', 'nothing applied by failed records')

  reg.apply(signRegistryRecord({ action: 'suspend', seq: 2, identity: rec(d2) }, [consortium[0]!.signing, consortium[1]!.signing]))
  t.equal(reg.status(d2!.id), 'suspended')
  t.throws(() => reg.apply(signRegistryRecord({ action: 'suspend', seq: 3, identity: rec(d1) }, [consortium[0]!.signing, consortium[1]!.signing])), /not registered/)
  t.throws(() => reg.apply(signRegistryRecord({ action: 'register', seq: 3, identity: rec(d2, 50) }, [consortium[0]!.signing, consortium[1]!.signing])), /older/, 'an older identity record cannot re-register')
  reg.apply(signRegistryRecord({ action: 'register', seq: 3, identity: rec(d2, 200) }, [consortium[0]!.signing, consortium[1]!.signing]))
  t.equal(reg.status(d2!.id), 'active', 're-registered by a newer record')
})

t.test('strict decoding', async (t) => {
  const r = encodeRegistryRecord(signRegistryRecord({ action: 'register', seq: 1, identity: rec(d0) }, [consortium[0]!.signing]))
  t.throws(() => decodeRegistryRecord(Uint8Array.of(...r, 0)), TrailingBytesError)
  t.throws(() => decodeRegistryRecord(Uint8Array.of(200, ...r.subarray(1))), UnknownVersionError)
  const act = r.slice()
  act[1] = 7
  t.throws(() => decodeRegistryRecord(act), UnknownVersionError, 'unknown action')
  t.throws(() => decodeRegistryRecord(r.subarray(0, r.length - 3)))
})

t.test('records after the ones in flight; folding Dblocks skips what does not apply, alike everywhere', async (t) => {
  const reg = new DoctorRegistry(cons, [rec(d0)])
  const two = [consortium[0]!.signing, consortium[1]!.signing]
  const r1 = signRegistryRecord({ action: 'register', seq: 1, identity: rec(d1) }, two)
  const r2 = signRegistryRecord({ action: 'suspend', seq: 2, identity: rec(d0) }, two)
  t.throws(() => reg.check(r2), /seq: expected 1, got 2/, 'seq 2 alone is out of sequence')
  t.doesNotThrow(() => reg.check(r2, [r1]), 'seq 2 after seq 1 in flight')
  t.throws(() => reg.check(signRegistryRecord({ action: 'suspend', seq: 2, identity: rec(d2) }, two), [r1]), /not registered/, 'suspending a doctor registered nowhere, even in flight')
  const later = reg.after([r1, r2])
  t.equal(later.status(d0!.id), 'suspended')
  t.equal(later.lookup(d0!.id), undefined, 'a suspended doctor is no directory entry')
  t.ok(equalBytes(later.lookup(d1!.id)!.x25519, d1!.agreement.publicKey))
  t.equal(reg.seq, 0, 'after() works on a copy')
  t.equal(reg.status(d0!.id), 'active')

  // A committed Dblock: a valid record, a duplicate seq (skipped), the next one; txs of other kinds are ignored.
  const dup = signRegistryRecord({ action: 'register', seq: 1, identity: rec(d2) }, [consortium[1]!.signing, consortium[2]!.signing])
  const block = { txs: [r1, dup, r2].map(bodyTx) }
  const a = reg.clone()
  const b = reg.clone()
  t.same(a.applyDblock(block).map((x) => (x.kind === 'reg' ? x.seq : 0)), [1, 2], 'the records that applied')
  b.applyDblock(block)
  t.equal(a.skipped, 1, 'the duplicate seq was skipped')
  t.same([a.seq, a.status(d2!.id), a.status(d0!.id)], [b.seq, b.status(d2!.id), b.status(d0!.id)], 'two folds of the same Dblock agree')
  t.same(a.list().map((e) => e.status).sort(), ['active', 'suspended'])
})
