/** The store protocol's encoding (hub/src/ipfs/protocol.ts): round trips and strict decoding. */
import t from 'tap'
import fc from 'fast-check'
import {
  encodeUploadAuth, LimitExceededError, MAX_UPLOAD_AUTH_BYTES, sha256, signUploadAuth, storeUploadContext, TrailingBytesError, TruncatedError,
  UnknownVersionError, utf8Bytes
} from '../../hub/src/core/index.ts'
import { user, TS } from '../helpers/core.ts'
import { decodeRequest, decodeResponse, encodeRequest, encodeResponse, HAVE, KIND, MAX_BATCH_BYTES, requestFrame, STATUS } from '../../hub/src/ipfs/index.ts'
import type { Kind } from '../../hub/src/ipfs/index.ts'

const digest = sha256(utf8Bytes('d'))

t.test('requests round-trip', async (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 4096 }), (block) => {
    const back = decodeRequest(encodeRequest({ kind: KIND.PUT, block }))
    return back.kind === KIND.PUT && Buffer.from(back.block).equals(block)
  }), { numRuns: 100 })
  for (const kind of [KIND.ANNOUNCE, KIND.GET, KIND.HAS]) {
    t.same(decodeRequest(encodeRequest({ kind, digest })), { kind, digest })
  }
  // uploads carry the uploader's UploadAuth (core/upload-auth.ts) when signed
  const auth = encodeUploadAuth(signUploadAuth(user, 'store-upload', TS, storeUploadContext(digest, '12D3KooWStorage')))
  t.same(decodeRequest(encodeRequest({ kind: KIND.ANNOUNCE, digest, auth })), { kind: KIND.ANNOUNCE, digest, auth })
  const block = utf8Bytes('sealed batch')
  t.same(decodeRequest(encodeRequest({ kind: KIND.PUT, block, auth })), { kind: KIND.PUT, block, auth })
  t.throws(() => encodeRequest({ kind: KIND.PUT, block, auth: new Uint8Array(MAX_UPLOAD_AUTH_BYTES + 1) }), LimitExceededError, 'an auth is bounded')
})

t.test('a request frame is the length-prefixed request, its block sent as given', async (t) => {
  const varint = (n: number): number[] => n < 0x80 ? [n] : [(n % 0x80) | 0x80, ...varint(Math.floor(n / 0x80))]
  const auth = encodeUploadAuth(signUploadAuth(user, 'store-upload', TS, storeUploadContext(digest, '12D3KooWStorage')))
  const block = new Uint8Array(MAX_BATCH_BYTES).fill(7)
  for (const req of [{ kind: KIND.PUT, block, auth } as const, { kind: KIND.PUT, block: new Uint8Array(0) } as const, { kind: KIND.ANNOUNCE, digest, auth } as const, { kind: KIND.GET, digest } as const]) {
    const parts = requestFrame(req)
    const body = encodeRequest(req)
    t.ok(Buffer.concat(parts).equals(Buffer.concat([Buffer.from(varint(body.length)), body])), `kind ${req.kind}: varint length, then the request`)
    if (req.kind === KIND.PUT) t.equal(parts.at(-1), req.block, 'the block is the caller\'s buffer, not a copy')
  }
  t.throws(() => requestFrame({ kind: KIND.PUT, block: new Uint8Array(MAX_BATCH_BYTES + 1) }), LimitExceededError, 'an oversized block is refused before it is sent')
})

t.test('responses round-trip', async (t) => {
  const block = utf8Bytes('ciphertext')
  t.same(decodeResponse(KIND.GET, encodeResponse(KIND.GET, { status: STATUS.OK, block })), { status: STATUS.OK, block })
  t.same(decodeResponse(KIND.PUT, encodeResponse(KIND.PUT, { status: STATUS.OK, digest })), { status: STATUS.OK, digest })
  t.same(decodeResponse(KIND.HAS, encodeResponse(KIND.HAS, { status: STATUS.OK, have: HAVE.PINNED })), { status: STATUS.OK, have: HAVE.PINNED })
  t.same(decodeResponse(KIND.GET, encodeResponse(KIND.GET, { status: STATUS.NOT_FOUND, reason: 'nope' })), { status: STATUS.NOT_FOUND, reason: 'nope' })
  const long = decodeResponse(KIND.GET, encodeResponse(KIND.GET, { status: STATUS.FAILED, reason: 'x'.repeat(1000) }))
  t.equal(long.status !== STATUS.OK && long.reason.length, 256, 'reasons are cut to 256 bytes')
})

t.test('decoding is strict', async (t) => {
  const get = encodeRequest({ kind: KIND.GET, digest })
  t.throws(() => decodeRequest(Uint8Array.of(...get, 0)), TrailingBytesError)
  t.throws(() => decodeRequest(get.subarray(0, 20)), TruncatedError)
  t.throws(() => decodeRequest(Uint8Array.of(1, ...get.subarray(1))), UnknownVersionError, 'version 1 (unsigned uploads) is gone')
  t.throws(() => decodeRequest(Uint8Array.of(2, 9, ...digest)), UnknownVersionError, 'unknown kind')
  t.throws(() => decodeResponse(KIND.GET, Uint8Array.of(2, 77, 0)), UnknownVersionError, 'unknown status')
  t.throws(() => decodeResponse(KIND.HAS, Uint8Array.of(2, 0, 3)), UnknownVersionError, 'unknown have state')
  t.throws(() => encodeRequest({ kind: KIND.PUT, block: new Uint8Array(MAX_BATCH_BYTES + 1) }), LimitExceededError)
  // a PUT whose declared length exceeds the limit is refused before the bytes are read
  const w = [2, KIND.PUT, 0, 0x81, 0x80, 0x40] // no auth, varint 1 MiB + 1
  t.throws(() => decodeRequest(Uint8Array.from(w)), LimitExceededError)
  for (const kind of [KIND.PUT, KIND.ANNOUNCE] as Kind[]) {
    t.throws(() => decodeResponse(kind, Uint8Array.of(2, 0, ...digest.subarray(0, 31))), TruncatedError, 'short ack')
  }
})
