/**
 * Issue #7 acceptance: content served with a flipped byte is rejected (CID
 * mismatch) and fetched from another replica — whether a malicious peer
 * serves it or a storage node's own disk was altered (paper §IV-B2:
 * fetched content is verified by its CID).
 */
import t from 'tap'
import { join } from 'node:path'
import { lpStream } from '@libp2p/utils'
import { LevelBlockstore } from 'blockstore-level'
import { equalBytes, sha256, utf8Bytes } from '../../hub/src/core/index.ts'
import {
  BlockUnavailableError, CidMismatchError, createIpfsLibp2p, decodeRequest, encodeResponse, MAX_FRAME_BYTES,
  STATUS, STORE_PROTOCOL, StoreTimeoutError, uploadBatch
} from '../../hub/src/ipfs/index.ts'
import { addr, ipfsNode, storageNode, tempDir } from '../helpers/ipfs.ts'

const batch = (label: string): Uint8Array => {
  const out = new Uint8Array(4096)
  for (let i = 0; i < out.length; i += 32) out.set(sha256(utf8Bytes(`${label}:${i}`)), i)
  return out
}

/** A peer speaking the store protocol that answers every GET with `block` altered by one bit. */
async function lyingPeer (t: { teardown: (fn: () => unknown) => void }, block: Uint8Array): Promise<{ addr: string, served: () => number }> {
  const p2p = await createIpfsLibp2p()
  t.teardown(async () => { await p2p.stop() })
  let served = 0
  await p2p.handle(STORE_PROTOCOL, async (stream) => {
    const lp = lpStream(stream, { maxDataLength: MAX_FRAME_BYTES })
    const req = decodeRequest((await lp.read()).subarray())
    const bad = block.slice()
    bad[100] = bad[100]! ^ 1
    served++
    await lp.write(encodeResponse(req.kind, { status: STATUS.OK, block: bad }))
    await stream.close()
  })
  return { addr: p2p.getMultiaddrs()[0]!.toString(), served: () => served }
}

t.test('a replica serving a flipped byte is rejected and another replica serves the block', async (t) => {
  const dir = await tempDir(t)
  const good = await storageNode(t, join(dir, 'good'))
  const user = await ipfsNode(t, join(dir, 'user'))
  const doctor = await ipfsNode(t, join(dir, 'doctor'))
  const data = batch('tamper')
  const { cid } = await uploadBatch(user, data, { storageNodes: [addr(good)], replication: 1 })
  await user.stop()
  const liar = await lyingPeer(t, data)

  // fetching from the liar alone: typed CID mismatch
  const err = await doctor.fetchFrom(liar.addr, cid).catch((e: unknown) => e)
  t.type(err, CidMismatchError, 'altered content is rejected')
  t.equal((err as CidMismatchError).cid, cid.toString())

  // liar first, honest replica second: the block still arrives, intact
  const got = await doctor.get(cid, { providers: [liar.addr, addr(good)] })
  t.ok(equalBytes(got, data), 'fetched intact from the other replica')
  t.equal(liar.served(), 2, 'the liar was asked (and ignored) both times')
  t.ok(equalBytes((await doctor.getLocal(cid))!, data), 'only the verified copy was stored locally')

  // the liar alone, via get: unavailable, and the mismatch is in the reasons
  const lonely = await ipfsNode(t, join(dir, 'lonely'))
  const none = await lonely.get(cid, { providers: [liar.addr], askConnected: false }).catch((e: unknown) => e)
  t.type(none, BlockUnavailableError)
  t.type((none as BlockUnavailableError).attempts[0]!.error, CidMismatchError)
  t.notOk(await lonely.has(cid), 'nothing stored from the liar')
})

t.test('a storage node whose disk copy was altered does not serve it, and re-fetches it from a replica', async (t) => {
  const dir = await tempDir(t)
  const aDir = join(dir, 'storage-a')
  let a = await storageNode(t, aDir)
  const b = await storageNode(t, join(dir, 'storage-b'))
  const user = await ipfsNode(t, join(dir, 'user'))
  const data = batch('disk')
  const { cid } = await uploadBatch(user, data, { storageNodes: [addr(a), addr(b)] })
  await user.stop()

  // flip one bit in A's LevelDB while A is down
  await a.stop()
  const raw = new LevelBlockstore(join(aDir, 'blocks'))
  await raw.open()
  const bad = data.slice()
  bad[7] = bad[7]! ^ 0x80
  await raw.put(cid, bad)
  await raw.close()

  a = await storageNode(t, aDir, { replicas: [addr(b)] })
  const doctor = await ipfsNode(t, join(dir, 'doctor'))
  const fromA = await doctor.fetchFrom(addr(a), cid).catch((e: unknown) => e)
  t.match((fromA as Error).message, /NOT_FOUND/, 'A refuses to serve a copy that fails its CID')
  t.ok(await a.ipfs.isPinned(cid), 'the pin itself survived')

  const audit = await a.audit()
  t.same(audit, { checked: 1, repaired: [cid.toString()], failed: [] }, 'the audit repairs the pinned block from replica B')
  t.equal((await a.statusOf(cid))?.state, 'pinned')
  t.ok(equalBytes((await a.ipfs.getLocal(cid))!, data))
  t.ok(equalBytes(await doctor.fetchFrom(addr(a), cid), data), 'A serves the repaired block')
})

t.test('a peer that never answers times out with a typed error, and the next provider is asked', async (t) => {
  const dir = await tempDir(t)
  const good = await storageNode(t, join(dir, 'good'))
  const user = await ipfsNode(t, join(dir, 'user'))
  const data = batch('slow')
  const { cid } = await uploadBatch(user, data, { storageNodes: [addr(good)], replication: 1 })
  const mute = await createIpfsLibp2p()
  t.teardown(async () => { await mute.stop() })
  await mute.handle(STORE_PROTOCOL, () => { /* reads nothing, answers nothing */ })
  const doctor = await ipfsNode(t, join(dir, 'doctor'))
  const err = await doctor.fetchFrom(mute.getMultiaddrs()[0]!, cid, { timeoutMs: 300 }).catch((e: unknown) => e)
  t.type(err, StoreTimeoutError)
  const got = await doctor.get(cid, { providers: [mute.getMultiaddrs()[0]!, addr(good)], timeoutMs: 2_000 })
  t.ok(equalBytes(got, data))
})
