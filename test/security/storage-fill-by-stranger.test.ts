/**
 * storage-fill-by-stranger: a peer fills a storage node's disk with content
 * no transaction names (DESIGN §6). Against the real storage daemon (its own
 * process, real libp2p, Helia, LevelDB), with a devnet core user node beside
 * it as a hub runs one:
 *  - a stranger's upload is refused — unsigned, signed by an identity with no
 *    confirmed tx_key, or carrying a signature made for another block — and
 *    the daemon holds nothing of it, pushed or announced;
 *  - an established user's unconfirmed uploads stop at its quota (bytes and
 *    uploads), and the quota frees up once a transaction names one;
 *  - an upload no transaction names is pruned after the deadline, while the
 *    one a tx_IoT named stays pinned.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  buildTxIoT, buildTxKey, encodeUploadAuth, sha256, signUploadAuth, storeUploadContext, utf8Bytes
} from '../../hub/src/core/index.ts'
import { cidOfBytes, HAVE, KIND, STATUS, uploadBatch, type IpfsNode } from '../../hub/src/ipfs/index.ts'
import { who } from '../helpers/core.ts'
import { ipfsNode, tempDir } from '../helpers/ipfs.ts'
import { startStorageDaemon, startUploader } from '../helpers/storage-daemon.ts'
import { until } from '../integration/net-helpers.ts'

t.setTimeout(120_000) // a bound, not a goal: a daemon start, a few devnet blocks and one prune deadline

const DEADLINE_S = 8

t.test('storage-fill-by-stranger: only established identities upload, within their quota; what no transaction names is pruned', async (t) => {
  const dir = await tempDir(t, 'storage-fill')
  const alice = who('storage-fill-alice')
  const mallory = who('storage-fill-mallory') // a valid key pair, but no tx_key on Userchain
  const doctor = who('storage-fill-doctor')
  const hub = await startUploader(t, join(dir, 'hub'), alice.id)
  const ts = (): number => Math.floor(Date.now() / 1000) - 5
  const h = (s: string): Uint8Array => sha256(utf8Bytes(`storage-fill ${s}`))
  await hub.mine()
  await hub.submit(buildTxKey(alice, { ts: ts(), epoch: 1, ik: h('ik'), epochSecret: h('s'), doctors: [{ id: doctor.id, x25519: doctor.agreement.publicKey }], ikmE: h('e') }))
  await hub.mine()

  const config = join(dir, 'storage.json')
  await writeFile(config, JSON.stringify({
    dataDir: 'storage-data',
    network: 'devnet',
    listen: ['/ip4/127.0.0.1/tcp/0'],
    userchain: { bootstrap: [hub.addr] },
    uploads: { quotaBytes: 8_000, quotaUploads: 3, deadlineSeconds: DEADLINE_S, pruneEverySeconds: 1 }
  }))
  const storage = await startStorageDaemon(t, config)
  await until('the daemon synced Userchain', () => storage.out().includes(`userchain ${hub.core.store.height} `), 30_000)

  const upload = async (from: IpfsNode, bytes: Uint8Array, signer?: typeof alice, mode: 'push' | 'announce' = 'push'): Promise<string[]> =>
    (await uploadBatch(from, bytes, { storageNodes: [storage.addr], replication: 1, retries: 0, mode, ...(signer === undefined ? {} : { signer }) })).acked
  const refusal = async (p: Promise<unknown>): Promise<string> => {
    try { await p } catch (err) { return (err as Error).message }
    return 'accepted'
  }

  // 1. strangers — a peer of its own, or alice's hub itself: refused, nothing kept
  const stranger = await ipfsNode(t, join(dir, 'stranger'), { bitswap: false })
  const junk = new Uint8Array(randomBytes(4000))
  t.match(await refusal(upload(stranger, junk)), /REFUSED: upload: an upload must be signed/, 'an unsigned upload is refused')
  t.match(await refusal(upload(stranger, junk, mallory)), /REFUSED: upload: [0-9a-f]{12}… has no confirmed tx_key on Userchain and is not a registered doctor/, 'an identity with no confirmed tx_key is refused')
  t.match(await refusal(upload(stranger, junk, mallory, 'announce')), /REFUSED/, 'announcing instead of pushing changes nothing')
  t.match(await refusal(upload(hub.ipfs, junk, mallory)), /REFUSED: upload: [0-9a-f]{12}… has no confirmed tx_key/, 'nor does uploading from an established user\'s hub')
  const other = new Uint8Array(randomBytes(100))
  const stolen = encodeUploadAuth(signUploadAuth(alice, 'store-upload', ts(), storeUploadContext(cidOfBytes(other).multihash.digest, storage.peerId)))
  const res = await hub.ipfs.request(storage.addr, { kind: KIND.PUT, block: junk, auth: stolen })
  t.equal(res.status, STATUS.REFUSED, 'alice\'s signature for another block does not admit this one')
  t.match(res.status !== STATUS.OK && res.reason, /upload signature refused/)
  t.equal(await hub.ipfs.peerHas(storage.addr, cidOfBytes(junk)), HAVE.ABSENT, 'the daemon holds none of the stranger\'s bytes')

  // 2. alice, established: unconfirmed uploads up to her quota (3 uploads, 8,000 bytes)
  const a = new Uint8Array(randomBytes(3000))
  const b = new Uint8Array(randomBytes(3000))
  const c = new Uint8Array(randomBytes(3000))
  const d = new Uint8Array(randomBytes(1000))
  const e = new Uint8Array(randomBytes(500))
  t.same(await upload(hub.ipfs, a, alice), [storage.addr], 'alice\'s first upload is acknowledged')
  t.same(await upload(hub.ipfs, b, alice), [storage.addr], 'and her second')
  t.match(await refusal(upload(hub.ipfs, c, alice)), /REFUSED: upload: [0-9a-f]{12}… holds 2 unconfirmed upload\(s\), 6000 bytes; the quota is 3 and 8000 bytes/, 'a third of 3,000 bytes would pass the byte quota: refused')
  t.same(await upload(hub.ipfs, d, alice, 'announce'), [storage.addr], 'a 1,000-byte one fits (announced: the daemon fetches it)')
  t.match(await refusal(upload(hub.ipfs, e, alice)), /REFUSED: upload: .*holds 3 unconfirmed upload\(s\)/, 'a fourth upload passes the upload quota: refused')
  t.equal(await hub.ipfs.peerHas(storage.addr, cidOfBytes(c)), HAVE.ABSENT, 'the refused upload is not held')

  // 3. a tx_IoT names a: kept for good, and alice's quota frees up
  await hub.submit(buildTxIoT(alice, { ts: ts(), heiot: cidOfBytes(a).multihash.digest, epoch: 1 }))
  await hub.mine()
  await until('alice\'s quota freed by the tx_IoT naming a', async () => (await refusal(upload(hub.ipfs, e, alice))) === 'accepted', 30_000)
  t.pass('once a transaction names an upload, it no longer counts against the quota')

  // 4. the deadline: b, d and e were never named, and are pruned; a stays
  for (const x of [b, d, e]) {
    await until('the prune of an unnamed upload', async () => await hub.ipfs.peerHas(storage.addr, cidOfBytes(x)) === HAVE.ABSENT, (DEADLINE_S + 20) * 1000)
  }
  t.pass(`each upload no transaction named was pruned after its ${DEADLINE_S} s deadline`)
  t.match(storage.out(), new RegExp(`pruned ${cidOfBytes(b).toString()}: no transaction named it within ${DEADLINE_S} s`), 'and the daemon said so')
  t.equal(await hub.ipfs.peerHas(storage.addr, cidOfBytes(a)), HAVE.PINNED, 'the upload a tx_IoT named is still pinned')
  t.notMatch(storage.out(), new RegExp(`pruned ${cidOfBytes(a).toString()}`), 'and was never pruned')
})
