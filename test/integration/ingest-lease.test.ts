/**
 * Durable batch lease / acknowledge over a real ingest store
 * (hub/src/ingest/lease.ts): a leased batch is not offered to another
 * consumer, stays stored until acknowledged, comes back when its lease
 * expires or the store is reopened (a hub restart), and is gone once
 * acknowledged; acknowledging what a lease does not hold is refused.
 */
import t from 'tap'
import { formatLine } from '../../hub/src/ingest/line.ts'
import { Ingest } from '../../hub/src/ingest/pipeline.ts'
import { batchLeases, NotLeasedError, UnknownLeaseError } from '../../hub/src/ingest/lease.ts'
import { addDevices, openIngest, tempDir } from './ingest-helpers.ts'

t.test('lease, expiry, restart, acknowledge', async (t) => {
  const dir = await tempDir(t, 'ingest-lease')
  let ing = await openIngest(t, dir)
  await addDevices(ing, 'carol', [['ox-1', 'spo2']])
  for (let b = 0; b < 3; b++) {
    for (let s = 0; s < 4; s++) t.match(await ing.submit(formatLine({ d: 'ox-1', b: b + 1, s, t: 'spo2', v: 97, ts: s * 1000 }).trimEnd(), { source: 'api', device: 'ox-1' }), { ok: true })
    await ing.flush('carol')
  }
  let now = 1_000_000
  const leases = batchLeases(ing, { now: () => now })
  const a = await leases.lease({ max: 2, leaseMs: 10_000 })
  t.equal(a.batches.length, 2, 'two of three batches leased')
  const b = await leases.lease({ leaseMs: 10_000 })
  t.equal(b.batches.length, 1, 'a second consumer gets only the third')
  t.notOk(b.batches.some((x) => a.batches.some((y) => y.id === x.id)), 'never one the first holds')
  await t.rejects(leases.ack({ lease: a.lease, ids: [b.batches[0]!.id] }), NotLeasedError, 'a batch another lease holds cannot be acknowledged')
  t.same(await leases.ack({ lease: a.lease, ids: [a.batches[0]!.id] }), { acked: 1, remaining: 1 })
  t.equal((await ing.batches('carol')).length, 2, 'the acknowledged batch is deleted from the store, the others stay')
  now += 10_001
  await t.rejects(leases.ack({ lease: a.lease, ids: [a.batches[1]!.id] }), UnknownLeaseError, 'an expired lease is refused')
  const again = await leases.lease({})
  t.equal(again.batches.length, 2, 'and its unacknowledged batches are offered again, with the expired second lease\'s')
  // a restart forgets leases, not batches
  await ing.close()
  ing = await Ingest.open(`${dir}/ingest`, { sync: false })
  t.teardown(async () => { await ing.close() })
  const after = await batchLeases(ing).lease({})
  t.equal(after.batches.length, 2, 'after a restart both are offered again')
})
