/**
 * The leases of the durable batches (nodered/wire.ts durableBatchStore) on
 * the real ingest store and a real core node: each batch is offered to one
 * batch node at a time; one that goes away (a Node-RED stopped or killed,
 * its lease stream closed) leaves its batches to the others at once, with
 * what it did (a sealed batch comes back with its sealed bytes); one that
 * makes no progress loses its lease after retryMs; a batch whose tx_IoT the
 * node accepted (the acknowledgement) is offered no more. Each step must
 * name the batch's own data: its sealed bytes' CID, that CID's digest.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { DEVNET, cidStringFromDigest, sha256, toHex } from '../../hub/src/core/index.ts'
import { CoreNode } from '../../hub/src/roles/core/node.ts'
import { UserKeys } from '../../hub/src/roles/user/keys.ts'
import { DurableBatches } from '../../hub/src/ingest/batches.ts'
import { Ingest } from '../../hub/src/ingest/pipeline.ts'
import { formatLine } from '../../hub/src/ingest/line.ts'
import { coreBatchChain, durableBatchStore } from '../../hub/src/nodered/wire.ts'
import type { DurableBatch } from '../../hub/src/nodered/runtime.ts'
import { who } from '../helpers/core.ts'
import { tempDir } from '../helpers/ipfs.ts'
import { until } from './ingest-helpers.ts'

const rng = (n: number): Uint8Array => new Uint8Array(randomBytes(n))

t.test('one batch node at a time; a departed one\'s batches go to the others with what it did; accepted ones are offered no more', async (t) => {
  const dir = await tempDir(t, 'batch-leases')
  const user = who('lease-user')
  const now = (): number => Math.floor(Date.now() / 1000)
  const core = await CoreNode.open({ dir: join(dir, 'chain'), params: DEVNET, verifyThreads: 1, now })
  t.teardown(async () => { await core.close() })
  t.ok((await core.submitTx(new UserKeys(user, { rng, now, directory: { lookup: () => undefined } }).init())).accepted, 'the user\'s key epoch 1 is in the mempool')
  const ingest = await Ingest.open(join(dir, 'ingest'), { sync: false })
  t.teardown(async () => { await ingest.close() })
  await ingest.registry.add('hr-1', { user: toHex(user.id), sensors: ['hr'] })
  const db = new DurableBatches({ ingest, identity: user, chain: coreBatchChain(core), confirmations: 2, users: [toHex(user.id)] })
  t.teardown(() => { db.stop() })
  const store = durableBatchStore(db, { retryMs: 400 })
  let s = 0
  const batch = async (): Promise<void> => {
    for (let i = 0; i < 3; i++) t.ok((await ingest.submit(formatLine({ d: 'hr-1', b: 1, s: s++, t: 'hr', v: 70, ts: s }), { source: 'api' })).ok)
    t.equal(await store.close(), 1)
  }

  const got: Record<'a' | 'b', DurableBatch[]> = { a: [], b: [] }
  const offA = store.subscribe((b) => { got.a.push(b) })
  const offB = store.subscribe((b) => { got.b.push(b) })
  await batch()
  await batch()
  await until(() => got.a.length + got.b.length >= 2, 5000, 'both batches handed out')
  t.equal(got.a.length, 1, 'one batch to the first batch node…')
  t.equal(got.b.length, 1, '…the other to the second: no batch offered twice')
  t.not(got.a[0]!.id, got.b[0]!.id)

  // A seals its batch and goes away before the upload
  const sealed = rng(80)
  await store.sealed(got.a[0]!.id, sealed, 1)
  offA()
  await until(() => got.b.length >= 2, 5000, 'A\'s batch handed to B')
  const resumed = got.b[1]!
  t.equal(resumed.id, got.a[0]!.id, 'the departed node\'s batch goes to the other at once')
  t.same(Buffer.from(resumed.sealed!), Buffer.from(sealed), 'with its sealed bytes: uploaded again it keeps its CID')
  t.equal(resumed.epoch, 1)

  // B makes no progress on its first batch: after retryMs it is offered again; B acknowledges the second
  // each step must name the batch's own data (a custom flow that changed msg.payload between the nodes is refused)
  const digest = sha256(sealed)
  await t.rejects(store.uploaded(resumed.id, cidStringFromDigest(sha256(rng(80)))), { code: 'ERR_BATCH_MISMATCH', field: 'cid' }, 'a CID other than the sealed bytes\' is refused')
  await store.uploaded(resumed.id, cidStringFromDigest(digest))
  await t.rejects(store.record(resumed.id, rng(32), 1), { code: 'ERR_BATCH_MISMATCH', field: 'heiot' }, 'a tx_IoT naming another digest is refused')
  const rec = await store.record(resumed.id, digest, 1)
  t.ok(core.mempool.has(Buffer.from(rec.id, 'hex')), 'the resumed batch\'s tx_IoT is accepted: its lease ends')
  const seen = got.b.length
  await until(() => got.b.slice(seen).some((b) => b.id === got.b[0]!.id), 5000, 'a lapsed lease')
  t.pass('a batch without progress for retryMs is handed out again')
  t.notOk(got.b.slice(seen).some((b) => b.id === resumed.id), 'the accepted batch is not offered again')
  offB()

  // no batch node: a new one gets every batch not accepted
  const late: DurableBatch[] = []
  const offC = store.subscribe((b) => { late.push(b) })
  await until(() => late.length >= 1, 5000, 'the next batch node')
  t.same(late.map((b) => b.id), [got.b[0]!.id], 'the next batch node to subscribe gets what no one holds')
  offC()
})
