/**
 * IpfsNode contracts the rest of the hub relies on: it runs on a libp2p node
 * it is given (the shared net node, #6) without owning it; unpinned cache is
 * bounded by GC while pinned blocks survive any GC, even one racing with
 * stores; the storage role follows transactions (tx_IoT → HEIoT, tx_diag → HEdm).
 */
import t from 'tap'
import { join } from 'node:path'
import { lpStream } from '@libp2p/utils'
import type { CID } from 'multiformats/cid'
import { buildTxCoin, buildTxDiag, buildTxIoT, equalBytes, sha256, utf8Bytes } from '../../hub/src/core/index.ts'
import { createIpfsLibp2p, IpfsNode, MAX_BATCH_BYTES, MAX_FRAME_BYTES, STORE_PROTOCOL, STORE_VERSION, decodeResponse, KIND, STATUS } from '../../hub/src/ipfs/index.ts'
import { contentDigestOfTx } from '../../hub/src/roles/storage/index.ts'
import { addr, ipfsNode, storageNode, tempDir } from '../helpers/ipfs.ts'
import { doctors, TS, user as userId } from '../helpers/core.ts'

const block = (label: string, size = 4096): Uint8Array => {
  const out = new Uint8Array(size)
  for (let i = 0; i < size; i += 32) out.set(sha256(utf8Bytes(`${label}:${i}`)).subarray(0, Math.min(32, size - i)), i)
  return out
}

t.test('runs on a shared libp2p node and leaves it running when stopped', async (t) => {
  const dir = await tempDir(t)
  const shared = await createIpfsLibp2p()
  t.teardown(async () => { await shared.stop() })
  await shared.handle('/healthchain/other/1.0.0', async (stream) => { await stream.close() })
  const node = await IpfsNode.create({ dataDir: join(dir, 'n'), libp2p: shared })
  t.equal(node.peerId.toString(), shared.peerId.toString(), 'same PeerId as the shared node')
  t.ok(shared.getProtocols().includes(STORE_PROTOCOL), 'store protocol registered on the shared node')
  const other = await ipfsNode(t, join(dir, 'other'))
  const cid = await node.put(block('shared'))
  t.ok(equalBytes(await other.get(cid, { providers: [shared.getMultiaddrs()[0]!] }), block('shared')))
  await node.stop()
  t.equal(shared.status, 'started', 'the shared node keeps running')
  t.notOk(shared.getProtocols().includes(STORE_PROTOCOL), 'store protocol unregistered')
  t.ok(shared.getProtocols().includes('/healthchain/other/1.0.0'), 'other protocols untouched')
})

t.test('unpinned cache is bounded; pinned blocks survive', async (t) => {
  const node = await ipfsNode(t, join(await tempDir(t), 'n'), { maxCacheBytes: 10_000 })
  const pinned = await node.put(block('keep'), { pin: { why: 'test' } })
  const cached = []
  for (let i = 0; i < 5; i++) {
    cached.push(await node.put(block(`cache ${i}`)))
    t.ok(node.unpinnedBytes <= 10_000, `after put ${i}: ${node.unpinnedBytes} unpinned bytes counted, within the bound`)
  }
  t.notOk(await node.has(cached[0]!), 'older cache was collected')
  t.ok(await node.has(pinned), 'the pinned block was not')
  t.ok(equalBytes((await node.getLocal(pinned))!, block('keep')))
})

t.test('GC racing with stores never removes a pinned block', async (t) => {
  const node = await ipfsNode(t, join(await tempDir(t), 'n'))
  const cids: CID[] = []
  const stores = Array.from({ length: 40 }, async (_, i) => {
    const cid = await node.put(block(`race ${i}`, 1024), { pin: { i } })
    cids.push(cid)
  })
  const gcs = Array.from({ length: 10 }, async () => { await node.gc() })
  await Promise.all([...stores, ...gcs])
  await node.gc()
  t.equal(cids.length, 40)
  for (const cid of cids) t.ok(await node.has(cid), `${cid.toString().slice(-8)} still stored`)
  const pins = []
  for await (const p of node.pins()) pins.push(p)
  t.equal(pins.length, 40, 'forty pins')
})

