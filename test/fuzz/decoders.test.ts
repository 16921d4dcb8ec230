/**
 * Random and mutated bytes never crash a decoder: every failure is a typed
 * HealthchainError naming a field (never a bare TypeError or RangeError).
 */
import t from 'tap'
import fc from 'fast-check'
import {
  decodeDblock, decodeDblockHeader, decodeIdentityRecord, decodeTx, decodeUblock, decodeUblockHeader, encodeTx, encodeUblock,
  genesisUblock, DEVNET, HealthchainError, ublockTemplate, buildIdentityRecord, encodeIdentityRecord, encodeDblock, dblockProposal
} from '../../hub/src/core/index.ts'
import { sampleTxs, user, TS, seed } from '../helpers/core.ts'

const decoders: Array<[string, (b: Uint8Array) => unknown]> = [
  ['tx', decodeTx], ['ublock', decodeUblock], ['ublock header', decodeUblockHeader],
  ['dblock', decodeDblock], ['dblock header', decodeDblockHeader], ['identity', decodeIdentityRecord]
]

const txs = sampleTxs()
const seeds: Uint8Array[] = [
  ...txs.map(encodeTx),
  encodeUblock(genesisUblock(DEVNET)),
  encodeUblock(ublockTemplate({ prev: null, prevHash: new Uint8Array(32), gtime: 1, bits: DEVNET.genesisBits, miner: user.id, reward: 1, txs: txs.filter((x) => x.kind === 'iot' || x.kind === 'key') })),
  encodeIdentityRecord(buildIdentityRecord(user, TS)),
  encodeDblock(dblockProposal({ index: 1, gtime: TS, prehash: seed('p'), view: 0, leader: user.id, txs: txs.filter((x) => x.kind === 'diag') as never }))
]

function typedOnly (name: string, decode: (b: Uint8Array) => unknown, b: Uint8Array): boolean {
  try { decode(b) } catch (err) {
    if (!(err instanceof HealthchainError)) throw new Error(`${name} threw ${String(err)} on ${Buffer.from(b).toString('hex')}`)
  }
  return true
}

t.test('random bytes', async (t) => {
  for (const [name, decode] of decoders) {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (b) => typedOnly(name, decode, b)), { numRuns: 1500 })
  }
  t.pass('no decoder threw an untyped error on random input')
})

t.test('mutations of valid encodings (flip, truncate, extend, splice)', async (t) => {
  const mutate = fc.tuple(fc.constantFrom(...seeds), fc.nat(), fc.integer({ min: 1, max: 255 }), fc.integer({ min: 0, max: 3 }), fc.uint8Array({ maxLength: 8 }))
    .map(([s, pos, x, op, extra]) => {
      const b = s.slice()
      const i = pos % b.length
      if (op === 0) { b[i]! ^= x; return b }
      if (op === 1) return b.subarray(0, i)
      if (op === 2) return Uint8Array.of(...b, ...extra)
      return Uint8Array.of(...b.subarray(0, i), ...extra, ...b.subarray(i))
    })
  for (const [name, decode] of decoders) {
    fc.assert(fc.property(mutate, (b) => typedOnly(name, decode, b)), { numRuns: 1500 })
  }
  t.pass('no decoder threw an untyped error on mutated input')
})
