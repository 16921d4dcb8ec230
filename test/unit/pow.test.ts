import t from 'tap'
import {
  bitsAfter, bitsToTarget, blockWork, checkBlockTime, DEVNET, InvalidFieldError, MAINNET, medianTimePast, nextBits, targetToBits, TimestampError
} from '../../hub/src/core/index.ts'

const P = MAINNET
const SPAN = P.retargetInterval * P.blockSeconds

t.test('compact bits', async (t) => {
  t.equal(bitsToTarget(0x1d00ffff), 0xffffn << 208n, 'Bitcoin genesis bits')
  t.equal(targetToBits(0xffffn << 208n), 0x1d00ffff)
  for (const bits of [0x1f00ffff, 0x1e0fffff, 0x207fffff, 0x1b0404cb, 0x03123456]) t.equal(targetToBits(bitsToTarget(bits)), bits, `round trip 0x${bits.toString(16)}`)
  t.throws(() => bitsToTarget(0x04923456), InvalidFieldError, 'negative')
  t.throws(() => bitsToTarget(0x1d000000), InvalidFieldError, 'zero mantissa')
  t.throws(() => bitsToTarget(0x2200ffff), InvalidFieldError, 'overflow')
  t.throws(() => bitsToTarget(-1), InvalidFieldError)
  t.ok(blockWork(0x1d00ffff) > blockWork(0x1f00ffff), 'harder target, more work')
})

t.test('retarget every 2016 blocks, clamped to [1/4, 4x]', async (t) => {
  const prev = 0x1c0ffff0
  const old = bitsToTarget(prev)
  const ratio = (bits: number): number => Number((bitsToTarget(bits) * 10000n) / old) / 10000
  t.equal(nextBits(P, 2015, prev, 0, 1), prev, 'no change off the boundary')
  t.equal(nextBits(P, 2016, prev, 0, SPAN), prev, 'on time: unchanged')
  t.equal(ratio(nextBits(P, 2016, prev, 0, SPAN * 2)), 2, '2x slow: target doubles (easier)')
  t.equal(ratio(nextBits(P, 2016, prev, 0, SPAN * 10)), 4, '10x slow: clamped to 4x')
  t.equal(ratio(nextBits(P, 2016, prev, 0, SPAN / 10)), 0.25, '10x fast: clamped to 1/4')
  t.equal(nextBits(P, 2016, P.powLimitBits, 0, SPAN * 10), P.powLimitBits, 'never easier than the network limit')
  const parent = { height: 2015, bits: prev, gtime: SPAN * 2 }
  t.equal(bitsAfter(P, parent, (h) => { t.equal(h, 0, 'reads the window start'); return 0 }), nextBits(P, 2016, prev, 0, SPAN * 2), 'bitsAfter on a boundary = nextBits over the window')
  t.equal(bitsAfter(P, { ...parent, height: 100 }, () => { throw new Error('no ancestor needed off a boundary') }), prev)
  t.equal(nextBits(DEVNET, DEVNET.retargetInterval, DEVNET.genesisBits, 0, DEVNET.retargetInterval * DEVNET.blockSeconds), DEVNET.genesisBits, 'devnet has its own interval')
})

t.test('median time past and future drift', async (t) => {
  const times = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110]
  t.equal(medianTimePast(times), 60)
  t.equal(medianTimePast([5, 1, 3]), 3, 'order does not matter')
  t.throws(() => checkBlockTime(P, 60, times, 1000), TimestampError, 'gtime equal to MTP is rejected')
  t.throws(() => checkBlockTime(P, 59, times, 1000), TimestampError, 'gtime before MTP is rejected')
  t.doesNotThrow(() => checkBlockTime(P, 61, times, 1000), 'just after MTP is fine even if before the last block')
  t.doesNotThrow(() => checkBlockTime(P, 1000 + P.maxFutureDrift, times, 1000), 'at the drift limit')
  t.throws(() => checkBlockTime(P, 1001 + P.maxFutureDrift, times, 1000), TimestampError, 'beyond future drift')
  t.doesNotThrow(() => checkBlockTime(P, 5, [], 1000), 'genesis has no MTP')
})
