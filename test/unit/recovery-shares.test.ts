/**
 * The guardian share envelopes (core/recovery) and the m-of-n split
 * (roles/user/recovery.ts): known answers for the encodings, round trips,
 * every binding (guardian, set, patient, index, session) and the threshold:
 * any m of n shares rebuild the seed, fewer give something else.
 */
import t from 'tap'
import fc from 'fast-check'
import { Aes128Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from '@hpke/core'
import { combine } from 'shamir-secret-sharing'
import {
  buildIdentityRecord, buildShareSet, decodeGuardianShare, decodeRecoveryShare, decodeShareSet, DecryptionError, encodeGuardianShare,
  concatBytes, encodeRecoveryShare, encodeShareSet, HealthchainError, hpke, type Identity, identityFromSeed, InvalidFieldError, openGuardianShare, openRecoveryShare, resealShare,
  sealGuardianShare, sha256, shareCommitment, ShareCommitmentError, StaleRecoverySessionError, toHex, utf8Bytes, WrongGuardianError, type GuardianShare
} from '../../hub/src/core/index.ts'
import { ShareCollector, splitIdentity } from '../../hub/src/roles/user/recovery.ts'
import { NotEnoughSharesError, ReplayedShareError, WrongPatientError, WrongShareSetError } from '../../hub/src/roles/user/errors.ts'
import { seed, who } from '../helpers/core.ts'

const patientSeed = seed('recovery-patient')
const patient = identityFromSeed(patientSeed)
const guardians = [1, 2, 3, 4, 5].map((i) => who(`guardian-${i}`))
const records = guardians.map((g) => buildIdentityRecord(g, 1_790_000_000))
let counter = 0
/** Deterministic "randomness" for the pure parts (the Shamir library draws its own). */
const rng = (n: number): Uint8Array => { const out = new Uint8Array(n); const h = sha256(utf8Bytes(`rng-${counter++}`)); for (let i = 0; i < n; i++) out[i] = h[i % 32]!; return out }
const opts = { threshold: 3, rng, now: () => 1_790_000_100 }
const fixedShare = (i: number): Uint8Array => { const s = new Uint8Array(33); s.set(seed(`share-${i}`)); s[32] = i; return s }

t.test('known answers: a share set and a guardian share encode to fixed bytes', async (t) => {
  const setId = sha256(utf8Bytes('set')).slice(0, 16)
  const set = buildShareSet(patient, { setId, threshold: 2, ts: 1_790_000_000, guardians: guardians.slice(0, 3).map((g, i) => ({ id: g.id, x25519: g.agreement.publicKey, commitment: shareCommitment(setId, i + 1, fixedShare(i + 1)) })) })
  const bytes = encodeShareSet(set)
  t.equal(bytes.length, 1 + 32 + 16 + 1 + 1 + 5 + 3 * 96 + 64, 'layout: version, patient, set ID, m, n, ts, 3 × (ID, X25519, commitment), sig')
  t.equal(toHex(sha256(bytes)), '90c1380ab1c8935de97983c42fa080720c550cc58dd955ab843f2180e5b69cab', 'share set encoding')
  const gs = sealGuardianShare(set, 2, fixedShare(2), seed('ikmE'))
  t.equal(toHex(sha256(encodeGuardianShare(gs))), 'c4e7cd0c9730d148fc809a5d32db3495fa3d7c983d9a85aeb2cf2732417181fd', 'guardian share encoding (HPKE with a fixed ikmE)')
  t.same(openGuardianShare(guardians[1]!, decodeGuardianShare(encodeGuardianShare(gs))), fixedShare(2), 'guardian 2 opens share 2')
})

t.test('the HPKE binding, opened by the reference implementation (@hpke/core) with info and aad built by hand', async (t) => {
  const suite = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes128Gcm() })
  const ikm = utf8Bytes('guardian X25519 input keying material, 32+ bytes')
  const ours = hpke.deriveKeyPair(ikm)
  const guardian: Identity = { ...guardians[0]!, agreement: ours.key }
  const setId = sha256(utf8Bytes('interop set')).slice(0, 16)
  const set = buildShareSet(patient, { setId, threshold: 2, ts: 1_790_000_000, guardians: [guardian, guardians[1]!].map((g, i) => ({ id: g.id, x25519: g.agreement.publicKey, commitment: shareCommitment(setId, i + 1, fixedShare(i + 1)) })) })
  const gs = sealGuardianShare(set, 1, fixedShare(1), rng(32))
  // info = "healthchain/guardian-share/v1\0" ‖ patient ‖ set ID ‖ m ‖ n ‖ i ‖ guardian ID; aad = the set's signature
  const info = concatBytes(utf8Bytes('healthchain/guardian-share/v1\0'), patient.id, setId, Uint8Array.of(2, 2, 1), guardian.id)
  const opened = await suite.open({ recipientKey: await suite.kem.deriveKeyPair(ikm), enc: gs.enc, info }, gs.ct, set.sig)
  t.same(new Uint8Array(opened), fixedShare(1), 'share 1 opens with the documented info and aad')
  await t.rejects(suite.open({ recipientKey: await suite.kem.deriveKeyPair(ikm), enc: gs.enc, info: concatBytes(info.slice(0, -33), Uint8Array.of(2), guardian.id) }, gs.ct, set.sig), 'the same share under index 2 does not open')
  t.same(openGuardianShare(guardian, gs), fixedShare(1))
})

