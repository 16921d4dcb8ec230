/**
 * Issue #7 acceptance: a storage node restarts and still serves every pinned
 * CID; GC never removes a pinned block, and unpinned cache is dropped.
 */
import t from 'tap'
import { join } from 'node:path'
import { equalBytes, sha256, utf8Bytes } from '../../hub/src/core/index.ts'
import { uploadBatch } from '../../hub/src/ipfs/index.ts'
import { addr, ipfsNode, storageNode, tempDir } from '../helpers/ipfs.ts'

const N = 20
const batch = (i: number): Uint8Array => {
  const out = new Uint8Array(512 + i * 37)
  for (let k = 0; k < out.length; k += 32) out.set(sha256(utf8Bytes(`restart ${i} ${k}`)).subarray(0, Math.min(32, out.length - k)), k)
  return out
}

t.test('a restarted storage node keeps its PeerId, its pins and serves every pinned CID', async (t) => {
  const dir = await tempDir(t)
  const sDir = join(dir, 'storage')
  const first = await storageNode(t, sDir)
  const peerId = first.ipfs.peerId.toString()
  const user = await ipfsNode(t, join(dir, 'user'))
  const cids = []
  for (let i = 0; i < N; i++) cids.push((await uploadBatch(user, batch(i), { storageNodes: [addr(first)], replication: 1 })).cid)
  // one block reaches the storage node only as an unpinned cached copy
  const stray = utf8Bytes('fetched once, never pinned')
  const strayCid = await user.put(stray)
  await first.ipfs.get(strayCid, { providers: [addr(user)] })
  t.ok(await first.ipfs.has(strayCid))
  await user.stop()
  await first.stop()

  const again = await storageNode(t, sDir)
  t.equal(again.ipfs.peerId.toString(), peerId, 'same PeerId after restart')
  t.equal((await again.report()).pinned, N, 'all pins listed after restart')
  t.same(await again.statusOf(cids[0]!), { cid: cids[0]!.toString(), state: 'pinned', sources: ['upload'], attempts: 0 }, 'status rebuilt from the persisted pin')
  await again.ipfs.gc()
  t.notOk(await again.ipfs.has(strayCid), 'GC dropped the unpinned copy')
  const doctor = await ipfsNode(t, join(dir, 'doctor'))
  for (let i = 0; i < N; i++) {
    t.ok(await again.ipfs.isPinned(cids[i]!), `batch ${i} still pinned`)
    t.ok(equalBytes(await doctor.fetchFrom(addr(again), cids[i]!), batch(i)), `batch ${i} served after restart and GC`)
  }
  const audit = await again.audit()
  t.same(audit, { checked: N, repaired: [], failed: [] }, 'every pinned block is intact on disk')
})

t.test('onChainCid pins what the chain names, from the uploader or a replica, and reports failures', async (t) => {
  const dir = await tempDir(t)
  const a = await storageNode(t, join(dir, 'a'), { fetchAttempts: 2, retryDelayMs: 10, requestTimeoutMs: 2_000 })
  const b = await storageNode(t, join(dir, 'b'))
  const user = await ipfsNode(t, join(dir, 'user'))
  const onlyUser = await user.put(utf8Bytes('announced in the mempool, only the uploader has it'))
  const onlyB = await b.ipfs.put(utf8Bytes('on chain, replica B has it'), { pin: { sources: 'chain' } })

  const st1 = await a.onChainCid(onlyUser.multihash.digest, [addr(user)])
  t.equal(st1.state, 'pinned', 'fetched from the uploader (hint) and pinned')
  t.same(st1.sources, ['chain'])
  a.addReplica(addr(b))
  const st2 = await a.onChainCid(onlyB.multihash.digest)
  t.equal(st2.state, 'pinned', 'fetched from replica B and pinned')
  const again = await a.onChainCid(onlyB.multihash.digest)
  t.equal(again.state, 'pinned', 'seen again on confirmation: still pinned, no fetch needed')
  t.equal(again.attempts, 1)
  t.same((await a.replication(onlyB)).pinnedBy.length, 2, 'two replicas report it pinned')

  const nobody = sha256(utf8Bytes('named on chain but stored nowhere'))
  const st3 = await a.onChainCid(nobody)
  t.equal(st3.state, 'failed', 'nobody has it: failed, not silently dropped')
  t.equal(st3.attempts, 2)
  t.match(st3.lastError, /unavailable/)
  const report = await a.report()
  t.equal(report.pinned, 2)
  t.equal(report.failed.length, 1)
  t.equal(report.failed[0]!.cid, (await a.statusOf(nobody))!.cid)

  // once a replica gets it, a retry succeeds
  const block = utf8Bytes('named on chain but stored nowhere')
  await b.ipfs.put(block, { pin: {} })
  t.ok(equalBytes(sha256(block), nobody))
  const retried = await a.retryFailed()
  t.equal(retried[0]!.state, 'pinned', 'retryFailed repairs it')
  t.equal((await a.report()).failed.length, 0)
})

