/**
 * A long Userchain built directly into a core node's store, not mined in
 * real time: block 1 opens key epoch 1 for `others` users and for `user`,
 * then every block carries one tx_IoT of each of the others, and every
 * `ownEvery`-th block one of `user`'s (signed). Each header meets its target
 * (NETTEST's is met by one hash in two), so a light node checks the chain
 * as it checks a mined one. The others' signatures are checked by no one
 * here (the store leaves them to the core node, a light node never sees
 * them), so each of them signs once and the signature is reused. What the light hub test (test/integration/light-hub.test.ts) and
 * `npm run bench -- hub` (light_store_ratio) run on.
 */
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { buildTxIoT, buildTxKey, equalBytes, meetsTarget, sha256, toHex, ublockHash, ublockTemplate, utf8Bytes, bodyTx, type Identity, type NetworkParams, type Tx, type TxIoT } from '../../hub/src/core/index.ts'
import { CoreNode } from '../../hub/src/roles/core/node.ts'
import { who } from './core.ts'
import { NETTEST, NOW } from '../integration/net-helpers.ts'

export interface SyntheticChain {
  readonly node: CoreNode
  /** `user`'s transactions (hex ids), oldest first. */
  readonly own: string[]
  /** Every transaction (coinbases included). */
  readonly txs: number
}

const h = (s: string): Uint8Array => sha256(utf8Bytes(s))

/** Key epoch 1 of a user, naming no doctor (the hub's first start). */
export function firstKey (u: Identity, ts: number): Tx {
  return buildTxKey(u, { ts, epoch: 1, ik: h(`ik-${toHex(u.id)}`), epochSecret: h(`es-${toHex(u.id)}`), doctors: [], ikmE: h(`e-${toHex(u.id)}`) })
}

const signed = new Map<number, TxIoT>()
/**
 * Another user's tx_IoT for `height`: its first is signed, the later ones
 * carry that signature over a new heiot. The store does not check
 * signatures (the core node does, before) and a light node never sees them;
 * signing half a million would double the build.
 */
function otherIoT (u: Identity, i: number, height: number, ts: number): TxIoT {
  let first = signed.get(i)
  if (first === undefined || !equalBytes(first.user, u.id)) { first = buildTxIoT(u, { ts, heiot: h(`first-${i}`), epoch: 1 }); signed.set(i, first) }
  return { ...first, heiot: h(`${height}-${i}`) }
}

/** Builds `blocks` blocks on a fresh core node in `dir` (the node is left open). */
export async function syntheticChain (dir: string, o: { user: Identity, blocks: number, others: number, ownEvery: number, params?: NetworkParams, now?: number }): Promise<SyntheticChain> {
  const params = o.params ?? NETTEST
  const now = o.now ?? NOW
  const ts = now - 10
  const node = await CoreNode.open({ dir, params, now: () => now, verifyThreads: 1 })
  const others = Array.from({ length: o.others }, (_, i) => who(`synthetic-user-${i}`))
  const miner = who('synthetic-miner').id
  const own: string[] = []
  let txs = 0
  for (let height = 1; height <= o.blocks; height++) {
    const body: Tx[] = height === 1
      ? [...others.map((u) => firstKey(u, ts)), firstKey(o.user, ts)]
      : others.map((u, i) => otherIoT(u, i, height, ts))
    if (height === 1 || height % o.ownEvery === 0) {
      const mine = height === 1 ? body[body.length - 1]! : buildTxIoT(o.user, { ts, heiot: h(`own-${height}`), epoch: 1 })
      if (height !== 1) body.splice(height % body.length, 0, mine) // somewhere inside the block, so its proof has depth
      own.push(toHex(bodyTx(mine).id))
    }
    const tip = node.store.tip
    const block = ublockTemplate({ prev: tip.header, prevHash: tip.hash, gtime: params.genesisTime + height, bits: node.store.nextBitsAfter(tip), miner, reward: params.blockReward, txs: body })
    let header = block.header
    for (let nonce = 0; !meetsTarget(ublockHash(header), header.bits); nonce++) header = { ...block.header, nonce }
    const r = await node.store.addBlock({ ...block, header })
    if (r.status !== 'connected') throw new Error(`synthetic block ${height}: ${r.status} ${r.reason ?? ''}`)
    txs += block.txs.length
  }
  return { node, own, txs }
}

/** Bytes of the files under `dir`, recursively. */
export async function dirBytes (dir: string): Promise<number> {
  let n = 0
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    n += e.isDirectory() ? await dirBytes(p) : (await stat(p)).size
  }
  return n
}
