/**
 * SipHash-2-4 (Aumasson & Bernstein, "SipHash: a fast short-input PRF",
 * 2012), the keyed hash BIP 152 uses for compact-block short transaction ids.
 * 64-bit arithmetic on 32-bit halves; the key is 16 bytes (k0, k1 little
 * endian), the output the 64-bit value as { hi, lo }.
 */
import { checkBytes } from '../codec.ts'

/** The four 64-bit state words as (hi, lo) pairs: v0h v0l v1h v1l v2h v2l v3h v3l. */
type State = Uint32Array

function add (s: State, a: number, b: number): void {
  const lo = (s[a + 1]! + s[b + 1]!) >>> 0
  s[a] = (s[a]! + s[b]! + (lo < s[a + 1]! ? 1 : 0)) >>> 0
  s[a + 1] = lo
}
function rotl (s: State, a: number, r: number): void {
  const hi = s[a]!
  const lo = s[a + 1]!
  if (r === 32) { s[a] = lo; s[a + 1] = hi; return }
  s[a] = ((hi << r) | (lo >>> (32 - r))) >>> 0
  s[a + 1] = ((lo << r) | (hi >>> (32 - r))) >>> 0
}
function xor (s: State, a: number, b: number): void { s[a] = (s[a]! ^ s[b]!) >>> 0; s[a + 1] = (s[a + 1]! ^ s[b + 1]!) >>> 0 }

const V0 = 0
const V1 = 2
const V2 = 4
const V3 = 6

function sipRound (s: State): void {
  add(s, V0, V1); rotl(s, V1, 13); xor(s, V1, V0); rotl(s, V0, 32)
  add(s, V2, V3); rotl(s, V3, 16); xor(s, V3, V2)
  add(s, V0, V3); rotl(s, V3, 21); xor(s, V3, V0)
  add(s, V2, V1); rotl(s, V1, 17); xor(s, V1, V2); rotl(s, V2, 32)
}

function le32 (b: Uint8Array, i: number): number { return (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) >>> 0 }

/** A SipHash key split into its 32-bit halves (k0 lo, k0 hi, k1 lo, k1 hi), prepared once per block. */
export interface SipKey { readonly k: Uint32Array }

export function sipKey (key: Uint8Array): SipKey {
  checkBytes('siphash.key', key, 16)
  return { k: Uint32Array.of(le32(key, 0), le32(key, 4), le32(key, 8), le32(key, 12)) }
}

const S = new Uint32Array(8)
const M = new Uint32Array(2)

function absorb (hi: number, lo: number): void {
  S[V3] = (S[V3]! ^ hi) >>> 0; S[V3 + 1] = (S[V3 + 1]! ^ lo) >>> 0
  sipRound(S); sipRound(S)
  S[V0] = (S[V0]! ^ hi) >>> 0; S[V0 + 1] = (S[V0 + 1]! ^ lo) >>> 0
}

/** SipHash-2-4 of `msg` under `key`: the 64-bit result as its high and low 32 bits. */
export function siphash24 (key: SipKey, msg: Uint8Array): { hi: number, lo: number } {
  const [k0l, k0h, k1l, k1h] = key.k as unknown as [number, number, number, number]
  S[0] = (k0h ^ 0x736f6d65) >>> 0; S[1] = (k0l ^ 0x70736575) >>> 0
  S[2] = (k1h ^ 0x646f7261) >>> 0; S[3] = (k1l ^ 0x6e646f6d) >>> 0
  S[4] = (k0h ^ 0x6c796765) >>> 0; S[5] = (k0l ^ 0x6e657261) >>> 0
  S[6] = (k1h ^ 0x74656462) >>> 0; S[7] = (k1l ^ 0x79746573) >>> 0
  const full = msg.length - (msg.length % 8)
  for (let i = 0; i < full; i += 8) absorb(le32(msg, i + 4), le32(msg, i))
  // Last block: the remaining bytes, little endian, with the length's low byte on top.
  M[0] = (msg.length & 0xff) << 24; M[1] = 0
  for (let i = full; i < msg.length; i++) {
    const j = i - full
    if (j < 4) M[1] = (M[1]! | (msg[i]! << (8 * j))) >>> 0
    else M[0] = (M[0]! | (msg[i]! << (8 * (j - 4)))) >>> 0
  }
  absorb(M[0]! >>> 0, M[1]!)
  S[V2 + 1] = (S[V2 + 1]! ^ 0xff) >>> 0
  sipRound(S); sipRound(S); sipRound(S); sipRound(S)
  return { hi: (S[0]! ^ S[2]! ^ S[4]! ^ S[6]!) >>> 0, lo: (S[1]! ^ S[3]! ^ S[5]! ^ S[7]!) >>> 0 }
}
