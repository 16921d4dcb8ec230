import t from 'tap'
import fc from 'fast-check'
import {
  buildTxDiag, buildTxIoT, buildTxKey, decodeTx, DecryptionError, deriveDiagnosisKey, encodeTx, HealthchainError,
  InvalidFieldError, LimitExceededError, MAX_ENVELOPES, openAsDoctor, openAsUser, TrailingBytesError, txId, txSigner,
  UnknownVersionError, verifyTx, toHex, assertTxSignature, BadSignatureError, type Tx, NonCanonicalError, TruncatedError, buildTxCoin, buildTxReg
} from '../../hub/src/core/index.ts'
import { consortium, doctors, legacyTxKey, sampleKeyVariants, sampleTxReg, sampleTxs, seed, TS, user, who } from '../helpers/core.ts'
import { DoctorRegistry } from '../../hub/src/core/pbft/registry.ts'

t.test('every kind round-trips and keeps its id', async (t) => {
  for (const tx of [...sampleTxs(), ...Object.values(sampleKeyVariants())]) {
    const bytes = encodeTx(tx)
    const back = decodeTx(bytes)
    t.same(back, tx, `${tx.kind} decodes to itself`)
    t.same(encodeTx(back), bytes, `${tx.kind} re-encodes identically`)
    t.equal(toHex(txId(back)), toHex(txId(bytes)), `${tx.kind} id from object equals id from bytes`)
    t.ok(verifyTx(back), `${tx.kind} signature verifies`)
    t.ok(verifyTx(back, bytes), `${tx.kind} signature verifies from its bytes`)
    t.doesNotThrow(() => assertTxSignature(back))
  }
  const iot = sampleTxs()[0]!
  t.throws(() => assertTxSignature({ ...iot, sig: new Uint8Array(64) }), BadSignatureError, 'zero signature')
})

t.test('property: decode(encode(x)) = x for random fields of every kind', async (t) => {
  const b32 = fc.uint8Array({ minLength: 32, maxLength: 32 })
  const ts = fc.integer({ min: 0, max: 2 ** 40 })
  const epoch = fc.integer({ min: 1, max: 2 ** 32 - 1 })
  fc.assert(fc.property(ts, b32, epoch, (ts, heiot, epoch) => {
    const tx = buildTxIoT(user, { ts, heiot, epoch })
    const back = decodeTx(encodeTx(tx))
    return toHex(encodeTx(back)) === toHex(encodeTx(tx)) && verifyTx(back)
  }), { numRuns: 200 })
  fc.assert(fc.property(ts, fc.uniqueArray(b32, { minLength: 1, maxLength: 8, selector: toHex }), b32, (ts, causes, hedm) => {
    const tx = buildTxDiag(doctors[1]!, { ts, causes, hedm })
    const back = decodeTx(encodeTx(tx)) as typeof tx
    return back.causes.length === causes.length && toHex(txId(back)) === toHex(txId(tx)) && verifyTx(back)
  }), { numRuns: 100 })
  fc.assert(fc.property(fc.integer({ min: 1, max: 2 ** 50 }), fc.integer({ min: 0, max: 1e6 }), fc.nat(), (amount, fee, nonce) => {
    const tx = buildTxCoin(user, { to: doctors[0]!.id, amount, fee, nonce })
    const back = decodeTx(encodeTx(tx))
    return toHex(encodeTx(back)) === toHex(encodeTx(tx)) && verifyTx(back)
  }), { numRuns: 100 })
  fc.assert(fc.property(ts, epoch, fc.integer({ min: 0, max: 6 }), (ts, epoch, n) => {
    const tx = buildTxKey(user, { ts, epoch, ik: seed('ik'), epochSecret: seed('s'), doctors: doctors.slice(0, n).map((d) => ({ id: d.id, x25519: d.agreement.publicKey })), ikmE: seed(`e${ts}`) })
    const back = decodeTx(encodeTx(tx))
    return toHex(encodeTx(back)) === toHex(encodeTx(tx)) && verifyTx(back)
  }), { numRuns: 30 })
})

t.test('any single flipped byte of a signed transaction is rejected', async (t) => {
  // (a TxReg has no signature of its own: its flips are the registry's to catch, below)
  for (const tx of sampleTxs().filter((x) => x.kind !== 'coinbase' && x.kind !== 'reg')) {
    const bytes = encodeTx(tx)
    let rejected = 0
    for (let i = 0; i < bytes.length; i++) {
      for (const bit of [0x01, 0x80]) {
        const bad = bytes.slice(); bad[i]! ^= bit
        try {
          const back = decodeTx(bad)
          const [a, b] = [verifyTx(back), verifyTx(back, bad)]
          if (a !== b) t.fail(`${tx.kind}: byte ${i} flipped, verifyTx from the object (${a}) and from the bytes (${b}) differ`)
          if (!a) rejected++
        } catch (err) {
          if (err instanceof HealthchainError) rejected++
          else throw err
        }
      }
    }
    t.equal(rejected, bytes.length * 2, `${tx.kind}: all ${bytes.length * 2} single-bit flips rejected`)
  }
})

