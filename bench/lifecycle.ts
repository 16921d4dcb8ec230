/**
 * How long the devnet takes to start and to stop, and how soon a PBFT link
 * dials a peer again after a failed dial: wall-clock figures, measured here
 * rather than asserted by the tests (test/e2e/npm-start.test.ts checks that
 * SIGINT exits 0, test/unit/pbft-liveness.test.ts that the link redials with
 * backoff).
 *
 * - npm_start_up_ms: the `npm start` command (node hub/src/devnet.ts, as in
 *   package.json) is spawned → it prints its patient page address.
 * - npm_start_stop_ms: SIGINT is sent → the process has exited (0), once the
 *   devnet printed its first progress line (chains running, boards sending).
 * - pbft_redial_ms (p50, p90 of 40): a PeerLink's dial is refused → the link
 *   dials again (its first backoff is 50 ms).
 *
 * One devnet run (it is heavy on a small machine); every wait is bounded.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { PeerLink } from '../hub/src/roles/accounting/libp2p-transport.ts'
import { table } from './_stats.ts'

const UP_BOUND_MS = 90_000
const PROGRESS_BOUND_MS = 60_000
const STOP_BOUND_MS = 60_000
const REDIAL_SAMPLES = 40

async function devnetStartStop (): Promise<{ upMs: number, stopMs: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'hc-bench-lifecycle-'))
  const devnet = new URL('../hub/src/devnet.ts', import.meta.url).pathname
  const t0 = performance.now()
  const child = spawn(process.execPath, [devnet, '--data-dir', dir, '--port', '0', '--episode', '5'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let exited: number | null | undefined
  const exit = new Promise<void>((resolve) => child.once('exit', (code) => { exited = code; resolve() }))
  child.stdout.on('data', (b: Buffer) => { out += b.toString() })
  child.stderr.on('data', (b: Buffer) => { out += b.toString() })
  /** Resolves at the first output matching `re` (checked every 10 ms), with the time it was seen. */
  const seen = async (re: RegExp, boundMs: number): Promise<number> => {
    const end = performance.now() + boundMs
    while (!re.test(out)) {
      if (exited !== undefined) throw new Error(`devnet exited ${exited} before ${re}:\n${out.slice(-2000)}`)
      if (performance.now() > end) throw new Error(`no ${re} within ${boundMs / 1000} s:\n${out.slice(-2000)}`)
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    return performance.now()
  }
  try {
    const upMs = (await seen(/patient page\s+http:\/\/127\.0\.0\.1:\d+\//, UP_BOUND_MS)) - t0
    await seen(/blocks \d+/, PROGRESS_BOUND_MS)
    const s0 = performance.now()
    child.kill('SIGINT')
    const hung = await Promise.race([exit.then(() => false), new Promise<boolean>((resolve) => setTimeout(() => { resolve(true) }, STOP_BOUND_MS).unref())])
    const stopMs = performance.now() - s0
    if (hung) throw new Error(`devnet still running ${STOP_BOUND_MS / 1000} s after SIGINT:\n${out.slice(-2000)}`)
    if (exited !== 0) throw new Error(`devnet exited ${exited} on SIGINT:\n${out.slice(-2000)}`)
    return { upMs, stopMs }
  } finally {
    if (exited === undefined) { child.kill('SIGKILL'); await exit }
    await rm(dir, { recursive: true, force: true })
  }
}

/** One sample: the dial refused → the next dial, on a link to a peer that accepts the second dial. */
async function redialOnce (): Promise<number> {
  let refusedAt = 0
  let redialAt = 0
  let written!: () => void
  const delivered = new Promise<void>((resolve) => { written = resolve })
  const link = new PeerLink(async () => {
    if (refusedAt === 0) { refusedAt = performance.now(); throw new Error('connection refused') }
    redialAt = performance.now()
    return { writable: () => true, write: async () => { written() }, abort: () => {} }
  })
  link.push(Uint8Array.of(1))
  let timer: NodeJS.Timeout | undefined
  const bound = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error('a PeerLink did not redial within 10 s')) }, 10_000) })
  try { await Promise.race([delivered, bound]) } finally { clearTimeout(timer); link.close() }
  return redialAt - refusedAt
}

export async function run (): Promise<Record<string, number>> {
  const redials: number[] = []
  for (let i = 0; i < REDIAL_SAMPLES; i++) redials.push(await redialOnce())
  redials.sort((a, b) => a - b)
  const { upMs, stopMs } = await devnetStartStop()
  const m = {
    npm_start_up_ms: upMs,
    npm_start_stop_ms: stopMs,
    pbft_redial_ms: redials[Math.floor(REDIAL_SAMPLES / 2)]!,
    pbft_redial_ms_p90: redials[Math.floor(REDIAL_SAMPLES * 0.9)]!
  }
  console.log('\nStart, stop and redial (wall clock)')
  table([
    ['metric', 'ms', 'clock starts', 'clock stops'],
    ['npm_start_up_ms', m.npm_start_up_ms, 'devnet spawned', 'patient page address printed'],
    ['npm_start_stop_ms', m.npm_start_stop_ms, 'SIGINT sent (devnet running)', 'process exited 0'],
    ['pbft_redial_ms (p50)', m.pbft_redial_ms, 'PeerLink dial refused', 'next dial'],
    ['pbft_redial_ms_p90', m.pbft_redial_ms_p90, 'PeerLink dial refused', 'next dial']
  ])
  return m
}
