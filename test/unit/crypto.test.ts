import t from 'tap'
import {
  aesGcmDecrypt, aesGcmEncrypt, BadSignatureError, DecryptionError, fromHex, identityFromSeed, InvalidFieldError,
  openBox, sealBox, sha256, sign, signingKeyFromSeed, toHex, utf8Bytes, verify, assertSignature, x25519, agreementKeyFromPrivate
} from '../../hub/src/core/index.ts'
import { RFC8032_VECTORS } from '../helpers/ed25519-vectors.ts'
import { ed25519Verify } from '../../hub/src/core/ed25519.ts'

const h = (s: string): Uint8Array => fromHex('vector', s)

t.test('RFC 8032 §7.1 Ed25519 TEST 1–3', async (t) => {
  const vectors = RFC8032_VECTORS
  for (const [sk, pk, msg, sig] of vectors) {
    const key = signingKeyFromSeed(h(sk))
    t.equal(toHex(key.publicKey), pk, 'public key')
    t.equal(toHex(sign(key, h(msg))), sig, 'signature')
    t.ok(verify(h(pk), h(msg), h(sig)), 'verifies')
    const bad = h(sig); bad[5]! ^= 1
    t.notOk(verify(h(pk), h(msg), bad), 'tampered signature rejected')
    t.notOk(verify(h(pk), utf8Bytes('other'), h(sig)), 'other message rejected')
  }
  t.throws(() => assertSignature('sig', h(vectors[0][1]), utf8Bytes('x'), h(vectors[0][3])), BadSignatureError)
  t.notOk(verify(new Uint8Array(32).fill(0xff), utf8Bytes('x'), new Uint8Array(64)), 'non-point key is just invalid')
  t.throws(() => verify(new Uint8Array(31), utf8Bytes('x'), new Uint8Array(64)), InvalidFieldError)
  t.throws(() => signingKeyFromSeed(new Uint8Array(31)), InvalidFieldError)
})

t.test('verifying-key cache (node:crypto backend) stays correct past its bound', async (t) => {
  const msg = utf8Bytes('cache')
  const first = identityFromSeed(sha256(utf8Bytes('k0')))
  const firstSig = sign(first.signing, msg)
  let ok = 0
  for (let i = 1; i <= 4200; i++) {
    const k = signingKeyFromSeed(sha256(utf8Bytes(`k${i}`)))
    if (ed25519Verify(k.publicKey, msg, firstSig, 'node')) ok++
  }
  t.equal(ok, 0, 'another key\'s signature does not verify')
  t.ok(ed25519Verify(first.id, msg, firstSig, 'node'), 'an evicted key verifies again')
})

t.test('FIPS 180-4 SHA-256 vectors (NIST examples)', async (t) => {
  t.equal(toHex(sha256(utf8Bytes(''))), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
  t.equal(toHex(sha256(utf8Bytes('abc'))), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
  t.equal(toHex(sha256(utf8Bytes('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'))), '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1')
  t.equal(toHex(sha256(new Uint8Array(1_000_000).fill(0x61))), 'cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0')
  t.throws(() => sha256('abc' as unknown as Uint8Array), InvalidFieldError)
})

t.test('AES-256-GCM: GCM spec test cases 14 and 16 (NIST SP 800-38D)', async (t) => {
  const zero = new Uint8Array(32)
  const ct14 = aesGcmEncrypt(zero, new Uint8Array(12), new Uint8Array(16))
  t.equal(toHex(ct14), 'cea7403d4d606b6e074ec5d3baf39d18' + 'd0d1c8a799996bf0265b98b5d48ab919')
  const K = h('feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308')
  const P = h('d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39')
  const A = h('feedfacedeadbeeffeedfacedeadbeefabaddad2')
  const IV = h('cafebabefacedbaddecaf888')
  const C = aesGcmEncrypt(K, IV, P, A)
  t.equal(toHex(C), '522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662' + '76fc6ece0f4e1768cddf8853bb2d551b')
  t.same(aesGcmDecrypt(K, IV, C, A), P)
  for (const i of [0, 30, C.length - 1]) {
    const bad = C.slice(); bad[i]! ^= 0x80
    t.throws(() => aesGcmDecrypt(K, IV, bad, A), DecryptionError, `flipped byte ${i} rejected`)
  }
  t.throws(() => aesGcmDecrypt(K, IV, C, utf8Bytes('other aad')), DecryptionError, 'wrong AAD rejected')
  t.throws(() => aesGcmDecrypt(zero, IV, C, A), DecryptionError, 'wrong key rejected')
  t.throws(() => aesGcmDecrypt(K, IV, new Uint8Array(3)), DecryptionError, 'short ciphertext')
  t.throws(() => aesGcmEncrypt(new Uint8Array(16), IV, P), InvalidFieldError, 'AES-128 key refused')
  t.throws(() => aesGcmEncrypt(K, new Uint8Array(8), P), InvalidFieldError, 'short nonce refused')
})

t.test('sealed box round trip and tamper rejection', async (t) => {
  const key = sha256(utf8Bytes('k'))
  const box = sealBox(key, new Uint8Array(12).fill(7), utf8Bytes('{"hr":72}'), utf8Bytes('aad'))
  t.equal(new TextDecoder().decode(openBox(key, box, utf8Bytes('aad'))), '{"hr":72}')
  const bad = box.slice(); bad[bad.length - 1]! ^= 1
  t.throws(() => openBox(key, bad, utf8Bytes('aad')), DecryptionError)
  t.throws(() => openBox(key, box.subarray(0, 20)), DecryptionError)
})

t.test('identity from seed: X25519 agreement works both ways, small-order point refused', async (t) => {
  const a = identityFromSeed(sha256(utf8Bytes('a')))
  const b = identityFromSeed(sha256(utf8Bytes('b')))
  t.same(x25519(a.agreement, b.agreement.publicKey), x25519(b.agreement, a.agreement.publicKey))
  t.not(toHex(a.id), toHex(a.agreement.publicKey), 'signing and agreement keys differ')
  t.throws(() => x25519(a.agreement, new Uint8Array(32)), InvalidFieldError, 'all-zero point')
  t.throws(() => agreementKeyFromPrivate(new Uint8Array(5)), InvalidFieldError)
  // RFC 7748 §6.1 Alice/Bob
  const alice = agreementKeyFromPrivate(h('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'))
  t.equal(toHex(alice.publicKey), '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a')
  t.equal(toHex(x25519(alice, h('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f'))), '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742')
})
