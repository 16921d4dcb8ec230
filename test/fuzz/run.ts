/**
 * `npm run fuzz`: the long fuzz run (issue "Reliability and security suite").
 * Every target of targets.ts on worker threads across the cores, at least
 * 1,000,000 inputs in all (FUZZ_INPUTS), each under a hang watchdog; then the
 * PBFT simulations with more seeded schedules than CI runs (FUZZ_PBFT_ROUNDS
 * rounds of 1,000 for n = 4 and n = 7, each on fresh seeds). Prints per-target
 * counts; exits non-zero on any crash, hang or failing schedule, printing the
 * input or the seed to replay it.
 *
 *   npm run fuzz                         # ≥ 1,000,000 inputs + 10,000 schedules per n
 *   FUZZ_INPUTS=50000 FUZZ_PBFT_ROUNDS=1 npm run fuzz
 *   FUZZ_SEED=7 FUZZ_ONLY=tx npm run fuzz
 */
import { availableParallelism } from 'node:os'
import { spawn } from 'node:child_process'
import { runInWorker, type FuzzStats } from './engine.ts'
import { TARGETS } from './targets.ts'

const TOTAL = Number(process.env.FUZZ_INPUTS ?? 1_000_000)
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000)
const ROUNDS = Number(process.env.FUZZ_PBFT_ROUNDS ?? 10)
const ONLY = process.env.FUZZ_ONLY
const targets = TARGETS.filter((t) => ONLY === undefined || t.name === ONLY)
const per = Math.ceil(TOTAL / targets.length)

console.log(`fuzz: ${targets.length} targets × ${per.toLocaleString('en')} inputs, seed ${SEED}, ${availableParallelism()} threads`)
const t0 = performance.now()
const results: FuzzStats[] = []
const queue = targets.map((t, i) => ({ name: t.name, seed: SEED + i }))
await Promise.all(Array.from({ length: availableParallelism() }, async () => {
  for (let job = queue.shift(); job !== undefined; job = queue.shift()) {
    const r = await runInWorker(job.name, per, job.seed)
    results.push(r)
    const bad = r.crashed + (r.hang === null ? 0 : 1)
    console.log(`  ${r.target.padEnd(38)} ${String(r.inputs).padStart(9)} inputs  ${String(r.accepted).padStart(8)} accepted  ${String(r.rejected).padStart(9)} rejected  ${bad === 0 ? 'ok' : `${bad} FAILING`}  ${(r.ms / 1000).toFixed(1)} s`)
    for (const c of r.crashes.slice(0, 3)) console.log(`    crash: ${c.error}\n      input ${c.input.slice(0, 400)}`)
    if (r.hang !== null) console.log(`    HANG: ${r.hang.error}\n      input ${r.hang.input}`)
  }
}))
const inputs = results.reduce((n, r) => n + r.inputs, 0)
const failing = results.filter((r) => r.crashed > 0 || r.hang !== null)
console.log(`fuzz: ${inputs.toLocaleString('en')} inputs, ${failing.length} failing targets, ${((performance.now() - t0) / 1000).toFixed(0)} s (replay with FUZZ_SEED=${SEED})`)

// PBFT: the CI files run seeds 1…1000; each round here runs the next 1,000.
let simFailures = 0
if (ONLY === undefined) {
  for (let round = 1; round <= ROUNDS; round++) {
    for (const n of [4, 7]) {
      const base = round * 1000 + 1
      const code = await new Promise<number>((resolve) => {
        const p = spawn(process.execPath, [new URL(`./pbft-sim-n${n}.test.ts`, import.meta.url).pathname], { env: { ...process.env, PBFT_SIM_BASE: String(base) }, stdio: ['ignore', 'pipe', 'inherit'] })
        let out = ''
        p.stdout.on('data', (d: Buffer) => { out += d.toString() })
        p.on('close', (c) => {
          for (const line of out.split('\n').filter((l) => /FAILING (LONG )?SEED|^not ok/.test(l.trim()))) console.log(`    ${line.trim()}`)
          resolve(c ?? 1)
        })
      })
      console.log(`  pbft n = ${n}: schedules ${base}…${base + 999} ${code === 0 ? 'safe and live' : 'FAILED'}`)
      if (code !== 0) simFailures++
    }
  }
}
process.exit(failing.length > 0 || simFailures > 0 ? 1 : 0)