t.test('pins are Helia pins: listed, kept by GC, and collected once unpinned', async (t) => {
  const node = await ipfsNode(t, join(await tempDir(t), 'n'))
  const cid = await node.put(block('pinned', 4096), { pin: { who: 'test' } })
  t.ok(await node.helia.pins.isPinned(cid), 'Helia sees the block pinned')
  t.same((await node.helia.pins.get(cid)).metadata, { who: 'test' }, 'with its metadata')
  await node.pin(cid, { more: 1 })
  t.same(await node.pinMetadata(cid), { who: 'test', more: 1 }, 'pinning again merges the metadata')
  await node.helia.gc()
  t.ok(await node.has(cid), 'Helia\'s GC keeps it')
  await node.unpin(cid)
  t.notOk(await node.helia.pins.isPinned(cid), 'unpinned')
  await node.gc()
  t.notOk(await node.has(cid), 'and collected')
  await t.rejects(node.pin(cid), { code: 'ERR_BLOCK_UNAVAILABLE' }, 'a block not held here cannot be pinned')
})

t.test('an oversized PUT is answered TOO_LARGE without being stored', async (t) => {
  const dir = await tempDir(t)
  const storage = await storageNode(t, join(dir, 's'))
  const client = await createIpfsLibp2p()
  t.teardown(async () => { await client.stop() })
  const stream = await client.dialProtocol(storage.ipfs.multiaddrs[0]!, STORE_PROTOCOL)
  const lp = lpStream(stream, { maxDataLength: MAX_FRAME_BYTES * 2 })
  const huge = new Uint8Array(MAX_BATCH_BYTES + 1024)
  huge.set([STORE_VERSION, KIND.PUT, 0, 0x80, 0x88, 0x40])
  await lp.write(huge)
  const res = decodeResponse(KIND.PUT, (await lp.read()).subarray())
  t.equal(res.status, STATUS.TOO_LARGE)
  await stream.close().catch(() => {})
  t.equal((await storage.report()).pinned, 0)
})

t.test('the storage role pins what tx_IoT and tx_diag name', async (t) => {
  const dir = await tempDir(t)
  const storage = await storageNode(t, join(dir, 's'))
  const userNode = await ipfsNode(t, join(dir, 'u'))
  const batch = block('iot batch')
  const edm = block('encrypted diagnosis')
  const batchCid = await userNode.put(batch)
  const edmCid = await userNode.put(edm)
  const iot = buildTxIoT(userId, { ts: TS, heiot: batchCid.multihash.digest, epoch: 1 })
  const diag = buildTxDiag(doctors[0]!, { ts: TS, causes: [sha256(utf8Bytes('htxI'))], hedm: edmCid.multihash.digest })
  const coin = buildTxCoin(userId, { to: doctors[0]!.id, amount: 5, fee: 1, nonce: 0 })
  t.equal(contentDigestOfTx(coin), undefined, 'a coin transfer names no content')
  t.equal(await storage.onTx(coin), undefined)
  t.equal((await storage.onTx(iot, [addr(userNode)]))?.state, 'pinned', 'HEIoT pinned')
  t.equal((await storage.onTx(diag, [addr(userNode)]))?.state, 'pinned', 'HEdm pinned')
  t.ok(equalBytes((await storage.ipfs.getLocal(batchCid))!, batch))
  t.ok(equalBytes((await storage.ipfs.getLocal(edmCid))!, edm))
})

t.test('standard bitswap serves our blocks to a plain Helia fetch', async (t) => {
  const dir = await tempDir(t)
  const holder = await ipfsNode(t, join(dir, 'holder'))
  const asker = await ipfsNode(t, join(dir, 'asker'))
  const data = block('bitswap')
  const cid = await holder.put(data, { pin: {} })
  await asker.connect(addr(holder))
  const chunks: Uint8Array[] = []
  for await (const c of asker.helia.blockstore.get(cid, { signal: AbortSignal.timeout(10_000) })) chunks.push(c)
  t.ok(equalBytes(Buffer.concat(chunks), data), 'fetched over /ipfs/bitswap and verified by Helia')
})
