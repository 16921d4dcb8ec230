/**
 * Compact block messages of the protocol core (BIP 152 for Ublocks): the
 * SipHash-2-4 reference vectors, codecs and their bounds, and rebuilding a
 * block from a pool — byte-identical to the block mined, or refused.
 */
import t from 'tap'
import {
  bodyTx, checkUblockStructure, buildTxIoT, compactFromUblockBytes, decodeBlockTxn, decodeCompactBlock, decodeGetBlockTxn, encodeBlockTxn, encodeCompactBlock,
  encodeGetBlockTxn, encodeUblock, fillMissing, MAX_BLOCK_TXS, reconstruct, shortId, shortIdKey, sipKey, siphash24, solveUblockHeader, ublockTemplate, ublockTxBytesAt,
  type BodyTx, type CompactBlock, type Ublock
} from '../../hub/src/core/index.ts'
import { seed, user, TS } from '../helpers/core.ts'

const hex = (r: { hi: number, lo: number }): string => r.hi.toString(16).padStart(8, '0') + r.lo.toString(16).padStart(8, '0')

t.test('SipHash-2-4 matches the reference vectors of the SipHash paper (key 00..0f)', async (t) => {
  const key = sipKey(Uint8Array.from({ length: 16 }, (_, i) => i))
  t.equal(hex(siphash24(key, new Uint8Array(0))), '726fdb47dd0e0e31')
  t.equal(hex(siphash24(key, Uint8Array.of(0))), '74f839c593dc67fd')
  t.equal(hex(siphash24(key, Uint8Array.from({ length: 8 }, (_, i) => i))), '93f5f5799a932462', 'one whole word, then the length word')
  t.equal(hex(siphash24(key, Uint8Array.from({ length: 15 }, (_, i) => i))), 'a129ca6149be45e5')
  t.throws(() => sipKey(new Uint8Array(15)), { code: 'ERR_INVALID_FIELD' })
})

function iots (n: number, salt: string): BodyTx[] {
  return Array.from({ length: n }, (_, i) => bodyTx(buildTxIoT(user, { ts: TS, heiot: seed(`${salt}${i}`), epoch: 1 })))
}
function blockOf (txs: readonly BodyTx[]): Ublock {
  const tpl = ublockTemplate({ prev: null, prevHash: new Uint8Array(32), gtime: TS, bits: 0x207fffff, miner: user.id, reward: 50, txs: txs.map((x) => x.tx) })
  return { header: solveUblockHeader({ ...tpl.header, index: 0 }, 1_000_000)!, txs: tpl.txs }
}
const NONCE = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8)
/** The rebuilt block, if it passes the structure check the chain runs before it keeps anything (Merkle root, duplicates). */
function assembled (cb: CompactBlock, txs: readonly BodyTx[]): Ublock {
  const block = { header: cb.header, txs }
  checkUblockStructure(block)
  return block
}

t.test('a block rebuilt from the pool is byte-identical to the block mined', async (t) => {
  const txs = iots(50, 'a')
  const block = blockOf(txs)
  const bytes = encodeUblock(block)
  const cb = decodeCompactBlock(encodeCompactBlock(compactFromUblockBytes(bytes, NONCE)))
  t.equal(cb.shortIds.length, 50)
  t.same(cb.prefilled.map((p) => p.index), [0], 'the coinbase is prefilled')
  // pool in another order, with strangers
  const pool = [...iots(20, 'stranger'), ...txs.slice().reverse()]
  const rec = reconstruct(cb, pool)
  t.same(rec.missing, [])
  t.same(encodeUblock(assembled(cb, rec.txs as BodyTx[])), bytes)
})

t.test('what the pool lacks is fetched by position (getblocktxn/blocktxn), and the result is identical', async (t) => {
  const txs = iots(30, 'b')
  const block = blockOf(txs)
  const bytes = encodeUblock(block)
  const cb = compactFromUblockBytes(bytes, NONCE)
  const rec = reconstruct(cb, txs.filter((_, i) => i % 3 !== 0))
  t.same(rec.missing, [1, 4, 7, 10, 13, 16, 19, 22, 25, 28])
  const ask = decodeGetBlockTxn(encodeGetBlockTxn({ hash: new Uint8Array(32), indexes: rec.missing }))
  t.same(ask.indexes, rec.missing)
  const answer = decodeBlockTxn(encodeBlockTxn({ hash: ask.hash, txs: ublockTxBytesAt(bytes, ask.indexes) as Uint8Array[] }))
  t.same(encodeUblock(assembled(cb, fillMissing(rec, answer.txs))), bytes)
  t.same(ublockTxBytesAt(bytes, [29, 31]), [block.txs[29]!.bytes, undefined], 'a position past the body is undefined')
  t.throws(() => fillMissing(rec, answer.txs.slice(1)), { code: 'ERR_INVALID_FIELD' }, 'a blocktxn short of what was asked')
})

