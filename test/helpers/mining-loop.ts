/**
 * The Userchain work of a crash-test child: imports and mines forever —
 * blocks with transfers, and every few blocks a heavier two-block side branch
 * (a reorg) — calling (and awaiting) `ack` after each block is acknowledged. Used by
 * userchain-child.ts and test/fault/hub-child.ts.
 */
import { buildTxCoin, solveUblockHeader, type Ublock } from '../../hub/src/core/index.ts'
import { CoreNode } from '../../hub/src/roles/core/node.ts'
import { who } from './core.ts'
import { makeBlock, TESTNET } from './userchain.ts'

const alice = who('alice')
const bob = who('bob')

/** A core node on `dir` whose clock runs just ahead of its tip (so blocks never wait). */
export async function openMiningNode (dir: string): Promise<CoreNode> {
  let node: CoreNode | null = null
  node = await CoreNode.open({ dir, params: TESTNET, verifyThreads: 1, now: () => (node?.store.tip.header.gtime ?? TESTNET.genesisTime) + 30 })
  return node
}

export async function mineForever (n: CoreNode, ack: () => void | Promise<void>): Promise<never> {
  for (let i = 0; ; i++) {
    const pending = n.mempool.view.account(alice.id)
    for (let k = 0; k < 3 && pending.balance > 10_000; k++) {
      await n.submitTx(buildTxCoin(alice, { to: bob.id, amount: 1000 + (i % 7), fee: 1, nonce: pending.nonce + k }))
    }
    const tpl = n.template(alice.id)
    const header = solveUblockHeader(tpl.header, 1_000_000)!
    const r = await n.submitBlock({ header, txs: tpl.txs })
    if (!r.accepted) throw new Error(r.reason)
    await ack()
    if (i % 4 === 3 && n.store.height > 2) {
      // A heavier side branch from the tip's parent: a reorg of depth 1.
      const parent = n.store.entry(n.store.tip.header.prehash)!
      const s1: Ublock = makeBlock(n.store, parent, { miner: bob.id, salt: 3 })
      const s2: Ublock = makeBlock(n.store, s1, { miner: bob.id })
      for (const b of [s1, s2]) {
        const rs = await n.submitBlock(b)
        if (!rs.accepted) throw new Error(rs.reason)
        await ack()
      }
    }
  }
}
