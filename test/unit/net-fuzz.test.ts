/**
 * Every wire decoder of the network layer against arbitrary and mutated
 * input (DESIGN §9: fuzz every decoder): it returns a value or throws a
 * typed HealthchainError — never another exception, never a hang — and a
 * decoded value re-encodes to the same bytes.
 */
import t from 'tap'
import fc from 'fast-check'
import { buildTxIoT, genesisUblock, HealthchainError, merkleProofs, sha256, ublockTemplate, utf8Bytes } from '../../hub/src/core/index.ts'
import {
  decodeHashes, decodeHeaders, decodeHeadersRequest, decodeProvenTx, encodeHashes, encodeHeaders, encodeHeadersRequest, encodeProvenTx
} from '../../hub/src/net/protocols.ts'
import { who } from '../helpers/core.ts'
import { TESTNET } from '../helpers/userchain.ts'

const alice = who('alice')
const G = genesisUblock(TESTNET).header
const txs = [0, 1, 2, 3, 4].map((i) => buildTxIoT(alice, { ts: 1000, heiot: sha256(utf8Bytes(`f${i}`)), epoch: 1 }))
const block = ublockTemplate({ prev: G, prevHash: sha256(utf8Bytes('g')), gtime: 5, bits: TESTNET.powLimitBits, miner: alice.id, reward: 1, txs })
const proofs = merkleProofs(block.txs.map((x) => x.id))
const samples: Array<{ name: string, bytes: Uint8Array, decode: (b: Uint8Array) => unknown, encode: (v: never) => Uint8Array }> = [
  { name: 'headers request', bytes: encodeHeadersRequest([sha256(utf8Bytes('a')), sha256(utf8Bytes('b'))], 100), decode: decodeHeadersRequest, encode: (v: { locator: Uint8Array[], max: number }) => encodeHeadersRequest(v.locator, v.max) },
  { name: 'headers', bytes: encodeHeaders({ height: 3, hash: sha256(utf8Bytes('t')) }, [G, block.header]), decode: decodeHeaders, encode: (v: { tip: { height: number, hash: Uint8Array }, headers: typeof G[] }) => encodeHeaders(v.tip, v.headers) },
  { name: 'hashes', bytes: encodeHashes([sha256(utf8Bytes('a'))], 16), decode: (b) => decodeHashes(b, 16), encode: (v: Uint8Array[]) => encodeHashes(v, 16) },
  { name: 'proven tx', bytes: encodeProvenTx({ tx: block.txs[3]!, header: block.header, pos: 3, size: 6, proof: proofs[3]! }), decode: decodeProvenTx, encode: (v: Parameters<typeof encodeProvenTx>[0]) => encodeProvenTx(v) }
]

function typedOrValue (decode: (b: Uint8Array) => unknown, b: Uint8Array): unknown {
  try { return decode(b) } catch (err) {
    if (!(err instanceof HealthchainError)) throw err
    return undefined
  }
}

for (const s of samples) {
  t.test(`${s.name}: arbitrary bytes`, async (t) => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (b) => { typedOrValue(s.decode, b) }), { numRuns: 400 })
    t.pass('only typed errors')
  })
  t.test(`${s.name}: mutations of a valid encoding`, async (t) => {
    fc.assert(fc.property(fc.nat(s.bytes.length - 1), fc.integer({ min: 1, max: 255 }), fc.nat(4), (at, x, cut) => {
      const m = s.bytes.slice(0, s.bytes.length - cut)
      if (at < m.length) m[at]! ^= x
      const v = typedOrValue(s.decode, m)
      if (v !== undefined) t.same(s.encode(v as never), m, 'a decoded value re-encodes to its bytes')
    }), { numRuns: 300 })
    t.same(s.encode(s.decode(s.bytes) as never), s.bytes)
  })
}
