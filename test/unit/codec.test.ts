import t from 'tap'
import fc from 'fast-check'
import {
  buildIdentityRecord, cidStringFromDigest, concatBytes, contentDigest, decodeIdentityRecord, digestFromCidString, encodeIdentityRecord,
  fromHex, InvalidFieldError, LimitExceededError, MAX_VARINT, NonCanonicalError, Reader, toHex, TrailingBytesError, TruncatedError,
  utf8Bytes, varintLength, Writer, BadSignatureError, UnknownVersionError, compareBytes
} from '../../hub/src/core/index.ts'
import { user, TS } from '../helpers/core.ts'

t.test('varint: round trip, length, canonical form', async (t) => {
  fc.assert(fc.property(fc.integer({ min: 0, max: MAX_VARINT }), (n) => {
    const b = new Writer().varint('n', n).finish()
    const r = new Reader(b)
    const back = r.varint('n')
    r.end('n')
    return back === n && b.length === varintLength(n)
  }), { numRuns: 2000 })
  t.same(new Writer().varint('n', 300).finish(), Uint8Array.of(0xac, 0x02), 'LEB128 of 300')
  t.throws(() => new Reader(Uint8Array.of(0x80, 0x00)).varint('n'), NonCanonicalError, 'redundant zero byte')
  t.throws(() => new Reader(Uint8Array.of(0x80)).varint('n'), TruncatedError)
  t.throws(() => new Reader(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)).varint('n'), LimitExceededError, 'beyond 2^53')
  t.throws(() => new Reader(Uint8Array.of(10)).varint('n', 9), LimitExceededError, 'per-field maximum')
  t.throws(() => new Writer().varint('n', -1), InvalidFieldError)
  t.throws(() => new Writer().varint('n', 2 ** 53), LimitExceededError)
})

t.test('fixed-width integers and byte fields', async (t) => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: MAX_VARINT }), fc.uint8Array({ maxLength: 40 }), (a, b, c) => {
    const bytes = new Writer(2).u32('a', a).u64('b', b).bytes('c', c, 40).u8('d', 7).finish()
    const r = new Reader(bytes)
    const ok = r.u32('a') === a && r.u64('b') === b && toHex(r.bytes('c', 40)) === toHex(c) && r.u8('d') === 7
    r.end('x')
    return ok
  }), { numRuns: 500 })
  t.throws(() => new Writer().bytes('c', new Uint8Array(5), 4), LimitExceededError)
  t.throws(() => new Reader(Uint8Array.of(5, 1, 2, 3, 4, 5)).bytes('c', 4), LimitExceededError)
  t.throws(() => new Reader(Uint8Array.of(1, 2)).end('v'), TrailingBytesError)
  t.throws(() => new Reader(new Uint8Array(8).fill(0xff)).u64('b'), LimitExceededError, 'u64 above 2^53')
  t.throws(() => new Writer().fixed('f', new Uint8Array(3), 4), InvalidFieldError)
  t.throws(() => new Writer().u8('f', 256), LimitExceededError)
  t.throws(() => new Reader('x' as unknown as Uint8Array), InvalidFieldError)
  t.same(fromHex('h', '00ff'), Uint8Array.of(0, 255))
  t.throws(() => fromHex('h', 'abc'), InvalidFieldError)
  t.throws(() => fromHex('h', 'zz'), InvalidFieldError)
  t.same(concatBytes(Uint8Array.of(1), Uint8Array.of(2, 3)), Uint8Array.of(1, 2, 3))
  t.ok(compareBytes(Uint8Array.of(1, 2), Uint8Array.of(1, 3)) < 0)
  t.ok(compareBytes(Uint8Array.of(1, 2, 0), Uint8Array.of(1, 2)) > 0)
})

t.test('CIDv1 raw sha2-256 from the 32-byte digest', async (t) => {
  // The CID of the empty raw block is well known.
  const empty = cidStringFromDigest(contentDigest(new Uint8Array(0)))
  t.equal(empty, 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku')
  fc.assert(fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (d) => toHex(digestFromCidString(cidStringFromDigest(d))) === toHex(d)), { numRuns: 300 })
  t.throws(() => digestFromCidString('Qm123'), InvalidFieldError)
  t.throws(() => digestFromCidString('bafy!'), InvalidFieldError)
  t.throws(() => digestFromCidString('bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi'), InvalidFieldError, 'dag-pb CID is not raw')
  t.throws(() => digestFromCidString(empty.slice(0, -1) + 'v'), NonCanonicalError, 'non-zero padding bits')
})

t.test('identity record binds the X25519 key to the ID', async (t) => {
  const rec = buildIdentityRecord(user, TS)
  const bytes = encodeIdentityRecord(rec)
  t.same(decodeIdentityRecord(bytes).x25519, user.agreement.publicKey)
  const bad = bytes.slice(); bad[40]! ^= 1
  t.throws(() => decodeIdentityRecord(bad), BadSignatureError, 'swapped key is detected')
  t.throws(() => decodeIdentityRecord(Uint8Array.of(2, ...bytes.subarray(1))), UnknownVersionError)
  t.throws(() => decodeIdentityRecord(Uint8Array.of(...bytes, 0)), TrailingBytesError)
  t.equal(utf8Bytes('a').length, 1)
})

t.test('list: round trip and its bounds (count, item size, truncation)', async (t) => {
  fc.assert(fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 20 }), (items) => {
    const b = new Writer().list('xs', items, 20, 40).finish()
    const r = new Reader(b)
    const back = r.list('xs', 20, 40)
    r.end('xs')
    return back.length === items.length && back.every((x, i) => toHex(x) === toHex(items[i]!))
  }))
  const three = [Uint8Array.of(1), Uint8Array.of(2, 3), new Uint8Array(0)]
  t.throws(() => new Writer().list('xs', three, 2, 40), LimitExceededError, 'writing more items than allowed')
  t.throws(() => new Writer().list('xs', [new Uint8Array(41)], 4, 40), LimitExceededError, 'writing an item over its size')
  const b = new Writer().list('xs', three, 3, 40).finish()
  t.throws(() => new Reader(b).list('xs', 2, 40), LimitExceededError, 'reading a count over the limit')
  t.throws(() => new Reader(new Writer().list('xs', [new Uint8Array(41)], 1, 41).finish()).list('xs', 1, 40), LimitExceededError, 'reading an item over its size')
  t.throws(() => new Reader(b.subarray(0, b.length - 2)).list('xs', 3, 40), TruncatedError, 'a truncated list')
})
