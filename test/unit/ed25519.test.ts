/**
 * Ed25519 backends (hub/src/core/ed25519.ts): libsodium and node:crypto give
 * the same signatures (RFC 8032 §7.1 vectors) and the same verdicts — on
 * valid and damaged signatures, and on the crafted edge cases RFC 8032 leaves
 * to implementations (small-order public keys and R, mixed-order keys,
 * non-canonical S and A), so a consortium mixing platforms cannot split.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import { ed25519, ED25519_TORSION_SUBGROUP } from '@noble/curves/ed25519.js'
import { sha512 } from '@noble/hashes/sha2.js'
import { acceptable, ed25519Backend, ed25519Key, ed25519Sign, ed25519Verify, SMALL_ORDER_ENCODINGS, type Ed25519Backend } from '../../hub/src/core/ed25519.ts'
import { fromHex, toHex, utf8Bytes } from '../../hub/src/core/index.ts'
import { RFC8032_VECTORS } from '../helpers/ed25519-vectors.ts'

const h = (s: string): Uint8Array => fromHex('vector', s)
const BACKENDS: Ed25519Backend[] = ['libsodium', 'node']
const sodium = createRequire(import.meta.url)('sodium-native') as { crypto_sign_verify_detached: (s: Uint8Array, m: Uint8Array, pk: Uint8Array) => boolean }
const L = ed25519.Point.CURVE().n
const B = ed25519.Point.BASE

const le = (b: Uint8Array): bigint => { let x = 0n; for (let i = b.length - 1; i >= 0; i--) x = (x << 8n) | BigInt(b[i]!); return x }
const le32 = (x: bigint): Uint8Array => { const out = new Uint8Array(32); for (let i = 0; i < 32; i++) { out[i] = Number(x & 0xffn); x >>= 8n } return out }
const scalar = (): bigint => le(randomBytes(64)) % L
const cat = (...bs: Uint8Array[]): Uint8Array => { const out = new Uint8Array(bs.reduce((n, b) => n + b.length, 0)); let o = 0; for (const b of bs) { out.set(b, o); o += b.length } return out }
/** k = SHA-512(R ‖ A ‖ M) mod L (RFC 8032 §5.1.7 step 2). */
const challenge = (R: Uint8Array, A: Uint8Array, m: Uint8Array): bigint => le(sha512(cat(R, A, m))) % L
/** The bare RFC 8032 equation, cofactored and without the extra rules (ZIP 215): what a permissive verifier accepts. */
const permissive = (pk: Uint8Array, m: Uint8Array, sig: Uint8Array): boolean => ed25519.verify(sig, m, pk, { zip215: true })
/** Each backend's verdict, which must agree; returns it. */
function agreed (t: { equal: (a: unknown, b: unknown, m: string) => void }, pk: Uint8Array, m: Uint8Array, sig: Uint8Array, what: string): boolean {
  const [a, b] = BACKENDS.map((be) => ed25519Verify(pk, m, sig, be))
  t.equal(a, b, `libsodium and node:crypto agree: ${what}`)
  return a!
}

t.test('this machine runs libsodium (the prebuilt addon loads)', async (t) => {
  t.equal(ed25519Backend, process.env.HEALTHCHAIN_ED25519 === 'node' ? 'node' : 'libsodium')
})

t.test('RFC 8032 §7.1 TEST 1–3 on both backends', async (t) => {
  for (const [sk, pk, msg, sig] of RFC8032_VECTORS) {
    const key = ed25519Key(h(sk))
    t.equal(toHex(key.publicKey), pk)
    for (const be of BACKENDS) {
      t.equal(toHex(ed25519Sign(key, h(msg), be)), sig, `${be} signs as the RFC`)
      t.ok(ed25519Verify(h(pk), h(msg), h(sig), be), `${be} verifies`)
    }
  }
})

t.test('property: random keys, messages and damaged signatures get one verdict', async (t) => {
  let valid = 0
  for (let i = 0; i < 200; i++) {
    const key = ed25519Key(randomBytes(32))
    const m = randomBytes(i % 7 === 0 ? 0 : 1 + (i * 37) % 300)
    const sig = ed25519Sign(key, m)
    t.same(ed25519Sign(key, m, 'node'), sig, 'deterministic: both backends give the same bytes')
    const bad = sig.slice(); bad[i % 64]! ^= 1 << (i % 8)
    const other = m.length > 0 ? Uint8Array.from(m) : Uint8Array.of(0)
    other[0]! ^= 0x80
    if (agreed(t, key.publicKey, m, sig, 'valid')) valid++
    t.notOk(agreed(t, key.publicKey, m, bad, 'one bit flipped in the signature'))
    t.notOk(agreed(t, key.publicKey, other, sig, 'another message'))
  }
  t.equal(valid, 200, 'every genuine signature verifies')
})