t.test('a wrong transaction in the rebuilt block fails the Merkle root: the block is never assembled', async (t) => {
  const txs = iots(10, 'c')
  const cb = compactFromUblockBytes(encodeUblock(blockOf(txs)), NONCE)
  const rec = reconstruct(cb, txs)
  const wrong = (rec.txs as BodyTx[]).slice()
  wrong[3] = iots(1, 'other')[0]!
  t.throws(() => assembled(cb, wrong), { code: 'ERR_MERKLE_ROOT' })
  const swapped = (rec.txs as BodyTx[]).slice()
  ;[swapped[2], swapped[3]] = [swapped[3]!, swapped[2]!]
  t.throws(() => assembled(cb, swapped), { code: 'ERR_MERKLE_ROOT' }, 'same transactions, another order')
})

t.test('two block positions with one short id cannot be rebuilt; two pool transactions on one short id leave the position missing', async (t) => {
  const txs = iots(6, 'd')
  const cb = compactFromUblockBytes(encodeUblock(blockOf(txs)), NONCE)
  const dup = { ...cb, shortIds: [cb.shortIds[0]!, cb.shortIds[0]!, ...cb.shortIds.slice(2)] }
  t.throws(() => reconstruct(decodeCompactBlock(encodeCompactBlock(dup)), txs), { code: 'ERR_SHORT_ID_COLLISION' })
  // A stranger whose short id is (as a 48-bit collision would make it) the one at position 3.
  const stranger = iots(1, 'e')[0]!
  const key = shortIdKey(cb.headerBytes, cb.nonce)
  const colliding = { ...cb, shortIds: cb.shortIds.map((s, i) => i === 2 ? shortId(key, stranger.id) : s) }
  const rec = reconstruct(colliding, [...txs, stranger, { ...stranger, id: stranger.id.slice() }])
  t.same(rec.missing, [3], 'ambiguous in the pool: fetched by position')
})

t.test('codecs refuse what breaks their bounds', async (t) => {
  const cb = compactFromUblockBytes(encodeUblock(blockOf(iots(3, 'f'))), NONCE)
  const bytes = encodeCompactBlock(cb)
  t.throws(() => decodeCompactBlock(bytes.subarray(0, bytes.length - 1)), { code: 'ERR_TRUNCATED' })
  t.throws(() => decodeCompactBlock(Uint8Array.of(...bytes, 0)), { code: 'ERR_TRAILING_BYTES' })
  t.throws(() => encodeCompactBlock({ ...cb, prefilled: [{ index: 4, bytes: cb.prefilled[0]!.bytes }] }), { code: 'ERR_INVALID_FIELD' }, 'prefilled index past the block')
  const noTxs = encodeCompactBlock({ ...cb, shortIds: [], prefilled: [] })
  t.throws(() => decodeCompactBlock(noTxs), { code: 'ERR_INVALID_FIELD' }, 'a block without its coinbase')
  // header ‖ nonce ‖ 0 short ids ‖ 1 prefilled at delta 5: index 5 of a 1-tx block
  const out = Uint8Array.of(...noTxs.subarray(0, noTxs.length - 1), 1, 5, 1, 0)
  t.throws(() => decodeCompactBlock(out), { code: 'ERR_LIMIT' }, 'prefilled index out of range')
  const tooMany = Uint8Array.of(...noTxs.subarray(0, noTxs.length - 2), 0xff, 0xff, 0x7f)
  t.throws(() => decodeCompactBlock(tooMany), { code: 'ERR_LIMIT' }, `more than ${MAX_BLOCK_TXS} short ids`)
  t.throws(() => encodeGetBlockTxn({ hash: new Uint8Array(32), indexes: [2, 2] }), { code: 'ERR_INVALID_FIELD' }, 'indexes must ascend')
  t.throws(() => decodeGetBlockTxn(Uint8Array.of(...new Uint8Array(32), 1, 0xff, 0xff, 0x7f)), { code: 'ERR_LIMIT' })
  t.throws(() => decodeBlockTxn(Uint8Array.of(...new Uint8Array(32), 1)), { code: 'ERR_TRUNCATED' })
})