t.test('any 3 of 5 shares rebuild the seed; 2 of 5 do not, and the collector refuses to combine them', async (t) => {
  const { set, shares } = await splitIdentity(patientSeed, records, opts)
  t.equal(set.guardians.length, 5)
  t.equal(toHex(set.patient), toHex(patient.id))
  const plain = shares.map((s, i) => openGuardianShare(guardians[i]!, decodeGuardianShare(encodeGuardianShare(s))))
  const subsets = (k: number): number[][] => k === 0 ? [[]] : [0, 1, 2, 3, 4].flatMap((i) => subsets(k - 1).filter((r) => r.every((j) => j > i)).map((r) => [i, ...r]))
  for (const three of subsets(3)) t.equal(toHex(await combine(three.map((i) => plain[i]!))), toHex(patientSeed), `shares ${three.map((i) => i + 1).join(',')} rebuild the seed`)
  for (const two of subsets(2)) {
    const got = await combine(two.map((i) => plain[i]!))
    t.not(toHex(got), toHex(patientSeed), `shares ${two.map((i) => i + 1).join(',')} alone do not give the seed`)
    t.not(toHex(identityFromSeed(got).id), toHex(patient.id))
  }
  // through the collector: 2 of 5 are refused, 3 restore
  const temp = who('recovery-session')
  const to = buildIdentityRecord(temp, 1_790_000_200)
  const c = new ShareCollector(temp, patient.id)
  c.add(decodeRecoveryShare(encodeRecoveryShare(resealShare(guardians[0]!, shares[0]!, to, rng(32)))))
  c.add(resealShare(guardians[3]!, shares[3]!, to, rng(32)))
  t.equal(c.ready, false)
  await t.rejects(c.combine(), NotEnoughSharesError, '2 of 5: refused, nothing combined')
  c.add(resealShare(guardians[4]!, shares[4]!, to, rng(32)))
  t.equal(toHex(await c.combine()), toHex(patientSeed), '3 of 5: the seed')
})

t.test('bindings: wrong guardian, wrong set, wrong patient, replayed share, share of an earlier session', async (t) => {
  const { shares } = await splitIdentity(patientSeed, records, opts)
  const other = await splitIdentity(patientSeed, records, opts)
  const stranger = identityFromSeed(seed('recovery-stranger'))
  const strangerSet = await splitIdentity(seed('recovery-stranger'), records, opts)
  const temp = who('recovery-session-2')
  const to = buildIdentityRecord(temp, 1_790_000_200)

  t.test('wrong guardian', async (t) => {
    t.throws(() => openGuardianShare(guardians[1]!, shares[0]!), WrongGuardianError, 'guardian 2 cannot open share 1')
    t.throws(() => resealShare(guardians[1]!, shares[0]!, to, rng(32)), WrongGuardianError, 'nor reseal it')
    // a recovery share re-signed by someone else than the set's guardian i
    const r = resealShare(guardians[0]!, shares[0]!, to, rng(32))
    const forged = encodeRecoveryShare({ ...r, sig: new Uint8Array(64).fill(7) })
    t.throws(() => decodeRecoveryShare(forged), WrongGuardianError, 'a recovery share not signed by guardian i is refused')
    // a share relabelled to another index (its guardian's): the header's guardian does not hold it
    const moved: GuardianShare = { ...shares[0]!, index: 2 }
    t.throws(() => openGuardianShare(guardians[1]!, moved), DecryptionError, 'share 1 relabelled as share 2 does not open for guardian 2')
  })

  t.test('wrong set', async (t) => {
    const c = new ShareCollector(temp, patient.id)
    c.add(resealShare(guardians[0]!, shares[0]!, to, rng(32)))
    t.throws(() => c.add(resealShare(guardians[1]!, other.shares[1]!, to, rng(32))), WrongShareSetError, 'a share of another set of the same patient is refused')
    // a share sealed under one set presented with another set's header
    const swapped: GuardianShare = { ...other.shares[0]!, enc: shares[0]!.enc, ct: shares[0]!.ct }
    t.throws(() => openGuardianShare(guardians[0]!, swapped), DecryptionError, 'the ciphertext is bound to its set (HPKE info and aad)')
  })

  t.test('wrong patient', async (t) => {
    const c = new ShareCollector(temp, patient.id)
    t.throws(() => c.add(resealShare(guardians[0]!, strangerSet.shares[0]!, to, rng(32))), WrongPatientError, `a share of ${toHex(stranger.id).slice(0, 8)} is refused`)
    t.equal(c.have, 0)
  })

  t.test('replayed share', async (t) => {
    const c = new ShareCollector(temp, patient.id)
    const r = resealShare(guardians[2]!, shares[2]!, to, rng(32))
    c.add(r)
    t.throws(() => c.add(r), ReplayedShareError, 'the same share twice')
    t.throws(() => c.add(resealShare(guardians[2]!, shares[2]!, to, rng(32))), ReplayedShareError, 'the same share resealed again')
    t.equal(c.have, 1)
  })

  t.test('replayed share from an earlier recovery session', async (t) => {
    const earlier = who('recovery-session-1')
    const old = resealShare(guardians[0]!, shares[0]!, buildIdentityRecord(earlier, 1_790_000_150), rng(32))
    t.throws(() => openRecoveryShare(temp, old), StaleRecoverySessionError)
    t.throws(() => new ShareCollector(temp, patient.id).add(old), StaleRecoverySessionError, 'refused by the collector too')
  })
})