t.test('small-order encodings: the list is the torsion subgroup (every sign bit)', async (t) => {
  const listed = new Set(SMALL_ORDER_ENCODINGS.map(toHex))
  for (const p of ED25519_TORSION_SUBGROUP) {
    const b = h(p)
    t.ok(ed25519.Point.fromHex(p).multiplyUnsafe(8n).is0(), `${p} has small order`)
    const y = b.slice(); y[31]! &= 0x7f
    t.ok(listed.has(toHex(y)), `${p} is listed`)
    const sig = cat(b, new Uint8Array(32).fill(1, 0, 1))
    const key = ed25519Key(new Uint8Array(32).fill(7))
    t.ok(acceptable(key.publicKey, cat(key.publicKey, sig.subarray(32))), 'control: an ordinary R passes the rules')
    t.notOk(acceptable(key.publicKey, sig), `${p} refused as R`)
    t.notOk(acceptable(b, cat(key.publicKey, sig.subarray(32))), `${p} refused as a public key`)
  }
  // p and p + 1: y = 0 and y = 1 encoded without reduction
  t.notOk(acceptable(h('edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'), new Uint8Array(64).fill(1, 0, 32)))
})

t.test('small-order public key: a permissive verifier accepts a signature of any message; both refuse', async (t) => {
  const A = h(ED25519_TORSION_SUBGROUP[0]!) // the identity
  const S = scalar()
  const sig = cat(B.multiply(S).toBytes(), le32(S)) // [S]B − [k]·identity = R for every k
  const m = utf8Bytes('any message at all')
  t.ok(permissive(A, m, sig), 'the bare equation holds')
  t.notOk(sodium.crypto_sign_verify_detached(sig, m, A), 'libsodium refuses it')
  t.notOk(agreed(t, A, m, sig, 'small-order key'))
})

t.test('small-order R: a permissive verifier accepts; both refuse', async (t) => {
  const a = scalar()
  const A = B.multiply(a).toBytes()
  const R = h(ED25519_TORSION_SUBGROUP[0]!)
  const m = utf8Bytes('small-order R')
  const k = challenge(R, A, m)
  const sig = cat(R, le32((k * a) % L)) // [S]B − [k]A = identity = R
  t.ok(permissive(A, m, sig), 'the bare equation holds')
  t.notOk(sodium.crypto_sign_verify_detached(sig, m, A), 'libsodium refuses it')
  t.notOk(agreed(t, A, m, sig, 'small-order R'))
})

t.test('mixed-order public key (A + T8): the cofactorless equation decides, the same in both', async (t) => {
  const a = scalar()
  const A2 = B.multiply(a).add(ed25519.Point.fromHex(ED25519_TORSION_SUBGROUP[1]!)).toBytes()
  const m = utf8Bytes('mixed order')
  let passing = 0
  let failing = 0
  for (let tries = 0; (passing < 2 || failing < 2) && tries < 400; tries++) {
    const r = scalar()
    const R = B.multiply(r).toBytes()
    const k = challenge(R, A2, m)
    const sig = cat(R, le32((r + k * a) % L)) // holds iff [k]T8 = 0, i.e. 8 | k
    const v = agreed(t, A2, m, sig, `k mod 8 = ${k % 8n}`)
    t.equal(v, k % 8n === 0n, 'valid exactly when 8 divides k')
    if (v) passing++; else failing++
  }
  t.ok(passing >= 2 && failing >= 2, 'both cases were met')
})

t.test('non-canonical S (S + L) and A (y ≥ p) are refused', async (t) => {
  const key = ed25519Key(randomBytes(32))
  const m = utf8Bytes('malleable')
  const sig = ed25519Sign(key, m)
  const S = le(sig.subarray(32))
  const big = cat(sig.subarray(0, 32), le32(S + L))
  t.notOk(agreed(t, key.publicKey, m, big, 'S + L'))
  const eq = cat(sig.subarray(0, 32), le32(L))
  t.notOk(acceptable(key.publicKey, eq), 'S = L')
  // y = p + 2 (a point exists for y = 2): a non-canonical A
  const y2 = le32((1n << 255n) - 19n + 2n)
  t.notOk(acceptable(y2, sig), 'A with y ≥ p')
  t.notOk(agreed(t, y2, m, sig, 'non-canonical A'))
  for (const be of BACKENDS) {
    t.notOk(ed25519Verify(key.publicKey.subarray(0, 31), m, sig, be), `${be}: a 31-byte key is refused, not read past`)
    t.notOk(ed25519Verify(key.publicKey, m, cat(sig, Uint8Array.of(0)), be), `${be}: a 65-byte signature is refused`)
  }
})
