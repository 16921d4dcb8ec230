/**
 * Attack (or bad luck): short ids collide. Two transactions of one block
 * with the same short id make the block unrebuildable; a mempool
 * transaction whose short id equals that of a block transaction it is not
 * puts the wrong transaction in the rebuilt block. A 48-bit SipHash
 * collision cannot be ground for a test, so the sender's message carries
 * the colliding short ids — the receiver sees exactly what a collision
 * shows it. Either way the receiver fetches the block whole and accepts the
 * block mined, never a wrong one.
 */
import t from 'tap'
import { shortId, shortIdKey, toHex } from '../../hub/src/core/index.ts'
import { announce, compactPair, storedQuietly } from '../helpers/compact.ts'
import { until } from '../integration/net-helpers.ts'

t.test('short-id collisions fall back to the whole block, which is accepted as mined', async (t) => {
  const { sender, receiver, txs } = await compactPair(t, 8)
  const stats = receiver.cnet.compact.stats
  const stored = async (hex: string): Promise<string> => toHex((await receiver.node.store.getBlockBytes(Buffer.from(hex, 'hex')))!)

  // 1. A pool transaction outside the block (txs[7]) collides with the block's transaction at position 2.
  const first = await storedQuietly(sender, txs.slice(0, 5))
  await announce(sender, first.bytes, (cb) => ({ ...cb, shortIds: cb.shortIds.map((s, i) => i === 1 ? shortId(shortIdKey(cb.headerBytes, cb.nonce), txs[7]!.id) : s) }))
  await until('first block accepted', () => receiver.node.store.tip.hex === first.hex)
  t.equal(stats.fullFetches, 1, 'the rebuilt block failed its root: fetched whole')
  t.equal(await stored(first.hex), toHex(first.bytes), 'byte-identical to the block mined')
  t.ok(receiver.node.mempool.has(txs[7]!.id), 'the colliding pool tx is still pooled')

  // 2. Two transactions of the block share a short id.
  const second = await storedQuietly(sender, txs.slice(5, 8))
  await announce(sender, second.bytes, (cb) => ({ ...cb, shortIds: [cb.shortIds[0]!, ...cb.shortIds.slice(0, -1)] }))
  await until('second block accepted', () => receiver.node.store.tip.hex === second.hex)
  t.equal(stats.fullFetches, 2, 'unrebuildable: fetched whole')
  t.equal(await stored(second.hex), toHex(second.bytes))
  t.equal(receiver.node.mempool.size, 0, 'every pooled tx confirmed')
  t.equal(receiver.net.peers.score(sender.net.peerId.toString()), 0, 'an honest sender is not penalised for a collision')
})