t.test('property: encodings round-trip and any altered byte is refused', async (t) => {
  const { shares } = await splitIdentity(patientSeed, records, opts)
  const temp = who('recovery-session-3')
  const r = resealShare(guardians[0]!, shares[0]!, buildIdentityRecord(temp, 1_790_000_200), rng(32))
  const gsBytes = encodeGuardianShare(shares[0]!)
  const rsBytes = encodeRecoveryShare(r)
  t.same(encodeShareSet(decodeShareSet(encodeShareSet(shares[0]!.set))), encodeShareSet(shares[0]!.set))
  t.same(encodeGuardianShare(decodeGuardianShare(gsBytes)), gsBytes)
  t.same(encodeRecoveryShare(decodeRecoveryShare(rsBytes)), rsBytes)
  const refused = (f: () => unknown): boolean => { try { f(); return false } catch (err) { return err instanceof HealthchainError } }
  fc.assert(fc.property(fc.nat(gsBytes.length - 1), fc.integer({ min: 1, max: 255 }), (pos, x) => {
    const b = gsBytes.slice(); b[pos] = b[pos]! ^ x
    return refused(() => openGuardianShare(guardians[0]!, decodeGuardianShare(b)))
  }), { numRuns: 300 })
  fc.assert(fc.property(fc.nat(rsBytes.length - 1), fc.integer({ min: 1, max: 255 }), (pos, x) => {
    const b = rsBytes.slice(); b[pos] = b[pos]! ^ x
    return refused(() => openRecoveryShare(temp, decodeRecoveryShare(b)))
  }), { numRuns: 300 })
  fc.assert(fc.property(fc.nat(rsBytes.length + 8), (cut) => refused(() => decodeRecoveryShare(rsBytes.slice(0, Math.min(cut, rsBytes.length - 1))))), { numRuns: 100 })
})

t.test('set shape: limits named by field', async (t) => {
  await t.rejects(splitIdentity(patientSeed, records, { ...opts, threshold: 6 }), InvalidFieldError, 'm above n')
  await t.rejects(splitIdentity(patientSeed, records, { ...opts, threshold: 1 }), InvalidFieldError, 'm below 2')
  await t.rejects(splitIdentity(patientSeed, [records[0]!, records[0]!], { ...opts, threshold: 2 }), /guardian named twice/)
  await t.rejects(splitIdentity(patientSeed, [records[0]!, buildIdentityRecord(patient, 1)], { ...opts, threshold: 2 }), /its own guardian/)
  t.throws(() => sealGuardianShare(shares0Set(), 1, fixedShare(9), rng(32)), ShareCommitmentError, 'a share that is not the committed one is not sealed')
})

function shares0Set (): ReturnType<typeof buildShareSet> {
  const setId = new Uint8Array(16)
  return buildShareSet(patient, { setId, threshold: 2, ts: 1, guardians: guardians.slice(0, 2).map((g, i) => ({ id: g.id, x25519: g.agreement.publicKey, commitment: shareCommitment(setId, i + 1, fixedShare(i + 1)) })) })
}
