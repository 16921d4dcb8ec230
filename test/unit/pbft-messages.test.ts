/**
 * PBFT message codecs (core/pbft/*.ts): every kind round-trips, decoding is
 * strict (truncation, trailing bytes, unknown type/version, malformed nested
 * Dblock), any altered byte is caught by decoding or the signature, and a
 * COMMIT's signature is exactly a Dblock certificate entry.
 */
import t from 'tap'
import fc from 'fast-check'
import {
  bodyTx, buildTxCoin, encodeTx, LimitExceededError, dblockHash, HealthchainError, TrailingBytesError, TruncatedError, UnknownVersionError, verifyCertificate, InvalidFieldError,
  encodeDblock, Writer
} from '../../hub/src/core/index.ts'
import { signMessage, verifySigned } from '../../hub/src/core/pbft/envelope.ts'
import { decodeMessage } from '../../hub/src/core/pbft/messages.ts'
import { prePrepareBody, prePrepareCodec } from '../../hub/src/core/pbft/pre-prepare.ts'
import { commitCodec } from '../../hub/src/core/pbft/commit.ts'
import { MAX_REQUEST_BYTES, MAX_REQUEST_TXS, requestBodies, requestCodec, requestTxs, type RequestMsg } from '../../hub/src/core/pbft/request.ts'
import { block, key, prep, samples } from '../helpers/pbft-samples.ts'
import { ident, txPool } from '../fuzz/pbft-sim.ts'

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

t.test('REQUEST: a batch of txs, at least one, within its count and byte limits', async (t) => {
  const txs = txPool(3).map(bodyTx)
  const m = decodeMessage(signMessage(requestCodec, { txs: txs.map((x) => x.bytes) }, key).bytes) as RequestMsg
  t.same(requestTxs(m).map((x) => x.id), txs.map((x) => x.id), 'every tx, in order, with its id')
  t.equal(requestTxs(m), requestTxs(m), 'decoded once per message')
  t.throws(() => signMessage(requestCodec, { txs: [] }, key), InvalidFieldError, 'an empty REQUEST is not written')
  const empty = new Writer().u8('type', 1).u8('version', 1).varint('txs', 0).fixed('replica', key.publicKey, 32).fixed('sig', new Uint8Array(64), 64).finish()
  t.throws(() => decodeMessage(empty), InvalidFieldError, 'nor read')
  const many = new Writer().u8('type', 1).u8('version', 1).varint('txs', MAX_REQUEST_TXS + 1).finish()
  t.throws(() => decodeMessage(many), LimitExceededError, 'a count over MAX_REQUEST_TXS is refused before any tx is read')
  const big = Array.from({ length: Math.ceil(MAX_REQUEST_BYTES / (16 * 1024)) + 1 }, () => new Uint8Array(16 * 1024))
  t.throws(() => signMessage(requestCodec, { txs: big }, key), LimitExceededError, 'more tx bytes than MAX_REQUEST_BYTES')
  const w = new Writer().u8('type', 1).u8('version', 1).list('txs', big, MAX_REQUEST_TXS, 16 * 1024).fixed('replica', key.publicKey, 32).fixed('sig', new Uint8Array(64), 64)
  t.throws(() => decodeMessage(w.finish()), LimitExceededError, 'also on reading')
  // A tx that is no Docchain tx (a Healthcoin transfer, garbage) is left out; the rest still count.
  const coin = encodeTx(buildTxCoin(ident('req-user'), { to: key.publicKey, amount: 1, fee: 1, nonce: 0 }))
  const mixed = decodeMessage(signMessage(requestCodec, { txs: [txs[0]!.bytes, coin, Uint8Array.of(1, 2, 3), txs[1]!.bytes] }, key).bytes) as RequestMsg
  t.same(requestTxs(mixed).map((x) => x.id), [txs[0]!.id, txs[1]!.id], 'only the Docchain txs')
})

t.test('requestBodies: as few REQUESTs as the limits allow, in order, no tx split', async (t) => {
  t.same(requestBodies([]), [], 'none for nothing')
  const pool = txPool(MAX_REQUEST_TXS + 5).map(bodyTx)
  const bodies = requestBodies(pool)
  t.same(bodies.map((b) => b.txs.length), [MAX_REQUEST_TXS, 5], 'cut at the count limit')
  t.same(bodies.flatMap((b) => b.txs), pool.map((x) => x.bytes), 'every tx once, in order')
  const fat = Array.from({ length: 70 }, (_, i) => ({ ...pool[i]!, bytes: new Uint8Array(16 * 1024).fill(i) }))
  const cut = requestBodies(fat)
  t.ok(cut.length === 2 && cut.every((b) => b.txs.reduce((n, x) => n + x.length, 0) <= MAX_REQUEST_BYTES), `cut at the byte limit (${cut.map((b) => b.txs.length).join(' + ')})`)
  for (const b of cut) t.doesNotThrow(() => signMessage(requestCodec, b, key), 'each is a valid REQUEST')
})
