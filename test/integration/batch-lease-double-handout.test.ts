/**
 * A batch handed out twice by racing lease sweeps (nodered/wire.ts
 * durableBatchStore): a sweep reads each free batch from the ingest store
 * before handing it out, and another sweep — a second batch node subscribing
 * at the same moment, the retry timer — may hand the same batch out while
 * the first one waits for that read. Both batch nodes would then seal,
 * upload and record it. After the read, a sweep hands a batch out only if
 * its lease is still the one it found free.
 */
import t from 'tap'
import { join } from 'node:path'
import { DEVNET, toHex } from '../../hub/src/core/index.ts'
import { CoreNode } from '../../hub/src/roles/core/node.ts'
import { DurableBatches } from '../../hub/src/ingest/batches.ts'
import { Ingest } from '../../hub/src/ingest/pipeline.ts'
import { formatLine } from '../../hub/src/ingest/line.ts'
import { coreBatchChain, durableBatchStore } from '../../hub/src/nodered/wire.ts'
import { who } from '../helpers/core.ts'
import { tempDir } from '../helpers/ipfs.ts'
import { until } from './ingest-helpers.ts'

t.test('two batch nodes subscribing at once: each waiting batch is handed to one of them, once', async (t) => {
  const dir = await tempDir(t, 'batch-lease-double-handout')
  const user = who('double-handout-user')
  const core = await CoreNode.open({ dir: join(dir, 'chain'), params: DEVNET, verifyThreads: 1 })
  t.teardown(async () => { await core.close() })
  const ingest = await Ingest.open(join(dir, 'ingest'), { sync: false })
  t.teardown(async () => { await ingest.close() })
  await ingest.registry.add('hr-1', { user: toHex(user.id), sensors: ['hr'] })
  const db = new DurableBatches({ ingest, identity: user, chain: coreBatchChain(core), users: [toHex(user.id)] })
  t.teardown(() => { db.stop() })
  // no lease lapses during the test: a second handout could only come from the race
  const store = durableBatchStore(db, { retryMs: 600_000 })
  let s = 0
  const batch = async (): Promise<void> => {
    for (let i = 0; i < 3; i++) t.ok((await ingest.submit(formatLine({ d: 'hr-1', b: 1, s: s++, t: 'hr', v: 70, ts: s }), { source: 'api' })).ok)
    t.equal(await store.close(), 1)
  }
  // batches waiting before any batch node (a hub restarting with work left)
  await batch()
  await batch()
  const got: Record<'a' | 'b', string[]> = { a: [], b: [] }
  const handed = (): string[] => [...got.a, ...got.b]
  const offA = store.subscribe((b) => { got.a.push(b.id) })
  const offB = store.subscribe((b) => { got.b.push(b.id) })
  await until(() => handed().length >= 2, 5000, 'the waiting batches handed out')
  // one more batch closed and handed out: both subscribe sweeps have long finished by then
  await batch()
  await until(() => handed().length >= 3, 5000, 'the new batch handed out')
  const ids = await db.states()
  t.equal(ids.length, 3)
  for (const { id } of ids) t.equal(handed().filter((h) => h === id).length, 1, `${id} handed out once`)
  t.equal(handed().length, 3, 'no batch handed out twice')
  // A leaves: what it held goes to B (and only that), then B leaves
  const fromA = got.a.length
  const bHad = got.b.length
  offA()
  await until(() => got.b.length >= bHad + fromA, 5000, 'A\'s batches handed to B')
  t.same(got.b.slice(bHad).sort(), [...got.a].sort(), 'B is given exactly what A held')
  offB()
})
