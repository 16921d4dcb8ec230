/**
 * A supervisor of daemon processes (the devnet's, and the tests' that spawn
 * `healthchain <role>` children): each child is one OS process whose stdout
 * and stderr lines go to one log stream, each prefixed with the child's
 * name; a child that exits while the supervisor is not stopping is reported
 * and started again (same command line: same config, data dir and ports);
 * `stop()` sends SIGTERM to every child, SIGKILL to any still there after a
 * grace period, and resolves once every process has exited (no orphans).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { EventEmitter } from 'node:events'

export interface ChildSpec {
  /** Name in the log prefix and in reports (e.g. "hub", "accounting-2"). */
  readonly name: string
  /** Arguments of `node` (the CLI script first). */
  readonly args: readonly string[]
  readonly env?: NodeJS.ProcessEnv
  /** Restart when it exits on its own (default true). */
  readonly restart?: boolean
}

/** One supervised daemon: its current process, what it printed since the supervisor started it, its restarts. */
export class Supervised extends EventEmitter {
  readonly spec: ChildSpec
  proc: ChildProcess | null = null
  /** Every line it printed, across restarts. */
  readonly lines: string[] = []
  restarts = 0
  /** PIDs of every process it ran (the test checks none is left). */
  readonly pids: number[] = []
  constructor (spec: ChildSpec) { super(); this.spec = spec }

  get pid (): number | undefined { return this.proc?.pid }
  get running (): boolean { return this.proc !== null && this.proc.exitCode === null && this.proc.signalCode === null }

  /** The first line from now on, or already printed since `since` (an index into `lines`), that matches. */
  async waitFor (re: RegExp, ms: number, since = 0): Promise<RegExpExecArray> {
    for (let i = since; i < this.lines.length; i++) { const m = re.exec(this.lines[i]!); if (m !== null) return m }
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.off('line', on); reject(new Error(`${this.spec.name}: no ${String(re)} within ${ms} ms; last lines:\n${this.lines.slice(-30).join('\n')}`)) }, ms)
      const on = (l: string): void => { const m = re.exec(l); if (m !== null) { clearTimeout(timer); this.off('line', on); resolve(m) } }
      this.on('line', on)
    })
  }
}

export interface SupervisorOptions {
  /** Where the prefixed lines go (default stdout). */
  readonly log?: (line: string) => void
  /** Delay before a restart (default 1000 ms). */
  readonly restartDelayMs?: number
  /** SIGTERM → SIGKILL grace on stop (default 30 s). */
  readonly graceMs?: number
}

export class Supervisor extends EventEmitter {
  readonly children = new Map<string, Supervised>()
  private stopping = false
  private readonly log: (line: string) => void
  private readonly restartDelayMs: number
  private readonly graceMs: number
  private readonly timers = new Set<NodeJS.Timeout>()

  constructor (opts: SupervisorOptions = {}) {
    super()
    this.log = opts.log ?? ((l) => { process.stdout.write(l + '\n') })
    this.restartDelayMs = opts.restartDelayMs ?? 1000
    this.graceMs = opts.graceMs ?? 30_000
  }

  /** Starts a daemon under supervision. */
  start (spec: ChildSpec): Supervised {
    if (this.stopping) throw new Error('the supervisor is stopping')
    const s = this.children.get(spec.name) ?? new Supervised(spec)
    this.children.set(spec.name, s)
    this.spawn(s)
    return s
  }

  private spawn (s: Supervised): void {
    const child = spawn(process.execPath, [...s.spec.args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...s.spec.env } })
    s.proc = child
    if (child.pid !== undefined) s.pids.push(child.pid)
    const prefix = `[${s.spec.name}]`
    for (const stream of [child.stdout!, child.stderr!]) {
      let buf = ''
      stream.on('data', (b: Buffer) => {
        buf += b.toString()
        const parts = buf.split('\n')
        buf = parts.pop()!
        for (const l of parts) { s.lines.push(l); this.log(`${prefix} ${l}`); s.emit('line', l) }
      })
    }
    child.stdin!.on('error', () => {}) // a child gone before it read its stdin
    child.once('exit', (code, signal) => {
      s.emit('exit', code, signal)
      if (this.stopping || s.spec.restart === false) return
      s.restarts++
      this.log(`[devnet] ${s.spec.name} (pid ${child.pid}) exited ${signal === null ? `with code ${code}` : `on ${signal}`}: restarting it (restart ${s.restarts})`)
      this.emit('restart', s.spec.name, s.restarts)
      const timer = setTimeout(() => {
        this.timers.delete(timer)
        if (!this.stopping) { this.spawn(s); this.log(`[devnet] ${s.spec.name} restarted (pid ${s.proc!.pid})`) }
      }, this.restartDelayMs)
      this.timers.add(timer)
    })
  }

  /** SIGKILL one child (as a crash would); the supervisor restarts it. */
  kill (name: string, signal: NodeJS.Signals = 'SIGKILL'): void {
    this.children.get(name)?.proc?.kill(signal)
  }

  /** Stops every child (SIGTERM, SIGKILL after the grace period); resolves once all have exited. */
  async stop (): Promise<void> {
    this.stopping = true
    this.emit('stopping')
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
    await Promise.all([...this.children.values()].map(async (s) => {
      const p = s.proc
      if (p === null || p.exitCode !== null || p.signalCode !== null) return
      const gone = new Promise<void>((resolve) => p.once('exit', () => { resolve() }))
      p.kill('SIGTERM')
      const timer = setTimeout(() => { this.log(`[devnet] ${s.spec.name} did not stop in ${this.graceMs / 1000} s: SIGKILL`); p.kill('SIGKILL') }, this.graceMs)
      await gone
      clearTimeout(timer)
    }))
  }
}
