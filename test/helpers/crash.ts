/**
 * The parent side of every crash test (test/fault/crash-*.test.ts,
 * test/integration/userchain-crash.test.ts): run a child process until it
 * prints "ready", let it work for a while, SIGKILL it and return what it
 * printed (its acknowledgements). The child side is crash-child.ts.
 *
 * Restart is the point, not cold start: loading Helia/libp2p/LevelDB modules
 * takes seconds on a busy machine, so a CrashLoop spawns the next child while
 * the current one works. The spare loads its modules, then waits for "go" on
 * stdin before it touches the data dir or the port.
 *
 * The kill moments are random but seeded (faultRandom): a test prints its
 * seed, and FAULT_SEED=<seed> replays the same moments.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { rng } from '../fuzz/engine.ts'

/**
 * One compile cache for all children (Node keys it by version and source
 * hash, and writes it atomically): cuts each start's CPU by about 2/3.
 */
export const compileCache = join(tmpdir(), 'hc-compile-cache')
mkdirSync(compileCache, { recursive: true })

export interface CrashRun {
  /** Lines the child printed before it died. */
  readonly lines: string[]
  readonly stderr: string
  /** ms from "go" (or, if it was still loading then, "loaded") to "ready": the restart proper (store reopen, listen). */
  readonly restartMs: number
  /** ms from "go" to "ready", with any module loading still left when "go" came. */
  readonly goToReadyMs: number
}

interface Spawned {
  readonly child: ChildProcess
  /** when the child printed "loaded" (its modules are in), 0 before */
  readonly loadedAt: () => number
  readonly out: () => string
  readonly err: () => string
  readonly exited: Promise<number | null>
}

function spawnChild (script: string, args: readonly string[], env: NodeJS.ProcessEnv): Spawned {
  const child = spawn(process.execPath, ['--no-warnings', script, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, NODE_COMPILE_CACHE: compileCache, ...env } })
  let out = ''
  let err = ''
  let loadedAt = 0
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); if (loadedAt === 0 && out.includes('loaded\n')) loadedAt = Date.now() })
  child.stderr!.on('data', (d: Buffer) => { err += d.toString() })
  child.stdin!.on('error', () => {}) // a child that died early: its failure is reported by run()
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => { resolve(code) }))
  return { child, loadedAt: () => loadedAt, out: () => out, err: () => err, exited }
}

/** Sends "go", waits for "ready", lets the child work `workMs`, SIGKILLs it. */
async function run (s: Spawned, workMs: number, onGo: () => void = () => {}): Promise<CrashRun> {
  const start = Date.now()
  s.child.stdin!.write('go\n')
  onGo()
  const ready = await Promise.race([
    new Promise<boolean>((resolve) => { const tick = (): void => { if (s.out().includes('ready\n')) resolve(true); else setTimeout(tick, 5) }; tick() }),
    s.exited.then(() => false)
  ])
  if (!ready) throw new Error(`child exited before ready: ${s.err()}`)
  const end = Date.now()
  await new Promise((resolve) => setTimeout(resolve, workMs))
  s.child.kill('SIGKILL')
  const code = await s.exited
  if (code !== null && code !== 0) throw new Error(`child failed (${code}): ${s.err()}`)
  return { lines: s.out().split('\n').filter((l) => l !== '' && l !== 'loaded'), stderr: s.err(), restartMs: end - Math.max(start, s.loadedAt()), goToReadyMs: end - start }
}

/** One cold start, `workMs` of work, SIGKILL. */
export async function crashOnce (script: string, args: readonly string[], workMs: number, env: NodeJS.ProcessEnv = {}): Promise<CrashRun> {
  return await run(spawnChild(script, args, env), workMs)
}

/** Kill/restart trials of one child on the same args (data dir, port), each next child spawned warm. */
export class CrashLoop {
  readonly #script: string
  readonly #args: readonly string[]
  readonly #env: NodeJS.ProcessEnv
  readonly #ahead: number
  readonly #spares: Spawned[] = []
  #closed = false
  readonly #runs: CrashRun[] = []

  /** `ahead`: spares loading at once (more hide more of a slow load, at the price of CPU for the others). */
  constructor (script: string, args: readonly string[], opts: { env?: NodeJS.ProcessEnv, ahead?: number } = {}) {
    this.#script = script
    this.#args = args
    this.#env = opts.env ?? {}
    this.#ahead = opts.ahead ?? 2
  }

  /** Restarts the child (on a spare that loaded while the last one worked), lets it work `workMs`, SIGKILLs it; the next spare starts loading at once. */
  async trial (workMs: number): Promise<CrashRun> {
    if (this.#closed) throw new Error('crash loop closed')
    const s = this.#spares.shift() ?? spawnChild(this.#script, this.#args, this.#env)
    const r = await run(s, workMs, () => {
      while (!this.#closed && this.#spares.length < this.#ahead) this.#spares.push(spawnChild(this.#script, this.#args, this.#env))
    })
    this.#runs.push(r)
    return r
  }

  /** How long the restarts took, for the test's comment. */
  summary (): string {
    const mean = (xs: number[]): number => Math.round(xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length))
    const restart = this.#runs.map((r) => r.restartMs)
    return `${this.#runs.length} restarts: reopen mean ${mean(restart)} ms (max ${Math.max(0, ...restart)}), go→ready mean ${mean(this.#runs.map((r) => r.goToReadyMs))} ms`
  }

  /** Ends the spares (a child that never got "go" exits on stdin's end, too). */
  async close (): Promise<void> {
    this.#closed = true
    for (const s of this.#spares.splice(0)) {
      s.child.kill('SIGKILL')
      await s.exited
    }
  }
}

/**
 * The seeded randomness of a crash test: FAULT_SEED, or a fresh seed. Prints
 * the seed, so a failing run replays with FAULT_SEED=<seed>.
 */
export function faultRandom (label: string): { seed: number, random: () => number, between: (lo: number, hi: number) => number } {
  const env = process.env.FAULT_SEED
  const seed = env !== undefined && env !== '' ? Number(env) >>> 0 : Math.floor(Math.random() * 0x100000000) >>> 0
  console.log(`# ${label}: seed ${seed} (replay: FAULT_SEED=${seed})`)
  const random = rng(seed)
  return { seed, random, between: (lo, hi) => lo + Math.floor(random() * (hi - lo)) }
}

/**
 * Trials of one process kind: FAULT_<KIND>_TRIALS, else its default (the
 * issue's 100 kill/restart trials across the three process kinds: hub with
 * ingest and mining 40, accounting node 30, storage node 30), scaled by
 * FAULT_TRIALS / 100 when that is set. (test/integration/userchain-crash
 * adds its own 50 kills of the hub's core node alone.) Each file stays
 * within about 200 s on a loaded 2-core machine.
 */
export function faultTrials (kind: 'hub' | 'accounting' | 'storage'): number {
  const own = process.env[`FAULT_${kind.toUpperCase()}_TRIALS`]
  if (own !== undefined && own !== '') return Number(own)
  const scale = Number(process.env.FAULT_TRIALS ?? 100) / 100
  return Math.max(1, Math.round({ hub: 40, accounting: 30, storage: 30 }[kind] * scale))
}
