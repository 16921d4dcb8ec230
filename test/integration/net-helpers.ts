/** Fixtures for the network tests: core user nodes on loopback (real LevelDB, real libp2p, real miners). */
import { CoreNode, type CoreNodeOptions } from '../../hub/src/roles/core/node.ts'
import { Miner } from '../../hub/src/roles/core/miner.ts'
import { CoreNet } from '../../hub/src/net/service.ts'
import { coreChain } from '../../hub/src/net/core-chain.ts'
import type { NetNode, NetNodeOptions } from '../../hub/src/net/node.ts'
import { bodyTx, buildTxIoT, buildTxKey, sha256, toHex, utf8Bytes, type Identity, type NetworkParams, type Tx } from '../../hub/src/core/index.ts'
import { NOW, TESTNET, tempDir } from '../helpers/userchain.ts'
import { who } from '../helpers/core.ts'

/** TESTNET with room for a few hundred blocks mined at a fixed clock (gtime creeps up by the median-time-past rule). */
export const NETTEST: NetworkParams = Object.freeze({ ...TESTNET, maxFutureDrift: 24 * 3600 })
export { NOW }

type Teardown = { teardown: (fn: () => Promise<void> | void) => void }

export interface Peer {
  readonly name: string
  readonly node: CoreNode
  readonly cnet: CoreNet
  readonly net: NetNode
  readonly miner: Miner
  readonly dir: string
  readonly addr: string
  close(): Promise<void>
}

/** `net`: listen address, redial period, dial filter (the fault tests route every link through a proxy); `core`: relay policy, mempool bound. */
export async function startPeer (t: Teardown, name: string, opts: { bootstrap?: string[], dir?: string, params?: NetworkParams, net?: Pick<NetNodeOptions, 'listen' | 'redialMs' | 'denyDialMultiaddr'>, core?: Pick<CoreNodeOptions, 'relay' | 'mempoolBytes'> } = {}): Promise<Peer> {
  const dir = opts.dir ?? await tempDir(t, `net-${name}`)
  const node = await CoreNode.open({ dir, params: opts.params ?? NETTEST, now: () => NOW, verifyThreads: 1, ...opts.core })
  const cnet = await CoreNet.start({ chain: coreChain(node), params: opts.params ?? NETTEST, dataDir: dir, bootstrap: opts.bootstrap ?? [], redialMs: 0, sync: { intervalMs: 1000, timeoutMs: 15_000 }, ...opts.net })
  const miner = new Miner(node, { miner: who(`miner-${name}`).id, threads: 1, refreshMs: 60_000 })
  let closed = false
  const close = async (): Promise<void> => {
    if (closed) return
    closed = true
    await miner.close()
    await cnet.stop()
    await node.close()
  }
  t.teardown(close)
  return { name, node, cnet, net: cnet.net, miner, dir, addr: cnet.net.addrs()[0]!.toString(), close }
}

/** Polls `cond` every 50 ms until true; throws after `ms` with `what`. */
export async function until (what: string, cond: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** Waits until each peer has gossip mesh/subscription knowledge of `n` others on the Ublock topic. */
export async function meshed (peers: readonly Peer[], n = peers.length - 1): Promise<void> {
  await until('gossip subscriptions', () => peers.every((p) => [p.net.topics.ublock, p.net.topics.cmpct, p.net.topics.tx].every((topic) => p.net.pubsub.getSubscribers(topic).length >= n)))
}

/** Mines one block on `p` (retrying if a new tip aborted the job). */
export async function mine (p: Peer): Promise<void> {
  for (let i = 0; i < 20; i++) {
    const r = await p.miner.mineOnce()
    if (r !== null && r.accepted) return
  }
  throw new Error(`${p.name} could not mine`)
}

/** Alice's transactions for the tests: her tx_key (epoch 1) and tx_IoT batches. */
export const TX_TS = NOW - 10
export function aliceKey (alice: Identity, doctor: Identity, epoch = 1): Tx {
  const h = (s: string): Uint8Array => sha256(utf8Bytes(s))
  return buildTxKey(alice, { ts: TX_TS, epoch, ik: h(`ik${epoch}`), epochSecret: h(`s${epoch}`), doctors: [{ id: doctor.id, x25519: doctor.agreement.publicKey }], ikmE: h(`e${epoch}`) })
}
export function aliceIot (alice: Identity, i: number, epoch = 1): Tx {
  return buildTxIoT(alice, { ts: TX_TS, heiot: sha256(utf8Bytes(`batch${i}`)), epoch })
}
export function txHex (tx: Tx): string { return toHex(bodyTx(tx).id) }
