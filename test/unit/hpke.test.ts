import t from 'tap'
import { Aes128Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from '@hpke/core'
import { DecryptionError, fromHex, hpke, InvalidFieldError, toHex, utf8Bytes } from '../../hub/src/core/index.ts'

const h = (s: string): Uint8Array => fromHex('vector', s)

// RFC 9180 Appendix A.1.1: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, base mode.
const A1 = {
  info: '4f6465206f6e2061204772656369616e2055726e',
  ikmE: '7268600d403fce431561aef583ee1613527cff655c1343f29812e66706df3234',
  skEm: '52c4a758a802cd8b936eceea314432798d5baf2d7e9235dc084ab1b9cfa2f736',
  pkEm: '37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431',
  ikmR: '6db9df30aa07dd42ee5e8181afdb977e538f5e1fec8a06223f33f7013e525037',
  skRm: '4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8',
  pkRm: '3948cfe0ad1ddb695d780e59077195da6c56506b027329794ab02bca80815c4d',
  sharedSecret: 'fe0e18c9f024ce43799ae393c7e8fe8fce9d218875e8227b0187c04e7d2ea1fc',
  key: '4531685d41d65f03dc48f6b8302c05b0',
  baseNonce: '56d890e5accaaf011cff4b7d',
  exporterSecret: '45ff1c2e220db587171952c0592d5f5ebe103f1561a2614e38f2ffd47e99e3f8',
  pt: '4265617574792069732074727574682c20747275746820626561757479',
  aad0: '436f756e742d30',
  ct0: 'f938558b5d72f1a23810b4be2ab4f84331acc02fc97babc53a52ae8218a355a96d8770ac83d07bea87e13c512a',
  aad1: '436f756e742d31',
  ct1: 'af2d7e9ac9ae7e270f46ba1f975be53c09f8d875bdc8535458c2494e8a6eab251c03d0c22a56b8ca42c2063b84'
}

const suite = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes128Gcm() })

t.test('RFC 9180 A.1.1 known answers', async (t) => {
  const e = hpke.deriveKeyPair(h(A1.ikmE))
  t.equal(toHex(e.privateKey), A1.skEm)
  t.equal(toHex(e.publicKey), A1.pkEm)
  const r = hpke.deriveKeyPair(h(A1.ikmR))
  t.equal(toHex(r.privateKey), A1.skRm)
  t.equal(toHex(r.publicKey), A1.pkRm)
  const { sharedSecret, enc } = hpke.encap(h(A1.pkRm), h(A1.ikmE))
  t.equal(toHex(enc), A1.pkEm)
  t.equal(toHex(sharedSecret), A1.sharedSecret)
  t.equal(toHex(hpke.decap(enc, r.key)), A1.sharedSecret)
  const ks = hpke.keySchedule(sharedSecret, h(A1.info))
  t.equal(toHex(ks.key), A1.key)
  t.equal(toHex(ks.baseNonce), A1.baseNonce)
  t.equal(toHex(ks.exporterSecret), A1.exporterSecret)
  const sealed = hpke.seal(h(A1.pkRm), h(A1.info), h(A1.aad0), h(A1.pt), h(A1.ikmE))
  t.equal(toHex(sealed.ct), A1.ct0, 'sequence 0 ciphertext')
  t.equal(toHex(hpke.open(r.key, sealed.enc, h(A1.info), h(A1.aad0), sealed.ct)), A1.pt)
  t.equal(toHex(hpke.computeNonce(ks.baseNonce, 1)), '56d890e5accaaf011cff4b7c', 'sequence 1 nonce')
})

t.test('interoperates with @hpke/core in both directions', async (t) => {
  const r = hpke.deriveKeyPair(utf8Bytes('recipient input keying material, 32+ bytes long'))
  const rRef = await suite.kem.deriveKeyPair(utf8Bytes('recipient input keying material, 32+ bytes long'))
  const info = utf8Bytes('healthchain test')
  const aad = utf8Bytes('aad')
  // ours → reference
  const ours = hpke.seal(r.publicKey, info, aad, utf8Bytes('ours to reference'), utf8Bytes('ephemeral ikm for the test, long enough'))
  const opened = await suite.open({ recipientKey: rRef, enc: ours.enc, info }, ours.ct, aad)
  t.equal(new TextDecoder().decode(opened), 'ours to reference')
  // reference → ours
  const ref = await suite.seal({ recipientPublicKey: await suite.kem.importKey('raw', r.publicKey.slice().buffer, true), info }, utf8Bytes('reference to ours'), aad)
  t.equal(new TextDecoder().decode(hpke.open(r.key, new Uint8Array(ref.enc), info, aad, new Uint8Array(ref.ct))), 'reference to ours')
})

t.test('tamper and misuse are rejected with typed errors', async (t) => {
  const r = hpke.deriveKeyPair(h(A1.ikmR))
  const other = hpke.deriveKeyPair(utf8Bytes('someone else entirely, 32 bytes or more'))
  const { enc, ct } = hpke.seal(r.publicKey, utf8Bytes('i'), utf8Bytes('a'), utf8Bytes('secret'), h(A1.ikmE))
  for (let i = 0; i < ct.length; i += 5) {
    const bad = ct.slice(); bad[i]! ^= 1
    t.throws(() => hpke.open(r.key, enc, utf8Bytes('i'), utf8Bytes('a'), bad), DecryptionError)
  }
  const badEnc = enc.slice(); badEnc[0]! ^= 1
  t.throws(() => hpke.open(r.key, badEnc, utf8Bytes('i'), utf8Bytes('a'), ct), DecryptionError, 'altered enc')
  t.throws(() => hpke.open(r.key, enc, utf8Bytes('j'), utf8Bytes('a'), ct), DecryptionError, 'wrong info')
  t.throws(() => hpke.open(r.key, enc, utf8Bytes('i'), utf8Bytes('b'), ct), DecryptionError, 'wrong aad')
  t.throws(() => hpke.open(other.key, enc, utf8Bytes('i'), utf8Bytes('a'), ct), DecryptionError, 'wrong recipient')
  t.throws(() => hpke.open(r.key, enc, utf8Bytes('i'), utf8Bytes('a'), ct.subarray(0, 4)), DecryptionError, 'short ct')
  t.throws(() => hpke.open(r.key, new Uint8Array(32), utf8Bytes('i'), utf8Bytes('a'), ct), DecryptionError, 'small-order enc')
  t.throws(() => hpke.deriveKeyPair(new Uint8Array(16)), InvalidFieldError, 'short ikm')
  t.throws(() => hpke.seal(new Uint8Array(31), utf8Bytes('i'), utf8Bytes('a'), utf8Bytes('x'), h(A1.ikmE)), InvalidFieldError)
})
