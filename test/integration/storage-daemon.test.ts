/**
 * `healthchain storage --config`: the storage daemon as its own process
 * (DESIGN §3.1, §6). An uploader in the test — a core user node on devnet
 * with IPFS on its libp2p node, as a hub runs them — pushes one batch signed
 * by its user, whose tx_key is confirmed, and gets the daemon's
 * acknowledgement; another batch it only keeps itself and
 * names in a tx_IoT: the daemon, following Userchain from the uploader,
 * fetches and pins it. After SIGTERM and a restart on the same data dir the
 * daemon has the same peer id and serves both batches to a node that never
 * held them.
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { ApiClient } from '../../hub/src/api/client.ts'
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { buildTxIoT, buildTxKey, equalBytes, sha256, utf8Bytes } from '../../hub/src/core/index.ts'
import { HAVE, uploadBatch } from '../../hub/src/ipfs/index.ts'
import { who } from '../helpers/core.ts'
import { ipfsNode, tempDir } from '../helpers/ipfs.ts'
import { sigterm, startStorageDaemon as startDaemon, startUploader } from '../helpers/storage-daemon.ts'
import { until } from './net-helpers.ts'

t.setTimeout(300_000) // a bound, not a goal: two daemon starts and a few devnet blocks (on a loaded 2-core machine)

const CLI = new URL('../../hub/src/cli.ts', import.meta.url).pathname

t.test('the storage daemon acknowledges uploads, pins what Userchain names, and keeps serving after a restart', async (t) => {
  const dir = await tempDir(t, 'storage-daemon')
  const alice = who('storage-daemon-alice')
  const doctor = who('storage-daemon-doctor')

  // the uploader: a core user node on devnet, its IPFS on the same libp2p node
  const { core, cnet, ipfs, mine, submit } = await startUploader(t, join(dir, 'uploader'), alice.id)
  const ts = (): number => Math.floor(Date.now() / 1000) - 5
  const h = (s: string): Uint8Array => sha256(utf8Bytes(`storage-daemon ${s}`))
  await mine()
  await submit(buildTxKey(alice, { ts: ts(), epoch: 1, ik: h('ik'), epochSecret: h('s'), doctors: [{ id: doctor.id, x25519: doctor.agreement.publicKey }], ikmE: h('e') }))
  await mine()

  const config = join(dir, 'storage.json')
  await writeFile(config, JSON.stringify({
    $schema: '../schemas/storage.schema.json',
    dataDir: 'storage-data',
    network: 'devnet',
    listen: ['/ip4/127.0.0.1/tcp/0'],
    userchain: { bootstrap: [cnet.net.addrs()[0]!.toString()] },
    fetchAttempts: 5,
    retryDelayMs: 100
  }))
  const first = await startDaemon(t, config)
  t.equal(first.pinned, 0, 'a new storage node starts with no pins')
  await until('the daemon synced Userchain', () => first.out().includes(`userchain ${core.store.height} `), 30_000)

  // pushed: the daemon pins it and acknowledges (the uploader may then publish its tx_IoT)
  const pushed = new Uint8Array(randomBytes(3000))
  const up = await uploadBatch(ipfs, pushed, { storageNodes: [first.addr], replication: 1, signer: alice })
  t.same(up.acked, [first.addr], 'the daemon acknowledged the pushed batch')
  t.equal(await ipfs.peerHas(first.addr, up.cid), HAVE.PINNED, 'and holds it pinned (unconfirmed until a transaction names it)')
  // its control API (the same service the ready block is printed from)
  const api = await ApiClient.forDataDir(join(dir, 'storage-data'))
  t.match(await api.call('GET', `/v1/cids/${up.cid.toString()}`), { state: 'unconfirmed' }, 'its control API knows the upload: held, unconfirmed until a transaction names it')
  api.close()
  const st = await promisify(execFile)(process.execPath, [CLI, 'storage-status', '--data-dir', join(dir, 'storage-data'), '--json'])
  t.match(JSON.parse(st.stdout), { pinned: 1 }, '`healthchain storage-status` asks the running daemon')

  // only named on Userchain: the daemon fetches it from the uploader and pins it
  const named = new Uint8Array(randomBytes(5000))
  const namedCid = await ipfs.put(named, { pin: { test: 'uploader copy' } })
  t.equal(await ipfs.peerHas(first.addr, namedCid), HAVE.ABSENT, 'the daemon has not got the unannounced batch')
  await submit(buildTxIoT(alice, { ts: ts(), heiot: up.cid.multihash.digest, epoch: 1 }))
  await submit(buildTxIoT(alice, { ts: ts(), heiot: namedCid.multihash.digest, epoch: 1 }))
  await mine()
  await until('the daemon pinned the batch named on Userchain', async () => await ipfs.peerHas(first.addr, namedCid) === HAVE.PINNED, 30_000)
  t.pass('a batch only named by a tx_IoT is fetched and pinned')

  t.equal(await sigterm(first), 0, 'SIGTERM exits 0')
  t.match(first.out(), /stopping\n.*stopped\n$/, 'and stops cleanly')

  const second = await startDaemon(t, config)
  t.equal(second.peerId, first.peerId, 'the same peer id after a restart (key in its data dir)')
  t.equal(second.pinned, 2, 'both pins survived the restart')
  const reader = await ipfsNode(t, join(dir, 'reader'), { bitswap: false })
  for (const [what, cid, bytes] of [['pushed', up.cid, pushed], ['named', namedCid, named]] as const) {
    const got = await reader.get(cid, { providers: [second.addr], askConnected: false })
    t.ok(equalBytes(got, bytes), `the restarted daemon serves the ${what} batch, checked against its CID`)
  }
  t.equal(await sigterm(second), 0, 'SIGTERM exits 0 again')
})
