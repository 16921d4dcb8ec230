/**
 * Child process of the Userchain crash test: opens a core node on the data
 * dir given as argv[2] and imports/mines forever — blocks with transfers,
 * and every few blocks a heavier two-block side branch (a reorg) — printing
 * "tip <height> <work hex>" after each block is acknowledged. The parent
 * SIGKILLs it at a random moment.
 */
import { buildTxCoin, solveUblockHeader, type Ublock } from '../../hub/src/core/index.ts'
import { CoreNode } from '../../hub/src/roles/core/node.ts'
import { who } from './core.ts'
import { makeBlock, TESTNET } from './userchain.ts'

const dir = process.argv[2]!
const alice = who('alice')
const bob = who('bob')
let node: CoreNode | null = null
node = await CoreNode.open({ dir, params: TESTNET, verifyThreads: 1, now: () => (node?.store.tip.header.gtime ?? TESTNET.genesisTime) + 30 })
const n = node
process.stdout.on('error', () => process.exit(0))
process.stdout.write('ready\n')
const ack = (): void => { process.stdout.write(`tip ${n.store.height} ${n.store.tip.work.toString(16)}\n`) }
for (let i = 0; ; i++) {
  const pending = n.mempool.view.account(alice.id)
  for (let k = 0; k < 3 && pending.balance > 10_000; k++) {
    await n.submitTx(buildTxCoin(alice, { to: bob.id, amount: 1000 + (i % 7), fee: 1, nonce: pending.nonce + k }))
  }
  const tpl = n.template(alice.id)
  const header = solveUblockHeader(tpl.header, 1_000_000)!
  const r = await n.submitBlock({ header, txs: tpl.txs })
  if (!r.accepted) throw new Error(r.reason)
  ack()
  if (i % 4 === 3 && n.store.height > 2) {
    // A heavier side branch from the tip's parent: a reorg of depth 1.
    const parent = n.store.entry(n.store.tip.header.prehash)!
    const s1: Ublock = makeBlock(n.store, parent, { miner: bob.id, salt: 3 })
    const s2: Ublock = makeBlock(n.store, s1, { miner: bob.id })
    for (const b of [s1, s2]) {
      const rs = await n.submitBlock(b)
      if (!rs.accepted) throw new Error(rs.reason)
      ack()
    }
  }
}
