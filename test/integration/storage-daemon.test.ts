/**
 * `healthchain storage --config`: the storage daemon as its own process
 * (DESIGN §3.1, §6). An uploader in the test — a core user node on devnet
 * with IPFS on its libp2p node, as a hub runs them — pushes one batch and
 * gets the daemon's acknowledgement; another batch it only keeps itself and
 * names in a tx_IoT: the daemon, following Userchain from the uploader,
 * fetches and pins it. After SIGTERM and a restart on the same data dir the
 * daemon has the same peer id and serves both batches to a node that never
 * held them.
 */
import t, { type Test } from 'tap'
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { promisify } from 'node:util'
import { ApiClient } from '../../hub/src/api/client.ts'
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { buildTxIoT, buildTxKey, DEVNET, equalBytes, sha256, utf8Bytes, type Tx } from '../../hub/src/core/index.ts'
import { CoreNode } from '../../hub/src/roles/core/node.ts'
import { Miner } from '../../hub/src/roles/core/miner.ts'
import { CoreNet } from '../../hub/src/net/service.ts'
import { coreChain } from '../../hub/src/net/core-chain.ts'
import { HAVE, IpfsNode, uploadBatch } from '../../hub/src/ipfs/index.ts'
import { who } from '../helpers/core.ts'
import { ipfsNode, tempDir } from '../helpers/ipfs.ts'
import { until } from './net-helpers.ts'

t.setTimeout(300_000) // a bound, not a goal: two daemon starts and a few devnet blocks (on a loaded 2-core machine)

const CLI = new URL('../../hub/src/cli.ts', import.meta.url).pathname

interface Daemon { child: ChildProcess, out: () => string, addr: string, peerId: string, pinned: number }

/** Starts `healthchain storage --config <file>` and waits for its ready block. */
async function startDaemon (t: Test, config: string): Promise<Daemon> {
  const child = spawn(process.execPath, [CLI, 'storage', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { child.kill('SIGKILL') })
  let out = ''
  child.stdout!.on('data', (b: Buffer) => { out += b.toString() })
  child.stderr!.on('data', (b: Buffer) => { out += b.toString() })
  await until('the storage ready block', () => /\n {2}data /.test(out) || child.exitCode !== null, 180_000)
  const ready = /storage ready\n {2}peer id\s+(\S+)\n {2}peer (\/ip4\/127\.0\.0\.1\/\S+)\n(?:.*\n)*? {2}pinned\s+(\d+)/.exec(out)
  if (ready === null) throw new Error(`no ready block:\n${out}`)
  return { child, out: () => out, peerId: ready[1]!, addr: ready[2]!, pinned: Number(ready[3]) }
}

async function sigterm (d: Daemon): Promise<number | null> {
  return await new Promise<number | null>((resolve) => { d.child.once('exit', resolve); d.child.kill('SIGTERM') })
}

t.test('the storage daemon acknowledges uploads, pins what Userchain names, and keeps serving after a restart', async (t) => {
  const dir = await tempDir(t, 'storage-daemon')
  const alice = who('storage-daemon-alice')
  const doctor = who('storage-daemon-doctor')

  // the uploader: a core user node on devnet, its IPFS on the same libp2p node
  const core = await CoreNode.open({ dir: join(dir, 'uploader', 'chain'), params: DEVNET, verifyThreads: 1 })
  const cnet = await CoreNet.start({ chain: coreChain(core), params: DEVNET, dataDir: join(dir, 'uploader'), listen: ['/ip4/127.0.0.1/tcp/0'] })
  const ipfs = await IpfsNode.create({ dataDir: join(dir, 'uploader', 'ipfs'), libp2p: cnet.net.libp2p, bitswap: false })
  const miner = new Miner(core, { miner: alice.id, threads: 1, refreshMs: 60_000 })
  t.teardown(async () => { await miner.close(); await ipfs.stop(); await cnet.stop(); await core.close() })
  const mine = async (): Promise<void> => {
    const h = core.store.height
    while (core.store.height === h) await miner.mineOnce()
  }
  const submit = async (tx: Tx): Promise<void> => {
    const r = await core.submitTx(tx)
    if (!r.accepted) throw new Error(`uploader refused its own ${tx.kind}: ${r.reason}`)
  }
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
  const up = await uploadBatch(ipfs, pushed, { storageNodes: [first.addr], replication: 1 })
  t.same(up.acked, [first.addr], 'the daemon acknowledged the pushed batch')
  t.equal(await ipfs.peerHas(first.addr, up.cid), HAVE.PINNED, 'and holds it pinned')
  // its control API (the same service the ready block is printed from)
  const api = await ApiClient.forDataDir(join(dir, 'storage-data'))
  t.match(await api.call('GET', `/v1/cids/${up.cid.toString()}`), { state: 'pinned' }, 'its control API knows the pin')
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