t.test('uploads no chain ever names are unpinned after the tx age limit; chain-named ones stay', async (t) => {
  const dir = await tempDir(t)
  const s = await storageNode(t, join(dir, 's'))
  const user = await ipfsNode(t, join(dir, 'user'))
  const named = await uploadBatch(user, batch(1), { storageNodes: [addr(s)], replication: 1 })
  const orphan = await uploadBatch(user, batch(2), { storageNodes: [addr(s)], replication: 1 })
  t.equal((await s.onChainCid(named.cid.multihash.digest)).state, 'pinned')
  t.same(await s.pruneUnconfirmed(3_600_000), [], 'nothing is older than the limit yet')
  const pruned = await s.pruneUnconfirmed(3_600_000, Date.now() + 3_600_001)
  t.same(pruned, [orphan.cid.toString()], 'only the never-named upload is pruned')
  t.notOk(await s.ipfs.has(orphan.cid), 'and collected')
  t.ok(await s.ipfs.isPinned(named.cid), 'the chain-named batch stays pinned')
  t.ok(await s.ipfs.has(named.cid))
})

t.test('unconfirmed uploads and each identity\'s quota use survive a restart; a chain naming one frees it', async (t) => {
  const dir = await tempDir(t)
  const owner = 'ab'.repeat(32)
  // admits every upload for one identity, as chainAdmission does for an established signer
  const opts = { admission: { admit: async () => owner }, quota: { bytes: 10_000, uploads: 5 } }
  const user = await ipfsNode(t, join(dir, 'user'))
  let s = await storageNode(t, join(dir, 's'), opts)
  const a = await uploadBatch(user, batch(3), { storageNodes: [addr(s)], replication: 1 })
  const b = await uploadBatch(user, batch(4), { storageNodes: [addr(s)], replication: 1 })
  const used = { bytes: batch(3).length + batch(4).length, uploads: 2 }
  t.same(s.usage(owner), used, 'two uploads held for their signer')
  t.equal((await s.statusOf(a.cid))?.state, 'unconfirmed')
  await s.stop()
  s = await storageNode(t, join(dir, 's'), opts)
  t.same(s.usage(owner), used, 'the same use after a restart (read from the pins\' metadata)')
  t.ok(s.isUnconfirmed(a.cid) && s.isUnconfirmed(b.cid), 'both still unconfirmed')
  t.equal((await s.onChainCid(a.cid.multihash.digest)).state, 'pinned', 'a transaction names one')
  t.same(s.usage(owner), { bytes: batch(4).length, uploads: 1 }, 'it no longer counts')
  await s.stop()
  s = await storageNode(t, join(dir, 's'), opts)
  t.notOk(s.isUnconfirmed(a.cid), 'and stays confirmed after another restart')
  t.same(s.usage(owner), { bytes: batch(4).length, uploads: 1 })
  t.same(await s.pruneUnconfirmed(0), [b.cid.toString()], 'the prune takes only the unnamed one')
  t.same(s.usage(owner), { bytes: 0, uploads: 0 }, 'and returns its quota')
})
