/**
 * Light node header chain and header-first sync checks (paper §III-A, §IV-B3):
 * PoW, linkage, required target and median-time-past are enforced as on core
 * nodes; the branch with the most work wins; locators reach back to genesis.
 */
import t from 'tap'
import {
  genesisUblock, meetsTarget, solveUblockHeader, toHex, ublockHash, ublockTemplate, type UblockHeader
} from '../../hub/src/core/index.ts'
import { HeaderChain } from '../../hub/src/roles/light/headers.ts'
import { blockLocator, checkHeaderBatch } from '../../hub/src/net/sync.ts'
import { who } from '../helpers/core.ts'
import { TESTNET } from '../helpers/userchain.ts'

const miner = who('miner').id
const NOW = TESTNET.genesisTime + 100_000

function child (prev: UblockHeader, f: { dt?: number, bits?: number, salt?: number } = {}): UblockHeader {
  const tpl = ublockTemplate({ prev, prevHash: ublockHash(prev), gtime: prev.gtime + (f.dt ?? 10), bits: f.bits ?? TESTNET.powLimitBits, miner, reward: f.salt ?? 1, txs: [] })
  return solveUblockHeader(tpl.header, 100_000)!
}
function chain (from: UblockHeader, n: number, salt = 0): UblockHeader[] {
  const out: UblockHeader[] = []
  let prev = from
  for (let i = 0; i < n; i++) { prev = child(prev, { salt: salt + 1 }); out.push(prev) }
  return out
}
const G = genesisUblock(TESTNET).header

t.test('a valid chain is taken; the tip and heights follow', async (t) => {
  const c = new HeaderChain(TESTNET, () => NOW)
  const hs = chain(G, 15)
  for (const h of hs) t.ok(c.add(h))
  t.notOk(c.add(hs[3]!), 'a known header is a duplicate')
  t.equal(c.height, 15)
  t.same(c.hashAt(7), ublockHash(hs[6]!))
  const again = HeaderChain.restore(TESTNET, c.serialize(), () => NOW)
  t.equal(again.tip.hex, c.tip.hex, 'saved headers restore to the same tip')
})

t.test('invalid headers are refused with the core typed errors', async (t) => {
  const c = new HeaderChain(TESTNET, () => NOW)
  const hs = chain(G, 3)
  for (const h of hs) c.add(h)
  const tip = hs[2]!
  let bad = child(tip)
  let nonce = 0
  while (meetsTarget(ublockHash({ ...bad, nonce }), bad.bits)) nonce++
  bad = { ...bad, nonce }
  t.throws(() => c.add(bad), { code: 'ERR_POW' }, 'hash above the target')
  t.throws(() => c.add(child(tip, { bits: 0x2000ffff })), { code: 'ERR_POW' }, 'bits other than required (even harder ones)')
  t.throws(() => c.add(child(tip, { dt: -100 })), { code: 'ERR_TIMESTAMP' }, 'gtime not after the median time past')
  t.throws(() => c.add(child(tip, { dt: 10_000_000 })), { code: 'ERR_TIMESTAMP' }, 'gtime too far ahead of the clock')
  t.throws(() => c.add(child(child(tip))), { code: 'ERR_ORPHAN' }, 'unknown parent')
  const wrongIndex = solveUblockHeader({ ...child(tip), index: 9 }, 1000)!
  t.throws(() => c.add(wrongIndex), { code: 'ERR_INVALID_FIELD' }, 'index not parent + 1')
  t.equal(c.height, 3, 'none of them moved the tip')
})

t.test('fork choice: the branch with more work wins, a tie keeps the first seen', async (t) => {
  const c = new HeaderChain(TESTNET, () => NOW)
  const base = chain(G, 5)
  for (const h of base) c.add(h)
  const a = chain(base[4]!, 2, 100)
  const b = chain(base[4]!, 3, 200)
  for (const h of a) c.add(h)
  const tipA = c.tip.hex
  c.add(b[0]!); c.add(b[1]!)
  t.equal(c.tip.hex, tipA, 'equal work: first seen stays')
  c.add(b[2]!)
  t.equal(c.tip.hex, toHex(ublockHash(b[2]!)), 'more work: switch')
  t.notOk(c.isOnMainChain(ublockHash(a[0]!)), 'the lighter branch left the main chain')
  t.ok(c.isOnMainChain(ublockHash(base[2]!)))
})

t.test('locator and header batch checks', async (t) => {
  const hs = chain(G, 100)
  const hashes = [ublockHash(G), ...hs.map((h) => ublockHash(h))]
  const loc = blockLocator(100, (h) => hashes[h])
  t.same(loc.slice(0, 10), hashes.slice(91, 101).reverse(), 'the last 10 hashes first')
  t.same(loc.at(-1), hashes[0], 'genesis last')
  t.ok(loc.length < 25, `${loc.length} entries for 100 blocks`)
  t.same(checkHeaderBatch(TESTNET, { hash: hashes[10]!, height: 10 }, hs.slice(10, 20)), hashes.slice(11, 21))
  t.throws(() => checkHeaderBatch(TESTNET, { hash: hashes[10]!, height: 10 }, [hs[10]!, hs[12]!]), { code: 'ERR_NET_BAD_RESPONSE' }, 'a gap breaks linkage')
  t.throws(() => checkHeaderBatch(TESTNET, { hash: hashes[9]!, height: 10 }, [hs[10]!]), { code: 'ERR_NET_BAD_RESPONSE' }, 'wrong parent')
})
