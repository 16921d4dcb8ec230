/**
 * `npm start` (node hub/src/devnet.ts) as a child process, as a person runs
 * it: its output lines (every daemon's, prefixed), waits on them, the daemon
 * PIDs it reported, Ctrl-C. Shared by test/e2e/devnet-processes.test.ts and
 * bench/e2e.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { appendFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { compileCache } from './crash.ts'

const DEVNET = fileURLToPath(new URL('../../hub/src/devnet.ts', import.meta.url))

/** One `npm start` run: its output lines, and waits on them. */
export class DevnetRun {
  readonly child: ChildProcess
  readonly lines: string[] = []
  exit: number | null | undefined = undefined
  private readonly listeners = new Set<() => void>()
  constructor (dir: string, args: readonly string[] = ['--episode', '5']) {
    this.child = spawn(process.execPath, ['--no-warnings', DEVNET, '--data-dir', dir, '--port', '0', '--quiet', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_COMPILE_CACHE: compileCache, NODE_OPTIONS: '' } })
    // HC_DEVNET_LOG=<file> keeps everything it printed (for a failed run)
    const keep = process.env.HC_DEVNET_LOG
    let buf = ''
    const on = (b: Buffer): void => {
      buf += b.toString()
      const parts = buf.split('\n')
      buf = parts.pop()!
      this.lines.push(...parts)
      if (keep !== undefined && parts.length > 0) appendFileSync(keep, parts.join('\n') + '\n')
      for (const l of this.listeners) l()
    }
    this.child.stdout!.on('data', on)
    this.child.stderr!.on('data', on)
    this.child.once('exit', (code) => { this.exit = code; for (const l of this.listeners) l() })
  }

  /** The first line at or after index `from` matching `re`. */
  async line (re: RegExp, what: string, ms: number, from = 0): Promise<RegExpExecArray & { at: number }> {
    return await new Promise((resolve, reject) => {
      const check = (): boolean => {
        for (let i = from; i < this.lines.length; i++) {
          const m = re.exec(this.lines[i]!)
          if (m !== null) { done(); resolve(Object.assign(m, { at: i })); return true }
        }
        if (this.exit !== undefined) { done(); reject(new Error(`npm start exited (${this.exit}) before ${what}:\n${this.tail()}`)); return true }
        return false
      }
      const timer = setTimeout(() => { done(); reject(new Error(`no ${what} within ${ms / 1000} s:\n${this.tail()}`)) }, ms)
      const done = (): void => { clearTimeout(timer); this.listeners.delete(listener) }
      const listener = (): void => { check() }
      if (!check()) this.listeners.add(listener)
    })
  }

  tail (): string { return this.lines.filter((l) => !/ (userchain|tip|commit) \d+ /.test(l)).slice(-60).join('\n') }

  /** Every daemon PID it reported (at start and on each restart). */
  pids (): number[] {
    const out: number[] = []
    for (const l of this.lines) {
      const m = /^ {2}processes +(.*)$/.exec(l)
      if (m !== null) for (const p of m[1]!.matchAll(/=(\d+)/g)) out.push(Number(p[1]))
      const r = /^\[devnet\] \S+ restarted \(pid (\d+)\)/.exec(l)
      if (r !== null) out.push(Number(r[1]))
    }
    return out
  }

  /** The current PID of a daemon. */
  pid (name: string): number {
    let pid = -1
    for (const l of this.lines) {
      const m = new RegExp(`^ {2}processes .*\\b${name}=(\\d+)`).exec(l) ?? new RegExp(`^\\[devnet\\] ${name} restarted \\(pid (\\d+)\\)`).exec(l)
      if (m !== null) pid = Number(m[1])
    }
    return pid
  }

  async up (): Promise<{ page: string, human: string }> {
    const m = await this.line(/^ {2}patient page +(https:\S+)/, 'the devnet\'s URLs', 1_000_000)
    const d = await this.line(/^ {2}doctor pages +\S+ \(AI\) +(\S+) \(human review\)/, 'the doctor pages', 1000)
    await this.line(/^ {2}processes /, 'the process list', 1000)
    return { page: m[1]!.replace(/\/$/, ''), human: d[1]!.replace(/\/$/, '') }
  }

  /** SIGINT (Ctrl-C); resolves with the exit code and how long the stop took. */
  async interrupt (): Promise<{ code: number | null | 'hung', ms: number }> {
    const t0 = Date.now()
    const code = await new Promise<number | null | 'hung'>((resolve) => {
      if (this.exit !== undefined) { resolve(this.exit); return }
      const bound = setTimeout(() => { resolve('hung') }, 90_000)
      this.child.once('exit', (c) => { clearTimeout(bound); resolve(c) })
      this.child.kill('SIGINT')
    })
    return { code, ms: Date.now() - t0 }
  }
}

export const alive = (pid: number): boolean => { try { process.kill(pid, 0); return true } catch { return false } }
export const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