t.test('TxReg: every single flipped bit is refused by the decoder or by the consortium check', async (t) => {
  const registry = new DoctorRegistry({ members: consortium.map((c) => c.id), threshold: 2 }, [])
  const bytes = encodeTx(sampleTxReg())
  t.doesNotThrow(() => registry.check(decodeTx(bytes) as ReturnType<typeof sampleTxReg>), 'the genuine record applies')
  let rejected = 0
  for (let i = 0; i < bytes.length; i++) {
    for (const bit of [0x01, 0x80]) {
      const bad = bytes.slice(); bad[i]! ^= bit
      try {
        const tx = decodeTx(bad)
        if (tx.kind !== 'reg') { rejected++; continue } // another kind altogether (type byte): not a record
        registry.check(tx)
      } catch (err) {
        if (err instanceof HealthchainError) { rejected++; continue }
        throw err
      }
    }
  }
  t.equal(rejected, bytes.length * 2, `all ${bytes.length * 2} single-bit flips rejected`)
})

t.test('TxReg: strict layout — signers ascending and distinct, seq from 1, known action', async (t) => {
  const rec = sampleTxReg()
  t.equal(rec.sigs.length, 2)
  t.throws(() => encodeTx({ ...rec, sigs: [...rec.sigs].reverse() }), InvalidFieldError, 'unsorted signers')
  t.throws(() => encodeTx({ ...rec, sigs: [rec.sigs[0]!, rec.sigs[0]!] }), InvalidFieldError, 'a signer twice')
  t.throws(() => encodeTx({ ...rec, seq: 0 }), InvalidFieldError, 'seq 0')
  t.throws(() => encodeTx({ ...rec, action: 'revoke' as 'register' }), InvalidFieldError, 'unknown action')
  const bytes = encodeTx(rec)
  // layout: type, version, action, seq (u32), identity (varint length + bytes), count, signer ‖ sig…
  const swapped = bytes.slice()
  const tail = bytes.length - 2 * 96
  swapped.set(bytes.subarray(tail + 96, tail + 192), tail)
  swapped.set(bytes.subarray(tail, tail + 96), tail + 96)
  t.throws(() => decodeTx(swapped), InvalidFieldError, 'unsorted signers on the wire')
  const act = bytes.slice(); act[2] = 9
  t.throws(() => decodeTx(act), UnknownVersionError, 'unknown action on the wire')
  const seq0 = bytes.slice(); seq0.fill(0, 3, 7)
  t.throws(() => decodeTx(seq0), InvalidFieldError, 'seq 0 on the wire')
  t.equal(txSigner(rec), null, 'no signer of its own')
  t.ok(verifyTx(rec), 'no signature of its own to check (the consortium signatures are the registry\'s)')
})

t.test('property: TxReg decode(encode(x)) = x for random actions, seqs and signer sets', async (t) => {
  const signers = fc.subarray([0, 1, 2], { minLength: 0, maxLength: 3 })
  fc.assert(fc.property(fc.constantFrom('register' as const, 'suspend' as const), fc.integer({ min: 1, max: 2 ** 32 - 1 }), signers, (action, seq, who) => {
    const tx = buildTxReg({ action, seq, identity: seed(`id${seq}`) }, who.map((i) => consortium[i]!.signing))
    const back = decodeTx(encodeTx(tx))
    return back.kind === 'reg' && back.seq === seq && back.action === action && back.sigs.length === who.length && toHex(encodeTx(back)) === toHex(encodeTx(tx))
  }), { numRuns: 100 })
})

t.test('strict decoding: trailing bytes, unknown type/version, truncation, non-canonical varint', async (t) => {
  const iot = encodeTx(sampleTxs()[0]!)
  t.throws(() => decodeTx(Uint8Array.of(...iot, 0)), TrailingBytesError)
  t.throws(() => decodeTx(Uint8Array.of(99, ...iot.subarray(1))), UnknownVersionError)
  t.throws(() => decodeTx(Uint8Array.of(iot[0]!, 2, ...iot.subarray(2))), UnknownVersionError)
  t.throws(() => decodeTx(iot.subarray(0, 50)), TruncatedError)
  t.throws(() => decodeTx(new Uint8Array(0)), TruncatedError)
  // ts is a varint right after the 32-byte user: pad it with a redundant 0x80 … 0x00 form
  const tsStart = 2 + 32
  let tsEnd = tsStart
  while ((iot[tsEnd]! & 0x80) !== 0) tsEnd++
  const padded = Uint8Array.of(...iot.subarray(0, tsEnd), iot[tsEnd]! | 0x80, 0x00, ...iot.subarray(tsEnd + 1))
  t.throws(() => decodeTx(padded), NonCanonicalError)
  t.throws(() => decodeTx(new Uint8Array(20000)), LimitExceededError)
})

