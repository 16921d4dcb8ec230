/**
 * Runs a child process until it prints "ready", lets it work for a while,
 * SIGKILLs it and returns what it printed (its acknowledgements): the common
 * step of every crash test (test/fault/crash-*.test.ts,
 * test/integration/userchain-crash.test.ts).
 */
import { spawn } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** One compile cache for all children of a test file: cuts each start's CPU by about 2/3. */
export const compileCache = mkdtempSync(join(tmpdir(), 'hc-compile-cache-'))

export interface CrashRun {
  /** Lines the child printed before it died. */
  readonly lines: string[]
  readonly stderr: string
}

export async function crashOnce (script: string, args: readonly string[], workMs: number, env: NodeJS.ProcessEnv = {}): Promise<CrashRun> {
  const child = spawn(process.execPath, ['--no-warnings', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_COMPILE_CACHE: compileCache, ...env } })
  let out = ''
  let err = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr.on('data', (d: Buffer) => { err += d.toString() })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  const ready = await Promise.race([
    new Promise<boolean>((resolve) => { const tick = (): void => { if (out.includes('ready\n')) resolve(true); else setTimeout(tick, 5) }; tick() }),
    exited.then(() => false)
  ])
  if (!ready) throw new Error(`child exited before ready: ${err}`)
  await new Promise((resolve) => setTimeout(resolve, workMs))
  child.kill('SIGKILL')
  const code = await exited
  if (code !== null && code !== 0) throw new Error(`child failed (${code}): ${err}`)
  return { lines: out.split('\n').filter((l) => l !== ''), stderr: err }
}
