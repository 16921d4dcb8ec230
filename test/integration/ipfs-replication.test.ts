/**
 * Issue #7 acceptance: a user node uploads 100 encrypted batches with
 * replication 2; both storage nodes pin them; the user node and one storage
 * node stop; a doctor node still fetches and decrypts all 100 from the
 * remaining storage node (paper §IV-B2, Alg. 2 lines 2–3, Alg. 4 lines 1–2).
 */
import t from 'tap'
import { join } from 'node:path'
import { equalBytes, hkdfSha256, openBox, sealBox, sha256, utf8Bytes } from '../../hub/src/core/index.ts'
import { uploadBatch, cidString, BlockUnavailableError, ReplicationError } from '../../hub/src/ipfs/index.ts'
import type { UploadEvent } from '../../hub/src/ipfs/index.ts'
import { addr, ipfsNode, storageNode, tempDir } from '../helpers/ipfs.ts'

const BATCHES = 100
const ik = sha256(utf8Bytes('iot key of epoch 1'))

function batchPlaintext (i: number): Uint8Array {
  const readings = Array.from({ length: 8 }, (_, k) => ({ d: 'ox-1', b: 7, s: i * 8 + k, t: 'spo2', v: 95 + (k % 4), u: '%', ts: 1000 * (i * 8 + k) }))
  return utf8Bytes(JSON.stringify(readings))
}
function nonceFor (i: number): Uint8Array { return hkdfSha256(ik, new Uint8Array(0), utf8Bytes(`nonce ${i}`), 12) }

t.test('100 batches survive the loss of the uploader and one storage node', async (t) => {
  const dir = await tempDir(t)
  const a = await storageNode(t, join(dir, 'storage-a'))
  const b = await storageNode(t, join(dir, 'storage-b'))
  const user = await ipfsNode(t, join(dir, 'user'))
  const doctor = await ipfsNode(t, join(dir, 'doctor'))
  const storage = [addr(a), addr(b)]
  a.addReplica(addr(b))
  b.addReplica(addr(a))

  const events: UploadEvent[] = []
  const cids: string[] = []
  for (let i = 0; i < BATCHES; i++) {
    const box = sealBox(ik, nonceFor(i), batchPlaintext(i))
    const res = await uploadBatch(user, box, { storageNodes: storage, replication: 2, onEvent: (e) => events.push(e) })
    t.equal(res.acked.length, 2, `batch ${i} acknowledged by both storage nodes`)
    cids.push(res.cid.toString())
  }
  t.equal(new Set(cids).size, BATCHES, 'every batch has its own CID')
  t.equal(events.filter((e) => e.type === 'ack').length, 2 * BATCHES, 'one ack event per storage node and batch')

  for (const s of [a, b]) {
    const report = await s.report()
    t.equal(report.pinned, BATCHES, 'storage node pins all 100')
    t.equal(report.failed.length, 0)
  }
  const rep = await a.replication(cids[0]!)
  t.equal(rep.pinnedBy.length, 2, 'replication status: both storage nodes hold the first batch pinned')

  // the uploader keeps nothing pinned: its copies are cache, and GC drops them
  await user.gc()
  t.notOk(await user.has(cids[0]!), 'uploader GC removed its unpinned copy')

  await user.stop()
  await a.stop()

  for (let i = 0; i < BATCHES; i++) {
    const box = await doctor.get(cids[i]!, { providers: storage, timeoutMs: 5_000 })
    t.same(openBox(ik, box), batchPlaintext(i), `batch ${i} decrypts`)
  }
  t.equal(cidString(cids[BATCHES - 1]!), cids[BATCHES - 1], 'CIDs round-trip through the core string form')
})

t.test('too few storage nodes: the upload fails visibly after retries', async (t) => {
  const dir = await tempDir(t)
  const a = await storageNode(t, join(dir, 'storage-a'))
  const gone = await storageNode(t, join(dir, 'storage-gone'))
  const goneAddr = addr(gone)
  await gone.stop()
  const user = await ipfsNode(t, join(dir, 'user'))
  const events: UploadEvent[] = []
  const err = await uploadBatch(user, utf8Bytes('lonely batch'), {
    storageNodes: [addr(a), goneAddr], mode: 'announce', replication: 2, retries: 2, retryDelayMs: 20, timeoutMs: 3_000, onEvent: (e) => events.push(e)
  }).catch((e: unknown) => e)
  t.type(err, ReplicationError)
  const re = err as ReplicationError
  t.same(re.acked, [addr(a)], 'the live node acknowledged')
  t.equal(re.failures.length, 1, 'the stopped node is named')
  t.equal(re.failures[0]!.peer, goneAddr)
  const failed = events.filter((e) => e.type === 'attempt-failed')
  t.equal(failed.length, 3, 'first attempt plus two retries, each reported')
  t.same(failed.map((e) => e.type === 'attempt-failed' && e.willRetry), [true, true, false])
  t.notOk(await user.isPinned(re.cid), 'the in-flight pin is released')
})

t.test('announce mode: storage nodes fetch the block from the uploader', async (t) => {
  const dir = await tempDir(t)
  const a = await storageNode(t, join(dir, 'storage-a'))
  const b = await storageNode(t, join(dir, 'storage-b'))
  const user = await ipfsNode(t, join(dir, 'user'))
  const box = sealBox(ik, nonceFor(1), batchPlaintext(1))
  const res = await uploadBatch(user, box, { storageNodes: [addr(a), addr(b)], mode: 'announce' })
  t.equal(res.acked.length, 2)
  await user.stop()
  for (const s of [a, b]) {
    t.equal((await s.statusOf(res.cid))?.state, 'pinned')
    t.ok(equalBytes((await s.ipfs.getLocal(res.cid))!, box), 'the pinned copy is the uploaded ciphertext')
  }
})

t.test('a plain node refuses uploads; a doctor cannot get what nobody holds', async (t) => {
  const dir = await tempDir(t)
  const plain = await ipfsNode(t, join(dir, 'plain'))
  const user = await ipfsNode(t, join(dir, 'user'))
  const err = await uploadBatch(user, utf8Bytes('x'), { storageNodes: [addr(plain)], replication: 1, retries: 0 }).catch((e: unknown) => e)
  t.type(err, ReplicationError)
  t.match((err as ReplicationError).message, /REFUSED: not a storage node/)
  await t.rejects(uploadBatch(user, utf8Bytes('x'), { storageNodes: [addr(plain), addr(plain)], replication: 2 }), /listed twice/, 'one node cannot count as two replicas')
  await t.rejects(uploadBatch(user, utf8Bytes('x'), { storageNodes: [addr(plain)], replication: 2 }), /needs at least/)
  const missing = await user.get(sha256(utf8Bytes('never stored')), { providers: [addr(plain)] }).catch((e: unknown) => e)
  t.type(missing, BlockUnavailableError)
  t.match((missing as Error).message, /NOT_FOUND/)
})