t.test('tx_key versions: 2 carries ikFrom and C(Ik) with boundary checks; 1 still reads, as an Ik of its own epoch only', async (t) => {
  const { history, legacy } = sampleKeyVariants()
  const fresh = sampleTxs().find((x) => x.kind === 'key')!
  const h = encodeTx(history)
  t.equal(h[1], 2, 'a tx_key is written in version 2')
  t.equal(encodeTx(legacy)[1], 1, 'one without an Ik commitment is written in version 1, as it was read')
  t.equal(fresh.kind === 'key' && fresh.ikFrom, 2, 'a fresh Ik reaches back to its own epoch')
  t.equal(history.ikFrom, 2)
  t.same(history.ikCommit, (fresh as typeof history).ikCommit, 'the same Ik, the same commitment')
  t.not(toHex(sampleKeyVariants().legacy.ikCommit ?? new Uint8Array(0)), toHex(history.ikCommit!))
  // layout: type, version, user (32), ts (5-byte varint), epoch (1), ikFrom (1), C(Ik) (32)
  const at = 2 + 32 + 5 + 1
  t.equal(h[at], 2, 'ikFrom sits right after the epoch')
  const zero = h.slice(); zero[at] = 0
  t.throws(() => decodeTx(zero), InvalidFieldError, 'ikFrom 0 on the wire')
  const ahead = h.slice(); ahead[at] = 4
  t.throws(() => decodeTx(ahead), InvalidFieldError, 'ikFrom after the epoch on the wire')
  t.throws(() => encodeTx({ ...history, ikFrom: 0 }), InvalidFieldError, 'ikFrom 0')
  t.throws(() => encodeTx({ ...history, ikFrom: 4 }), InvalidFieldError, 'ikFrom after the epoch')
  t.throws(() => encodeTx({ ...history, ikCommit: null }), InvalidFieldError, 'a version-1 tx_key cannot claim an earlier ikFrom')
  t.throws(() => encodeTx({ ...history, ikCommit: new Uint8Array(31) }), InvalidFieldError, 'a short commitment')
  t.throws(() => decodeTx(h.subarray(0, at + 20)), TruncatedError, 'cut inside the commitment')
  const v4 = h.slice(); v4[1] = 4
  t.throws(() => decodeTx(v4), UnknownVersionError, 'version 4 is unknown (3 carries an emergency escrow)')
  const asV1 = h.slice(); asV1[1] = 1
  let refused = false
  try { refused = !verifyTx(decodeTx(asV1)) } catch (err) { refused = err instanceof HealthchainError }
  t.ok(refused, 'relabelled as version 1, it no longer reads or verifies (the version byte is signed)')
  // the legacy tx_key opens as before and claims nothing
  const back = decodeTx(encodeTx(legacy)) as typeof legacy
  t.equal(back.ikCommit, null)
  t.equal(back.ikFrom, back.epoch)
  t.ok(verifyTx(back))
  t.same(openAsUser(back, user).ik, seed('ik1'))
  t.same(openAsDoctor(back, doctors[0]!)?.ik, seed('ik1'))
  t.equal(legacyTxKey(history, user).ikFrom, 3, 'a legacy rewrite of a history tx_key claims its own epoch only')
})

t.test('a recipient refuses an Ik other than the one the tx_key commits to', async (t) => {
  const lying = buildTxKey(user, { ts: TS, epoch: 4, ikFrom: 4, ik: seed('other ik'), epochSecret: seed('s'), doctors: [{ id: doctors[0]!.id, x25519: doctors[0]!.agreement.publicKey }], ikmE: seed('e4') })
  const forged = { ...lying, ikCommit: sampleKeyVariants().history.ikCommit }
  t.throws(() => openAsDoctor(forged, doctors[0]!), { code: 'ERR_IK_COMMITMENT' }, 'the doctor')
  t.throws(() => openAsUser(forged, user), { code: 'ERR_IK_COMMITMENT' }, 'the user')
})

