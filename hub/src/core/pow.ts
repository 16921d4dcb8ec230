/**
 * Proof of work of Userchain (paper §IV-B3, Alg. 1).
 * - The PoW hash covers the whole Ublock header (DESIGN §4), not only
 *   nonce ‖ prehash ‖ userroot, so index and gtime are protected too.
 * - Targets are carried as Bitcoin-style compact "bits" (mantissa, exponent).
 * - Retarget every `retargetInterval` blocks:
 *     new = old × actual / (interval × blockSeconds), actual clamped to [¼, 4×]
 *   and never easier than the network's powLimit.
 * - gtime must exceed the median of the previous 11 (median-time-past) and
 *   may not run ahead of the validator's clock by more than maxFutureDrift.
 * - Fork choice uses cumulative work, work = 2^256 / (target + 1).
 */
import { InsufficientWorkError, InvalidFieldError, TimestampError } from './errors.ts'
import type { NetworkParams } from './params.ts'

const TWO_256 = 1n << 256n

/** Compact bits → 256-bit target. Rejects negative and overflowing encodings. */
export function bitsToTarget (bits: number): bigint {
  if (!Number.isInteger(bits) || bits < 0 || bits > 0xffffffff) throw new InvalidFieldError('bits', 'must be a u32')
  const exp = bits >>> 24
  const mant = bits & 0x007fffff
  if ((bits & 0x00800000) !== 0 && mant !== 0) throw new InvalidFieldError('bits', 'negative target')
  if (mant === 0) throw new InvalidFieldError('bits', 'zero target')
  const target = exp <= 3 ? BigInt(mant >>> (8 * (3 - exp))) : BigInt(mant) << BigInt(8 * (exp - 3))
  if (target === 0n || target >= TWO_256) throw new InvalidFieldError('bits', 'target out of range')
  return target
}

/** 256-bit target → compact bits (rounding down, as Bitcoin's GetCompact). */
export function targetToBits (target: bigint): number {
  if (target <= 0n || target >= TWO_256) throw new InvalidFieldError('target', 'out of range')
  let size = 0
  for (let t = target; t > 0n; t >>= 8n) size++
  let mant = size <= 3 ? Number(target << BigInt(8 * (3 - size))) : Number(target >> BigInt(8 * (size - 3)))
  if ((mant & 0x00800000) !== 0) { mant >>>= 8; size++ }
  return ((size << 24) | mant) >>> 0
}

export function hashToBigInt (hash: Uint8Array): bigint {
  let n = 0n
  for (const b of hash) n = (n << 8n) | BigInt(b)
  return n
}

/** True when the header hash, read big-endian, is at most the target. */
export function meetsTarget (hash: Uint8Array, bits: number): boolean {
  return hashToBigInt(hash) <= bitsToTarget(bits)
}

export function assertProofOfWork (hash: Uint8Array, bits: number, params: NetworkParams): void {
  if (bitsToTarget(bits) > bitsToTarget(params.powLimitBits)) throw new InsufficientWorkError('target', 'easier than the network limit')
  if (!meetsTarget(hash, bits)) throw new InsufficientWorkError('nonce', 'header hash is above the target')
}

/** Expected number of hashes to meet this target. */
export function blockWork (bits: number): bigint {
  return TWO_256 / (bitsToTarget(bits) + 1n)
}

/**
 * Bits required of the block at `height`. Off a retarget boundary it equals
 * the previous block's; on one, the window's actual timespan (gtime of the
 * last block minus gtime of the first block of the window) rescales it.
 */
export function nextBits (params: NetworkParams, height: number, prevBits: number, windowFirstTime: number, windowLastTime: number): number {
  if (height % params.retargetInterval !== 0 || height === 0) return prevBits
  const expected = params.retargetInterval * params.blockSeconds
  let actual = windowLastTime - windowFirstTime
  if (actual < expected / 4) actual = expected / 4
  if (actual > expected * 4) actual = expected * 4
  let target = (bitsToTarget(prevBits) * BigInt(Math.round(actual))) / BigInt(expected)
  const limit = bitsToTarget(params.powLimitBits)
  if (target > limit) target = limit
  if (target < 1n) target = 1n
  return targetToBits(target)
}

/** Median of the given gtimes (the previous mtpWindow blocks, newest last). */
export function medianTimePast (times: readonly number[]): number {
  if (times.length === 0) return 0
  const s = [...times].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

/** gtime must be > MTP of its predecessors and ≤ now + maxFutureDrift. */
export function checkBlockTime (params: NetworkParams, gtime: number, prevTimes: readonly number[], now: number): void {
  const mtp = medianTimePast(prevTimes.slice(-params.mtpWindow))
  if (prevTimes.length > 0 && gtime <= mtp) throw new TimestampError('gtime', `${gtime} is not after the median time past ${mtp}`)
  if (gtime > now + params.maxFutureDrift) throw new TimestampError('gtime', `${gtime} is more than ${params.maxFutureDrift}s ahead of now (${now})`)
}

/**
 * Bits the block after `parent` must carry: the parent's, except on a
 * retarget boundary, where the window's first block's gtime (read through
 * `gtimeAt`, an ancestor of the parent at that height) rescales them. One
 * rule for full nodes and light nodes alike.
 */
export function bitsAfter (params: NetworkParams, parent: { readonly height: number, readonly bits: number, readonly gtime: number }, gtimeAt: (height: number) => number): number {
  const h = parent.height + 1
  if (h % params.retargetInterval !== 0) return parent.bits
  return nextBits(params, h, parent.bits, gtimeAt(Math.max(0, h - params.retargetInterval)), parent.gtime)
}
