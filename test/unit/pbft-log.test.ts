/**
 * store/pbft-log.ts on a real LevelDB: the snapshot codec is strict; a
 * replica's persist/compact/commit actions survive a close and reopen; a
 * replica restarted from what was loaded rejoins the simulated network.
 */
import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { dblockHash, toHex, verifyCertificate, type Dblock } from '../../hub/src/core/index.ts'
import { decodeSnapshot, encodeSnapshot, PbftLog } from '../../hub/src/store/pbft-log.ts'
import type { Action } from '../../hub/src/core/pbft/replica.ts'
import { GENESIS, Sim, txPool } from '../fuzz/pbft-sim.ts'

t.test('snapshot codec round-trips and rejects trailing bytes', async (t) => {
  const sim = new Sim({ seed: 21, n: 4 })
  txPool(3).forEach((tx, i) => sim.submit(tx, 1, i))
  sim.run(() => sim.submittedAt.size === 3 && sim.allCommitted(), 5000)
  const snap = sim.nodes[1]!.replica.snapshot()
  const bytes = encodeSnapshot(snap)
  t.same(decodeSnapshot(bytes), snap)
  t.throws(() => decodeSnapshot(Uint8Array.of(...bytes, 0)), /trailing/)
  t.throws(() => decodeSnapshot(bytes.subarray(0, bytes.length - 1)))
})

t.test('restart from LevelDB: the log survives reopen, the replica rejoins and catches up', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pbft-log-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  let log = await PbftLog.open(dir, GENESIS)
  const sim = new Sim({ seed: 22, n: 4, replica: { checkpointInterval: 2, window: 8, maxBatch: 1 } })
  const recorded: Action[][] = []
  sim.onActions = (i, a) => { if (i === 3) recorded.push(a) }
  const txs = txPool(9)
  txs.slice(0, 5).forEach((tx, i) => sim.submit(tx, i % 4, i * 20))
  t.ok(sim.run(() => sim.submittedAt.size === 5 && sim.allCommitted(), 5000))
  sim.crash(3)
  for (const a of recorded) await log.apply(a) // in order, as the accounting role does before sending
  const inMemory = sim.nodes[3]!
  t.equal(log.tipHeight, inMemory.chain.length - 1)
  await log.close()

  log = await PbftLog.open(dir, GENESIS)
  t.teardown(() => log.close())
  const loaded = await log.load()
  t.equal(loaded.tip.header.index, 5)
  t.same(toHex(dblockHash(loaded.tip.header)), toHex(dblockHash(inMemory.chain[5]!.header)), 'same tip')
  t.doesNotThrow(() => verifyCertificate(loaded.tip, sim.members), 'stored with its certificate')
  t.equal(loaded.txIds.length, 5)
  t.equal(toHex(encodeSnapshot(loaded.snapshot)), toHex(encodeSnapshot(inMemory.snapshot)), 'the last compaction snapshot')
  t.same(loaded.appended.map(toHex), inMemory.appended.map(toHex), 'and every message accepted after it, in order')
  t.ok(loaded.snapshot.stableSeq >= 2, 'a compaction happened')
  t.equal(await log.txHeight(inMemory.chain[2]!.txs[0]!.id), 2)
  t.same((await log.blocks(2, 2)).map((b) => b.header.index), [2, 3])

  // Meanwhile the others move on; then node 3 comes back from disk.
  txs.slice(5, 7).forEach((tx, i) => sim.submit(tx, 0, sim.now + i * 20))
  t.ok(sim.run(() => [0, 1, 2].every((i) => sim.nodes[i]!.replica.executedSeq === 7), sim.now + 5000))
  const chain: Dblock[] = [GENESIS]
  for (let h = 1; h <= loaded.tip.header.index; h++) chain.push((await log.block(h))!)
  sim.restart(3, { ...loaded, chain })
  txs.slice(7).forEach((tx, i) => sim.submit(tx, 3, sim.now + i * 20))
  t.ok(sim.run(() => sim.submittedAt.size === 9 && sim.allCommitted(), sim.now + 10_000), 'restarted from LevelDB, caught up, commits again')
  t.equal(sim.safety, null)
  t.equal(sim.nodes[3]!.chain.length - 1, 9)
})

t.test('a Docchain store of the older format (pbft/3.0.0, no format key) is refused with a clear error; a fresh one reopens', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pbft-log-format-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const fresh = await PbftLog.open(join(dir, 'fresh'), GENESIS)
  await fresh.close()
  const again = await PbftLog.open(join(dir, 'fresh'), GENESIS)
  t.equal(again.tipHeight, 0, 'a store this version wrote reopens')
  await again.close()
  // What 3.0.0 left: a certified Dblock at height 1, no format key.
  const db = new ClassicLevel<Uint8Array, Uint8Array>(join(dir, 'old'), { keyEncoding: 'view', valueEncoding: 'view' })
  await db.put(Uint8Array.of(0x62, 0, 0, 0, 1), new Uint8Array(200))
  await db.close()
  await t.rejects(PbftLog.open(join(dir, 'old'), GENESIS), { name: 'StoreFormatError', code: 'ERR_STORE_FORMAT', message: /Docchain store of format 1, and this release has no migration from it: pbft\/3.0.0 .*move the store aside/ })
  await t.rejects(PbftLog.open(join(dir, 'old'), GENESIS), { code: 'ERR_STORE_FORMAT' }, 'and again: the refused store was closed, not left locked')
})

t.test('tip-before-write: the tip height names a Dblock only once it is written (a reader told h reads block h)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pbft-log-tip-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const log = await PbftLog.open(dir, GENESIS)
  t.teardown(() => log.close())
  const sim = new Sim({ seed: 23, n: 4 })
  const recorded: Action[][] = []
  sim.onActions = (i, a) => { if (i === 2) recorded.push(a) }
  txPool(2).forEach((tx, i) => sim.submit(tx, 1, i))
  t.ok(sim.run(() => sim.submittedAt.size === 2 && sim.allCommitted(), 5000))
  const withCommit = recorded.filter((a) => a.some((x) => x.type === 'commit'))
  t.ok(withCommit.length > 0, 'the replica committed')
  for (const a of recorded) {
    const writing = log.apply(a)
    // while the batch is being written, every height the log reports is readable
    const h = log.tipHeight
    t.not(await log.block(h), undefined, `block ${h} readable while a group commit is in flight`)
    await writing
    t.not(await log.block(log.tipHeight), undefined, `block ${log.tipHeight} readable after it`)
  }
  t.equal(log.tipHeight, sim.nodes[2]!.chain.length - 1)
})
