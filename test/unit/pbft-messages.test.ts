/**
 * PBFT message codecs (core/pbft/*.ts): every kind round-trips, decoding is
 * strict (truncation, trailing bytes, unknown type/version, malformed nested
 * Dblock), any altered byte is caught by decoding or the signature, and a
 * COMMIT's signature is exactly a Dblock certificate entry.
 */
import t from 'tap'
import fc from 'fast-check'
import {
  dblockHash, HealthchainError, TrailingBytesError, TruncatedError, UnknownVersionError, verifyCertificate, InvalidFieldError,
  encodeDblock, Writer
} from '../../hub/src/core/index.ts'
import { signMessage, verifySigned } from '../../hub/src/core/pbft/envelope.ts'
import { decodeMessage } from '../../hub/src/core/pbft/messages.ts'
import { prePrepareBody, prePrepareCodec } from '../../hub/src/core/pbft/pre-prepare.ts'
import { commitCodec } from '../../hub/src/core/pbft/commit.ts'
import { block, key, prep, samples } from '../helpers/pbft-samples.ts'
import { ident } from '../fuzz/pbft-sim.ts'

t.test('every kind round-trips and verifies', async (t) => {
  for (const [codec, body] of samples) {
    const m = signMessage(codec, body, key)
    const back = decodeMessage(m.bytes)
    t.equal(back.kind, codec.kind)
    t.same(signMessage(codec, back.body, key).bytes, m.bytes, `${codec.kind}: canonical`)
    t.ok(verifySigned(back), `${codec.kind}: signature verifies`)
    t.throws(() => decodeMessage(Uint8Array.of(...m.bytes, 0)), TrailingBytesError, `${codec.kind}: trailing byte`)
    t.throws(() => decodeMessage(m.bytes.subarray(0, m.bytes.length - 1)), TruncatedError, `${codec.kind}: truncated`)
    const v = m.bytes.slice()
    v[1] = 2
    t.throws(() => decodeMessage(v), UnknownVersionError, `${codec.kind}: unknown version`)
  }
  t.throws(() => decodeMessage(Uint8Array.of(99, 1)), UnknownVersionError, 'unknown type')
})

t.test('any single altered byte of a prepare is caught', async (t) => {
  let caught = 0
  for (let i = 0; i < prep.bytes.length; i++) {
    const b = prep.bytes.slice()
    b[i]! ^= 0x01
    try { if (!verifySigned(decodeMessage(b))) caught++ } catch { caught++ }
  }
  t.equal(caught, prep.bytes.length)
})

t.test('pre-prepare: the block index is the sequence number, no certificate', async (t) => {
  const w = new Writer().u8('type', 2).u8('version', 1).u32('view', 0).u32('seq', 2).bytes('block', encodeDblock(block), 1 << 26)
  w.fixed('replica', key.publicKey, 32).fixed('sig', new Uint8Array(64), 64)
  t.throws(() => decodeMessage(w.finish()), InvalidFieldError, 'seq differs from the block index')
  t.throws(() => signMessage(prePrepareCodec, { ...prePrepareBody(0, block), block: { ...block, cert: [{ replica: key.publicKey, view: 0, sig: new Uint8Array(64) }] } }, key), InvalidFieldError)
})

t.test('2f+1 commits of one view are the Dblock certificate', async (t) => {
  const members = [0, 1, 2, 3].map((i) => ident(`replica-${i}`))
  const h = dblockHash(block.header)
  const commits = members.slice(0, 3).map((m) => signMessage(commitCodec, { view: 5, seq: 1, digest: h }, m.signing))
  const cert = commits.map((c) => ({ replica: c.replica, view: c.body.view, sig: c.sig }))
  t.doesNotThrow(() => verifyCertificate({ ...block, cert }, members.map((m) => m.id)))
  t.ok(commits.every((c) => verifySigned(decodeMessage(c.bytes))), 'and each is a valid COMMIT message')
  const wrongSeq = signMessage(commitCodec, { view: 5, seq: 2, digest: h }, members[2]!.signing)
  t.throws(() => verifyCertificate({ ...block, cert: [...cert.slice(0, 2), { replica: wrongSeq.replica, view: 5, sig: wrongSeq.sig }] }, members.map((m) => m.id)), 'a commit for another height does not certify this one')
})

t.test('random bytes only ever raise typed errors', async (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
    try { decodeMessage(bytes) } catch (err) { return err instanceof HealthchainError }
    return true
  }), { numRuns: 2000 })
  // Mutations of valid messages, too.
  fc.assert(fc.property(fc.integer({ min: 0, max: samples.length - 1 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (k, pos, x) => {
    const m = signMessage(samples[k]![0], samples[k]![1], key).bytes.slice()
    m[pos % m.length]! ^= x
    try { decodeMessage(m) } catch (err) { return err instanceof HealthchainError }
    return true
  }), { numRuns: 2000 })
  t.pass('no untyped error')
})
