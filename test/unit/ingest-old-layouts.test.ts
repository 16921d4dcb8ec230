/**
 * A hub updated over a data dir an older version wrote reopens it: the two
 * on-disk layouts written before the present ones are read as they are.
 *  - readings sealed one per row (`pend!…` holding one PendingReading, not
 *    an array of the readings one group commit made durable);
 *  - a batch state holding its sealed bytes inline (`bst!…` with `sealed`,
 *    before the bytes had their own `bsb!…` row): a resumed batch keeps those
 *    bytes (same CID, no second nonce), and its next step moves them to
 *    their own row.
 * Each layout is written here directly, as the older version wrote it.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { DEVNET, toHex } from '../../hub/src/core/index.ts'
import { BatchKeys } from '../../hub/src/ingest/batch-keys.ts'
import { DurableBatches, sealedKey, stateKey } from '../../hub/src/ingest/batches.ts'
import { formatLine, parseLine, readingToWire } from '../../hub/src/ingest/line.ts'
import { Ingest } from '../../hub/src/ingest/pipeline.ts'
import { keys as rows, type PendingReading } from '../../hub/src/ingest/store.ts'
import { CoreNode } from '../../hub/src/roles/core/node.ts'
import { coreBatchChain } from '../../hub/src/nodered/wire.ts'
import { who } from '../helpers/core.ts'

const line = (s: number): string => formatLine({ d: 'd-1', b: 1, s, t: 'hr', v: 60 + s, ts: s }).trimEnd()

t.test('readings sealed one per row reopen into the open batch, close with it, and keep their key until it is deleted', async (t) => {
  const dir = t.testdir()
  const db = join(dir, 'ingest')
  const keys = await BatchKeys.open(join(dir, 'batch-keys'), new Uint8Array(32).fill(3), { sync: false })
  t.teardown(async () => { await keys.close() })
  let ing = await Ingest.open(db, { sync: false, batchKeys: keys, thresholds: [] })
  await ing.registry.add('d-1', { user: 'u', sensors: ['hr'] })
  // the older layout: each reading its own row, sealed alone under the open batch's key, its replay mark beside it
  const kid = await keys.create()
  const old: PendingReading[] = [0, 1, 2].map((s) => ({ w: readingToWire(parseLine(line(s))), at: Date.now() + s }))
  await ing.store.write(old.map((p) => {
    const row = rows.pending('u', 'd-1', 1, p.w.s)
    return { type: 'put' as const, key: row, value: keys.seal([kid], row, JSON.stringify(p)) }
  }), { device: 'd-1', boot: 1, seq: 2 })
  await ing.close()

  ing = await Ingest.open(db, { sync: false, batchKeys: keys, thresholds: [] })
  t.teardown(async () => { await ing.close() })
  t.equal(ing.pendingCount('u'), 3, 'the three readings are pending again')
  t.ok(keys.has(kid), 'their key is named by their rows: kept')
  t.equal((await ing.submit(line(2), { source: 'api' })).ok, false, 'their replay mark holds')
  t.ok((await ing.submit(line(3), { source: 'api' })).ok, 'a new reading joins them')
  const b = await ing.flush('u')
  t.same(b?.readings.map((p) => p.w.s), [0, 1, 2, 3], 'one batch holds the old rows\' readings and the new one, in order')
  t.same(b?.readings.slice(0, 3), old, 'the old readings as they were stored')
  t.same((await ing.batch(b!.id))?.readings.map((p) => p.w.s), [0, 1, 2, 3], 'the batch row reads back')
  const left: string[] = []
  for await (const [k] of ing.store.scanRaw('pend!')) left.push(k)
  t.same(left, [], 'the old rows left with the close')
  await ing.deleteBatch(b!.id)
  t.notOk(keys.has(kid), 'the old rows\' key is destroyed with their batch')
})

t.test('a batch state with its sealed bytes inline: resumed with those bytes, moved to their own row by the next step', async (t) => {
  const dir = t.testdir()
  const user = who('old-layout-user')
  const core = await CoreNode.open({ dir: join(dir, 'chain'), params: DEVNET, verifyThreads: 1 })
  t.teardown(async () => { await core.close() })
  const ing = await Ingest.open(join(dir, 'ingest'), { sync: false, thresholds: [] })
  t.teardown(async () => { await ing.close() })
  await ing.registry.add('d-1', { user: toHex(user.id), sensors: ['hr'] })
  for (let s = 0; s < 3; s++) t.ok((await ing.submit(line(s), { source: 'api' })).ok)
  const b = await ing.flush(toHex(user.id))
  // the older layout, as a hub that sealed the batch and then stopped left it
  const first = new Uint8Array(randomBytes(96))
  const inline = Buffer.from(first).toString('base64')
  await ing.store.write([{ type: 'put', key: stateKey(b!.id), value: JSON.stringify({ stage: 'sealed', sealed: inline, epoch: 1 }) }])

  // the hub restarted: a new DurableBatches over the store
  const db = new DurableBatches({ ingest: ing, identity: user, chain: coreBatchChain(core), users: [toHex(user.id)] })
  t.teardown(() => { db.stop() })
  const open = await db.get(b!.id)
  t.equal(open?.state.stage, 'sealed')
  t.equal(open?.state.sealed, inline, 'the inline bytes are the batch\'s sealed bytes')
  t.same(open?.batch.readings.map((p) => p.w.s), [0, 1, 2])
  const again = await db.sealed(b!.id, new Uint8Array(randomBytes(96)), 1)
  t.equal(toHex(again.sealed), toHex(first), 'sealed again: the first bytes are kept, the new ones (a second nonce) discarded')
  await db.uploaded(b!.id, 'bafkreiexamplecid')
  const state = JSON.parse((await ing.store.db.get(stateKey(b!.id)))!) as Record<string, unknown>
  t.equal(state.sealed, undefined, 'the state row no longer holds the bytes…')
  t.equal(state.stage, 'uploaded')
  t.equal(JSON.parse((await ing.store.db.get(sealedKey(b!.id)))!), inline, '…their own row does, unchanged')
  t.equal((await db.stateOf(b!.id, { sealed: true }))?.sealed, inline)
})
