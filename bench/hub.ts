/**
 * Hub memory with everything running (issue "Evaluation": hub RSS, target
 * ≤ 300 MB): runs the `npm start` devnet as a child process until its first
 * committed diagnosis plus a little more, sampling the process's RSS from its
 * progress lines. The devnet process also hosts the storage, doctor and
 * accounting nodes and the virtual boards, so this is an upper bound for
 * the hub alone.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { table } from './_stats.ts'

const SECONDS = Number(process.env.BENCH_HUB_SECONDS ?? 75)

export async function run (): Promise<Record<string, number>> {
  const dir = await mkdtemp(join(tmpdir(), 'hc-bench-hub-'))
  const devnet = new URL('../hub/src/devnet.ts', import.meta.url).pathname
  const child = spawn(process.execPath, [devnet, '--data-dir', dir, '--port', '0', '--episode', '10', '--duration', String(SECONDS)], { stdio: ['ignore', 'pipe', 'pipe'] })
  const rss: number[] = []
  let diagnoses = 0
  let out = ''
  child.stdout.on('data', (b: Buffer) => {
    out += b.toString()
    for (const m of b.toString().matchAll(/diagnoses (\d+) .*rss (\d+) MB/g)) { diagnoses = Number(m[1]); rss.push(Number(m[2])) }
  })
  child.stderr.on('data', (b: Buffer) => { out += b.toString() })
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
  await rm(dir, { recursive: true, force: true })
  if (code !== 0 || rss.length === 0) throw new Error(`devnet exited ${code} with no progress lines:\n${out.slice(-2000)}`)
  const steady = rss.slice(Math.floor(rss.length / 2))
  const m = {
    hub_rss_mb: Math.max(...steady),
    devnet_rss_mb_peak: Math.max(...rss),
    devnet_diagnoses: diagnoses,
    devnet_seconds: SECONDS
  }
  console.log(`\nMemory of the devnet process (hub + second core node + storage, doctor and accounting nodes + virtual boards), ${SECONDS} s`)
  table([['metric', 'MB', 'target'], ['RSS, second half of the run (max)', m.hub_rss_mb, '<= 300 (hub alone)'], ['RSS peak (start-up)', m.devnet_rss_mb_peak, '']])
  return m
}