t.test('constructors name the bad field and never throw a bare TypeError', async (t) => {
  const cases: Array<[string, () => unknown]> = [
    ['heiot', () => buildTxIoT(user, { ts: TS, heiot: new Uint8Array(31), epoch: 1 })],
    ['epoch', () => buildTxIoT(user, { ts: TS, heiot: seed('x'), epoch: 0 })],
    ['ts', () => buildTxIoT(user, { ts: -1, heiot: seed('x'), epoch: 1 })],
    ['ts', () => buildTxIoT(user, { ts: 1.5, heiot: seed('x'), epoch: 1 })],
    ['heiot', () => buildTxIoT(user, { ts: TS, heiot: 'abc' as unknown as Uint8Array, epoch: 1 })],
    ['causes', () => buildTxDiag(doctors[0]!, { ts: TS, causes: [], hedm: seed('h') })],
    ['causes[1]', () => buildTxDiag(doctors[0]!, { ts: TS, causes: [seed('a'), seed('a')], hedm: seed('h') })],
    ['causes', () => buildTxDiag(doctors[0]!, { ts: TS, causes: 'x' as unknown as Uint8Array[], hedm: seed('h') })],
    ['amount', () => buildTxCoin(user, { to: user.id, amount: 0, fee: 0, nonce: 0 })],
    ['kind', () => encodeTx({ kind: 'nope' } as unknown as Tx)],
    ['kind', () => encodeTx(null as unknown as Tx)]
  ]
  for (const [field, fn] of cases) {
    try { fn(); t.fail(`${field}: accepted`) } catch (err) {
      t.ok(err instanceof HealthchainError, `${field}: typed error (${(err as Error).message})`)
      t.equal((err as HealthchainError).field, field)
    }
  }
})

t.test('tx_key: envelopes open for named doctors only; dk differs per doctor; user recovers all', async (t) => {
  const key = buildTxKey(user, {
    ts: TS, epoch: 3, ik: seed('ik3'), epochSecret: seed('s3'),
    doctors: [doctors[2]!, doctors[0]!].map((d) => ({ id: d.id, x25519: d.agreement.publicKey })), ikmE: seed('e3')
  })
  const back = decodeTx(encodeTx(key)) as typeof key
  const k0 = openAsDoctor(back, doctors[0]!)!
  const k2 = openAsDoctor(back, doctors[2]!)!
  t.same(k0.ik, seed('ik3'), 'D0 gets Ik')
  t.same(k2.ik, seed('ik3'), 'D2 gets Ik')
  t.not(toHex(k0.dk), toHex(k2.dk), 'diagnosis keys differ per doctor')
  t.equal(openAsDoctor(back, doctors[1]!), null, 'D1 is not named')
  const u = openAsUser(back, user)
  t.same(u.ik, seed('ik3'))
  t.same(deriveDiagnosisKey(u.epochSecret, user.id, 3, doctors[0]!.id), k0.dk, 'user derives D0 dk from the chain alone')
  t.same(deriveDiagnosisKey(u.epochSecret, user.id, 3, doctors[2]!.id), k2.dk)
  t.throws(() => openAsUser(back, doctors[0]!), InvalidFieldError, 'another identity is not the user')
  // a doctor trying another doctor's envelope: swap the doctor IDs and re-sign is impossible, so tamper the ct
  const swapped = { ...back, envelopes: back.envelopes.map((e, i) => ({ doctor: e.doctor, ct: back.envelopes[1 - i]!.ct })) }
  t.throws(() => openAsDoctor(swapped, doctors[0]!), DecryptionError, "one doctor's envelope does not open as another's")
  t.equal(toHex(txSigner(back)!), toHex(user.id))
})

t.test('tx_key limits: duplicate doctor, too many envelopes, unsorted on the wire', async (t) => {
  const d = { id: doctors[0]!.id, x25519: doctors[0]!.agreement.publicKey }
  const base = { ts: TS, epoch: 1, ik: seed('ik'), epochSecret: seed('s'), ikmE: seed('e') }
  t.throws(() => buildTxKey(user, { ...base, doctors: [d, d] }), InvalidFieldError)
  const many = Array.from({ length: MAX_ENVELOPES + 1 }, (_, i) => who(`many${i}`)).map((x) => ({ id: x.id, x25519: x.agreement.publicKey }))
  t.throws(() => buildTxKey(user, { ...base, doctors: many }), LimitExceededError)
  const two = buildTxKey(user, { ...base, doctors: [d, { id: doctors[1]!.id, x25519: doctors[1]!.agreement.publicKey }] })
  const bytes = encodeTx(two)
  // swap the two 112-byte envelopes on the wire: canonical order is violated
  // (type, version, user, ts, epoch, ikFrom, C(Ik), enc, count)
  const start = 2 + 32 + 5 + 1 + 1 + 32 + 32 + 1
  const bad = bytes.slice()
  bad.set(bytes.subarray(start + 112, start + 224), start)
  bad.set(bytes.subarray(start, start + 112), start + 112)
  t.throws(() => decodeTx(bad), InvalidFieldError)
})
