/**
 * PBFT under 1,000 seeded schedules, n = 7 (f = 2): random delays, drops,
 * duplicates, reordering and partitions until the network stabilises, and up
 * to f Byzantine replicas (equivocating leader, silent, crashing, bad
 * signatures, stale-view replays). Safety: no two honest replicas commit
 * different Dblocks at a height, every certificate holds 2f+1 valid member
 * signatures. Liveness: after stabilisation every submitted tx_diag commits at
 * every honest replica. Replay a failing seed with:
 *   node -e "import('./test/fuzz/pbft-sim.ts').then(m => console.log(m.randomSchedule(SEED, 7)))"
 * (longSchedule(SEED, 7) for the long ones).
 */
import t from 'tap'
import { longSchedule, randomSchedule } from './pbft-sim.ts'

const SCHEDULES = 1000
const BASE = Number(process.env.PBFT_SIM_BASE ?? 1)

t.test('n = 7: safety and liveness over ' + SCHEDULES + ' seeded schedules', async (t) => {
  const failed: string[] = []
  let viewChanges = 0
  let maxHeight = 0
  for (let seed = BASE; seed < BASE + SCHEDULES; seed++) {
    const r = randomSchedule(seed, 7)
    viewChanges += r.views
    maxHeight = Math.max(maxHeight, r.height)
    if (!r.ok) {
      failed.push(`seed ${seed}: ${r.why}`)
      t.comment(`FAILING SEED ${seed} (n = 7): ${r.why}`)
      if (failed.length >= 5) break
    }
  }
  t.same(failed, [], 'every schedule is safe and live')
  t.ok(viewChanges > 0, `the schedules exercised view changes (${viewChanges})`)
  t.ok(maxHeight >= 3, 'the schedules committed several Dblocks')
})

t.test('n = 7: 30 long schedules (many checkpoints, watermark moves and view changes under faults)', async (t) => {
  const failed: string[] = []
  let maxHeight = 0
  for (let seed = BASE; seed < BASE + 30; seed++) {
    const r = longSchedule(seed, 7)
    maxHeight = Math.max(maxHeight, r.height)
    if (!r.ok) {
      failed.push(`long seed ${seed}: ${r.why}`)
      t.comment(`FAILING LONG SEED ${seed} (n = 7): ${r.why} — replay with longSchedule(${seed}, 7)`)
      if (failed.length >= 3) break
    }
  }
  t.same(failed, [], 'every long schedule is safe and live')
  t.ok(maxHeight >= 10, `long schedules reached height ${maxHeight}`)
})
