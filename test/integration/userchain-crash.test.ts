/**
 * Crash safety of the chain store (issue #4 acceptance): a child process
 * importing and mining Ublocks (with reorgs) is SIGKILLed at seeded random moments,
 * 50 trials on one data dir. Every reopen must succeed on its own, the tip
 * must be a fully written block with at least the work last acknowledged,
 * and no index may point to a missing or off-chain block.
 */
import t from 'tap'
import { fileURLToPath } from 'node:url'
import { CoreNode } from '../../hub/src/roles/core/node.ts'
import { TESTNET, tempDir } from '../helpers/userchain.ts'
import { CrashLoop, faultRandom } from '../helpers/crash.ts'
import { rng } from '../fuzz/engine.ts'

// A bound, not a goal: 30–50 s when the 2-core CI machine runs the multi-process tests beside it.
t.setTimeout(300_000)

const CHILD = fileURLToPath(new URL('../helpers/userchain-child.ts', import.meta.url))
const TRIALS = 50

const { seed } = faultRandom('userchain-crash') // lane i draws from seed + i, so each lane replays on its own

/** Restarts the child, lets it work for `ms`, kills it; returns the last acknowledged tip. */
async function crashAt (loop: CrashLoop, ms: number): Promise<{ height: number, work: bigint } | null> {
  const { lines } = await loop.trial(ms)
  const last = lines.filter((l) => l.startsWith('tip ')).at(-1)
  if (last === undefined) return null
  const [, h, w] = last.split(' ')
  return { height: Number(h), work: BigInt('0x' + w!) }
}

/** `n` kill-and-reopen trials on one data dir; returns the problems found. */
async function lane (dir: string, n: number, random: () => number): Promise<{ problems: string[], acked: number, height: number }> {
  const problems: string[] = []
  let acked = 0
  let height = 0
  const loop = new CrashLoop(CHILD, [dir], { ahead: 1 })
  for (let i = 0; i < n; i++) {
    const tip = await crashAt(loop, Math.floor(random() * 80))
    const node = await CoreNode.open({ dir, params: TESTNET, verifyThreads: 1, now: () => TESTNET.genesisTime + 1e6 })
    try {
      for (const p of await node.store.audit()) problems.push(`trial ${i}: ${p}`)
      if (await node.store.getBlock(node.store.tip.hash) === undefined) problems.push(`trial ${i}: tip block missing`)
      if (tip !== null) {
        acked++
        if (node.store.tip.work < tip.work) problems.push(`trial ${i}: tip work below the acknowledged block at ${tip.height}`)
      }
      height = node.store.height
    } finally {
      await node.close()
    }
  }
  await loop.close()
  return { problems, acked, height }
}

t.test(`${TRIALS} SIGKILLs while importing and mining`, async (t) => {
  // Two data dirs side by side, half the trials each: the same 50 kills in half the wall time.
  const dirs = [await tempDir(t, 'crash'), await tempDir(t, 'crash')]
  const lanes = await Promise.all(dirs.map(async (d, i) => await lane(d, TRIALS / 2, rng(seed + i))))
  t.same(lanes.flatMap((l) => l.problems), [], `${TRIALS} reopens succeeded and were consistent`)
  for (const [i, l] of lanes.entries()) {
    t.ok(l.acked > 0 && l.height > 0, `lane ${i}: ${l.acked} trials had acknowledged blocks; final height ${l.height}`)
  }
})
