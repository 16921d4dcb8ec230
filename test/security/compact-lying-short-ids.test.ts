/**
 * Attack: a peer announces a compact block whose short ids do not name the
 * block's transactions (here: two swapped, or one replaced by another
 * mempool transaction). The receiver's rebuilt block fails the header's
 * userroot; it fetches the block whole from the announcer. A liar that
 * cannot serve the real block gets nothing stored; one that can sees the
 * real block accepted — byte for byte the block mined, never the rebuilt
 * one.
 */
import t from 'tap'
import { announce, compactPair, storedQuietly } from '../helpers/compact.ts'
import { shortId, shortIdKey, toHex } from '../../hub/src/core/index.ts'
import { until } from '../integration/net-helpers.ts'

t.test('lying short ids: the rebuilt block is never accepted; the real one is fetched whole', async (t) => {
  const { sender: liar, receiver: victim, txs } = await compactPair(t, 12)
  const stats = victim.cnet.compact.stats
  const tip = victim.node.store.tip.hex
  const assembled = stats.rebuilt + stats.completed
  const inBlock = txs.slice(0, 10)

  // 1. A block the liar does not hold, announced with a short id naming a mempool tx that is not in it.
  const ghost = await storedQuietly(liar, inBlock, false)
  await announce(liar, ghost.bytes, (cb) => {
    const key = cb.shortIds.slice()
    key[3] = key[key.length - 1]! // another tx of the block at position 4 too: the rebuilt list cannot match
    return { ...cb, shortIds: key }
  })
  await until('fallback tried', () => stats.fullFetches === 1)
  await until('verdict given', () => victim.cnet.gossip.stats.cmpct.ignored + victim.cnet.gossip.stats.cmpct.rejected >= 1)
  t.equal(victim.node.store.entry(ghost.hex), undefined, 'nothing stored for a block the liar cannot serve')
  t.equal(victim.node.store.tip.hex, tip)

  // 2. The liar holds the block and announces it with two short ids swapped.
  const real = await storedQuietly(liar, inBlock)
  await announce(liar, real.bytes, (cb) => {
    const ids = cb.shortIds.slice()
    ;[ids[1], ids[2]] = [ids[2]!, ids[1]!]
    return { ...cb, shortIds: ids }
  })
  await until('real block accepted', () => victim.node.store.tip.hex === real.hex)
  t.equal(stats.fullFetches, 2, 'fetched whole')
  t.equal(stats.rebuilt + stats.completed, assembled, 'no rebuilt block was assembled')
  t.equal(toHex((await victim.node.store.getBlockBytes(Buffer.from(real.hex, 'hex')))!), toHex(real.bytes), 'the stored block is the one mined, byte for byte')

  // 3. A short id naming a mempool tx outside the block (the victim holds txs 10 and 11).
  const more = await storedQuietly(liar, txs.slice(10, 11))
  await announce(liar, more.bytes, (cb) => ({ ...cb, shortIds: [shortId(shortIdKey(cb.headerBytes, cb.nonce), txs[11]!.id)] }))
  await until('next real block accepted', () => victim.node.store.tip.hex === more.hex)
  t.equal(stats.fullFetches, 3, 'fetched whole')
  t.equal(toHex((await victim.node.store.getBlockBytes(Buffer.from(more.hex, 'hex')))!), toHex(more.bytes))
  t.ok(victim.node.mempool.has(txs[11]!.id), 'the tx the block did not hold stays pooled')
})
