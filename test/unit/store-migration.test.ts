/**
 * Upgrades (README "Upgrades"): an ingest store written by the previous
 * release (test/fixtures/release-870ff94/ingest: made by that release's
 * Ingest — two paired devices, five readings closed into a batch, three
 * still pending — see the fixture's README) opens in this one: a copy is kept
 * beside it first, the format is recorded, and every device, batch and
 * reading is read as before; a second open migrates nothing. A store of a
 * newer format is refused untouched (store/format.ts).
 */
import t from 'tap'
import { cp, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { Ingest } from '../../hub/src/ingest/pipeline.ts'
import { INGEST_FORMAT, keys } from '../../hub/src/ingest/store.ts'
import type { Migrated } from '../../hub/src/store/format.ts'
import { StoreFormatError } from '../../hub/src/store/errors.ts'

const FIXTURE = new URL('../fixtures/release-870ff94/ingest', import.meta.url).pathname
const USER = 'ab'.repeat(32)

/** The fixture's own time: just after its last pending reading arrived, so the batch window has not closed them yet. */
function fixtureNow (rows: Map<string, string>): () => number {
  const at = [...rows].filter(([k]) => k.startsWith('pend!')).map(([, v]) => (JSON.parse(v) as { at: number }).at)
  const now = Math.max(...at) + 1
  return () => now
}

async function rows (dir: string): Promise<Map<string, string>> {
  const db = new ClassicLevel<string, string>(dir, { createIfMissing: false })
  await db.open()
  try { return new Map(await db.iterator().all()) } finally { await db.close() }
}

t.test('an ingest store of the previous release is backed up, then migrated, and reads as before', async (t) => {
  const dir = t.testdir()
  const store = join(dir, 'ingest')
  await cp(FIXTURE, store, { recursive: true })
  const before = await rows(store)
  t.notOk(before.has(keys.format), 'the previous release recorded no format')

  const seen: Migrated[] = []
  const ing = await Ingest.open(store, { now: fixtureNow(before), migrated: (m) => { seen.push(m) } })
  t.match(seen, [{ from: 1, to: INGEST_FORMAT.current, steps: [/^1→2: /] }], 'opened, it is migrated from format 1')
  t.same(ing.registry.list().map((d) => [d.id, d.sensors]).sort(), [['bp-1', ['hr']], ['ox-1', ['spo2']]], 'both paired devices')
  const batches = await ing.batches(USER)
  t.equal(batches.length, 1, 'the closed batch')
  t.same(batches[0]!.readings.map((r) => r.w.s), [0, 1, 2, 3, 4], 'with its five readings')
  t.equal(ing.pendingCount(USER), 3, 'and the three readings still pending')
  await ing.close()

  const after = await rows(store)
  t.equal(after.get(keys.format), String(INGEST_FORMAT.current), 'the format is recorded')
  after.delete(keys.format)
  t.same(after, before, 'every row of the previous release is kept as it was')
  const backup = seen[0]!.backup
  t.same((await readdir(dir)).sort(), ['ingest', backup.slice(dir.length + 1)].sort(), 'a copy was kept beside the store')
  t.same(await rows(backup), before, 'the copy is the store as the previous release left it')

  const again: Migrated[] = []
  const reopened = await Ingest.open(store, { now: fixtureNow(before), migrated: (m) => { again.push(m) } })
  await reopened.close()
  t.same(again, [], 'opened again, nothing is migrated')
})

t.test('a store of a newer format is refused, and left as it is', async (t) => {
  const dir = t.testdir()
  const store = join(dir, 'ingest')
  await cp(FIXTURE, store, { recursive: true })
  const db = new ClassicLevel<string, string>(store)
  await db.put(keys.format, String(INGEST_FORMAT.current + 1))
  await db.close()
  const before = await rows(store)
  await t.rejects(Ingest.open(store), StoreFormatError, 'refused')
  await t.rejects(Ingest.open(store), { message: new RegExp(`ingest store of format ${INGEST_FORMAT.current + 1}, written by a newer release; this one reads up to format ${INGEST_FORMAT.current}`) }, 'saying why')
  t.same(await rows(store), before, 'untouched')
  t.same(await readdir(dir), ['ingest'], 'no copy made')
})

t.test('a fresh store records the current format at once', async (t) => {
  const store = join(t.testdir(), 'ingest')
  const ing = await Ingest.open(store)
  await ing.close()
  t.equal((await rows(store)).get(keys.format), String(INGEST_FORMAT.current))
})
