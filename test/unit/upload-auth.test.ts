/**
 * core/upload-auth.ts: the signature an uploader gives a storage node (DESIGN
 * §6). It binds signer, time, the block's digest and the storage node it is
 * sent to; a changed byte, another node, another purpose or a stale time fail.
 */
import t from 'tap'
import fc from 'fast-check'
import {
  BadSignatureError, decodeUploadAuth, encodeUploadAuth, InvalidFieldError, MAX_UPLOAD_AUTH_BYTES, signUploadAuth, storeUploadContext,
  TimestampError, TrailingBytesError, UnknownVersionError, utf8Bytes, verifyUploadAuth
} from '../../hub/src/core/index.ts'
import { user, doctors, TS } from '../helpers/core.ts'

const digest = new Uint8Array(32).fill(7)
const ctx = storeUploadContext(digest, '12D3KooWStorageA')

t.test('a store upload signature verifies for its block and node only', async (t) => {
  const a = signUploadAuth(user, 'store-upload', TS, ctx)
  t.doesNotThrow(() => { verifyUploadAuth(a, 'store-upload', ctx, TS, 300) })
  t.doesNotThrow(() => { verifyUploadAuth(a, 'store-upload', ctx, TS + 300, 300) }, 'at the edge of the window')
  t.throws(() => { verifyUploadAuth(a, 'store-upload', storeUploadContext(digest, '12D3KooWStorageB'), TS, 300) }, BadSignatureError, 'replayed to another storage node')
  t.throws(() => { verifyUploadAuth(a, 'store-upload', storeUploadContext(new Uint8Array(32), '12D3KooWStorageA'), TS, 300) }, BadSignatureError, 'another block')
  t.throws(() => { verifyUploadAuth(a, 'pinning-token', ctx, TS, 300) }, BadSignatureError, 'another purpose')
  t.throws(() => { verifyUploadAuth({ ...a, signer: doctors[0]!.id }, 'store-upload', ctx, TS, 300) }, BadSignatureError, 'another signer named')
  t.throws(() => { verifyUploadAuth(a, 'store-upload', ctx, TS + 301, 300) }, TimestampError, 'too old')
  t.throws(() => { verifyUploadAuth(a, 'store-upload', ctx, TS - 301, 300) }, TimestampError, 'from the future')
})

t.test('encoding: round trip, strict decode', async (t) => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 40 }), fc.uint8Array({ minLength: 0, maxLength: 64 }), (ts, c) => {
    const a = signUploadAuth(user, 'pinning-token', ts, c)
    const bytes = encodeUploadAuth(a)
    const back = decodeUploadAuth(bytes)
    verifyUploadAuth(back, 'pinning-token', c, ts, 0)
    return bytes.length <= MAX_UPLOAD_AUTH_BYTES
  }), { numRuns: 200 })
  const bytes = encodeUploadAuth(signUploadAuth(user, 'store-upload', TS, ctx))
  const v2 = bytes.slice(); v2[0] = 2
  t.throws(() => decodeUploadAuth(v2), UnknownVersionError)
  t.throws(() => decodeUploadAuth(Uint8Array.of(...bytes, 0)), TrailingBytesError)
  t.throws(() => storeUploadContext(new Uint8Array(31), 'x'), InvalidFieldError, 'a digest is 32 bytes')
  t.throws(() => signUploadAuth(user, 'pinning-token', TS, utf8Bytes('x'.repeat(257))), InvalidFieldError, 'context bounded')
})
