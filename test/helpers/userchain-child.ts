/**
 * Child process of the Userchain crash test: opens a core node on the data
 * dir given as argv[2] and imports/mines forever — blocks with transfers,
 * and every few blocks a heavier two-block side branch (a reorg) — printing
 * "tip <height> <work hex>" after each block is acknowledged. The parent
 * SIGKILLs it at a random moment.
 */
import { go, say } from './crash-child.ts'
import { mineForever, openMiningNode } from './mining-loop.ts'

await go()
const n = await openMiningNode(process.argv[2]!)
say('ready')
await mineForever(n, () => { say(`tip ${n.store.height} ${n.store.tip.work.toString(16)}`) })
