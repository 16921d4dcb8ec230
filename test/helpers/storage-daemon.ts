/**
 * The storage daemon (`healthchain storage --config`) as a child process, and
 * an uploader beside it as a hub runs one: a devnet core user node (chain,
 * libp2p, a one-thread miner) with IPFS on the same libp2p node. Shared by the
 * storage daemon's integration and security tests.
 */
import type { Test } from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { DEVNET, type Tx } from '../../hub/src/core/index.ts'
import { CoreNode } from '../../hub/src/roles/core/node.ts'
import { Miner } from '../../hub/src/roles/core/miner.ts'
import { CoreNet } from '../../hub/src/net/service.ts'
import { coreChain } from '../../hub/src/net/core-chain.ts'
import { IpfsNode } from '../../hub/src/ipfs/index.ts'
import { until } from '../integration/net-helpers.ts'

const CLI = new URL('../../hub/src/cli.ts', import.meta.url).pathname

export interface StorageDaemon {
  readonly child: ChildProcess
  /** Everything it printed so far (stdout and stderr). */
  out(): string
  /** Its first loopback multiaddr with /p2p/. */
  readonly addr: string
  readonly peerId: string
  /** Pins it reported in its ready block. */
  readonly pinned: number
  /** The Pinning Service API's base URL, when it serves one. */
  readonly pinningApi: string | undefined
}

/** Starts `healthchain storage --config <file>` and waits for its ready block. */
export async function startStorageDaemon (t: Test, config: string): Promise<StorageDaemon> {
  const child = spawn(process.execPath, [CLI, 'storage', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { child.kill('SIGKILL') })
  let out = ''
  child.stdout!.on('data', (b: Buffer) => { out += b.toString() })
  child.stderr!.on('data', (b: Buffer) => { out += b.toString() })
  await until('the storage ready block', () => /\n {2}data /.test(out) || child.exitCode !== null, 180_000)
  const ready = /storage ready\n {2}peer id\s+(\S+)\n {2}peer (\/ip4\/127\.0\.0\.1\/\S+)\n(?:.*\n)*? {2}pinned\s+(\d+)/.exec(out)
  if (ready === null) throw new Error(`no ready block:\n${out}`)
  const api = /\n {2}pinning API\s+(\S+)/.exec(out)
  return { child, out: () => out, peerId: ready[1]!, addr: ready[2]!, pinned: Number(ready[3]), pinningApi: api?.[1] }
}

/** SIGTERM, resolving with the exit code. */
export async function sigterm (d: StorageDaemon): Promise<number | null> {
  return await new Promise<number | null>((resolve) => { d.child.once('exit', resolve); d.child.kill('SIGTERM') })
}

export interface Uploader {
  readonly core: CoreNode
  readonly cnet: CoreNet
  readonly ipfs: IpfsNode
  /** Its first listen multiaddr (for a storage node's userchain.bootstrap). */
  readonly addr: string
  /** Mines until the height grows by one. */
  mine(): Promise<void>
  /** Submits to its own mempool, failing on a refusal. */
  submit(tx: Tx): Promise<void>
}

/** A devnet core user node with IPFS on its libp2p node, mining for `miner` (an ID), stopped at teardown. */
export async function startUploader (t: Test, dir: string, miner: Uint8Array): Promise<Uploader> {
  const core = await CoreNode.open({ dir: join(dir, 'chain'), params: DEVNET, verifyThreads: 1 })
  const cnet = await CoreNet.start({ chain: coreChain(core), params: DEVNET, dataDir: dir, listen: ['/ip4/127.0.0.1/tcp/0'] })
  const ipfs = await IpfsNode.create({ dataDir: join(dir, 'ipfs'), libp2p: cnet.net.libp2p, bitswap: false })
  const m = new Miner(core, { miner, threads: 1, refreshMs: 60_000 })
  t.teardown(async () => { await m.close(); await ipfs.stop(); await cnet.stop(); await core.close() })
  return {
    core,
    cnet,
    ipfs,
    addr: cnet.net.addrs()[0]!.toString(),
    async mine () {
      const h = core.store.height
      while (core.store.height === h) await m.mineOnce()
    },
    async submit (tx) {
      const r = await core.submitTx(tx)
      if (!r.accepted) throw new Error(`uploader refused its own ${tx.kind}: ${r.reason}`)
    }
  }
}
