/**
 * SipHash-2-4 (Aumasson & Bernstein, "SipHash: a fast short-input PRF",
 * 2012), the keyed hash BIP 152 uses for compact-block short transaction ids.
 * 64-bit arithmetic on 32-bit halves; the key is 16 bytes (k0, k1 little
 * endian), the output the 64-bit value as { hi, lo }.
 */
import { checkBytes } from '../codec.ts'

function le32 (b: Uint8Array, i: number): number { return (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) >>> 0 }

/** A SipHash key split into its 32-bit halves (k0 lo, k0 hi, k1 lo, k1 hi), prepared once per block. */
export interface SipKey { readonly k: Uint32Array }

export function sipKey (key: Uint8Array): SipKey {
  checkBytes('siphash.key', key, 16)
  return { k: Uint32Array.of(le32(key, 0), le32(key, 4), le32(key, 8), le32(key, 12)) }
}

/**
 * SipHash-2-4 of `msg` under `key`: the 64-bit result as its high and low 32
 * bits. One loop over the message words, then the final word (length byte
 * on top), then the finalization; the state lives in locals (v0..v3 as
 * high/low halves), as a short-id pass over a mempool of thousands calls
 * this once per transaction.
 */
export function siphash24 (key: SipKey, msg: Uint8Array): { hi: number, lo: number } {
  const k = key.k
  let v0h = (k[1]! ^ 0x736f6d65) >>> 0; let v0l = (k[0]! ^ 0x70736575) >>> 0
  let v1h = (k[3]! ^ 0x646f7261) >>> 0; let v1l = (k[2]! ^ 0x6e646f6d) >>> 0
  let v2h = (k[1]! ^ 0x6c796765) >>> 0; let v2l = (k[0]! ^ 0x6e657261) >>> 0
  let v3h = (k[3]! ^ 0x74656462) >>> 0; let v3l = (k[2]! ^ 0x79746573) >>> 0
  const full = msg.length - (msg.length % 8)
  const words = full / 8 + 1 // the message words and the final word
  for (let w = 0; w <= words; w++) {
    let mh = 0
    let ml = 0
    let rounds = 4
    if (w < words) {
      rounds = 2
      if (w * 8 < full) {
        ml = le32(msg, w * 8); mh = le32(msg, w * 8 + 4)
      } else {
        // the last bytes, little endian, with the length's low byte on top
        mh = (msg.length & 0xff) << 24
        for (let i = full; i < msg.length; i++) {
          const j = i - full
          if (j < 4) ml |= msg[i]! << (8 * j)
          else mh |= msg[i]! << (8 * (j - 4))
        }
        mh >>>= 0; ml >>>= 0
      }
      v3h = (v3h ^ mh) >>> 0; v3l = (v3l ^ ml) >>> 0
    } else {
      v2l = (v2l ^ 0xff) >>> 0
    }
    for (let r = 0; r < rounds; r++) {
      let lo: number
      let t: number
      // v0 += v1; v1 <<<= 13; v1 ^= v0; v0 <<<= 32
      lo = (v0l + v1l) >>> 0; v0h = (v0h + v1h + (lo < v0l ? 1 : 0)) >>> 0; v0l = lo
      t = v1h; v1h = ((v1h << 13) | (v1l >>> 19)) >>> 0; v1l = ((v1l << 13) | (t >>> 19)) >>> 0
      v1h = (v1h ^ v0h) >>> 0; v1l = (v1l ^ v0l) >>> 0
      t = v0h; v0h = v0l; v0l = t
      // v2 += v3; v3 <<<= 16; v3 ^= v2
      lo = (v2l + v3l) >>> 0; v2h = (v2h + v3h + (lo < v2l ? 1 : 0)) >>> 0; v2l = lo
      t = v3h; v3h = ((v3h << 16) | (v3l >>> 16)) >>> 0; v3l = ((v3l << 16) | (t >>> 16)) >>> 0
      v3h = (v3h ^ v2h) >>> 0; v3l = (v3l ^ v2l) >>> 0
      // v0 += v3; v3 <<<= 21; v3 ^= v0
      lo = (v0l + v3l) >>> 0; v0h = (v0h + v3h + (lo < v0l ? 1 : 0)) >>> 0; v0l = lo
      t = v3h; v3h = ((v3h << 21) | (v3l >>> 11)) >>> 0; v3l = ((v3l << 21) | (t >>> 11)) >>> 0
      v3h = (v3h ^ v0h) >>> 0; v3l = (v3l ^ v0l) >>> 0
      // v2 += v1; v1 <<<= 17; v1 ^= v2; v2 <<<= 32
      lo = (v2l + v1l) >>> 0; v2h = (v2h + v1h + (lo < v2l ? 1 : 0)) >>> 0; v2l = lo
      t = v1h; v1h = ((v1h << 17) | (v1l >>> 15)) >>> 0; v1l = ((v1l << 17) | (t >>> 15)) >>> 0
      v1h = (v1h ^ v2h) >>> 0; v1l = (v1l ^ v2l) >>> 0
      t = v2h; v2h = v2l; v2l = t
    }
    if (w < words) { v0h = (v0h ^ mh) >>> 0; v0l = (v0l ^ ml) >>> 0 }
  }
  return { hi: (v0h ^ v1h ^ v2h ^ v3h) >>> 0, lo: (v0l ^ v1l ^ v2l ^ v3l) >>> 0 }
}
