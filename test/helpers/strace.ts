/**
 * Syscall traces of a child process by Debian's strace, for the power-loss
 * test (test/fault/power-loss.test.ts): which bytes were written to which
 * file, and when each fsync/fdatasync of a file returned, on the same clock
 * (CLOCK_REALTIME: strace -ttt, realtimeNow) as the test's receipt of an
 * acknowledgement.
 *
 * Every fsync and fdatasync of the child is delayed by strace's fault
 * injection (`delay_exit`): an acknowledgement that waits for its sync then
 * comes at least that long after the data was written, one sent before
 * (or without) the sync comes before the sync returns, so the order is
 * decided by a margin of the delay, not by a race of microseconds.
 */
import { spawn } from 'node:child_process'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { compileCache } from './crash.ts'

/**
 * CLOCK_REALTIME in seconds with sub-millisecond precision, the clock of
 * strace -ttt (Date.now truncates to the millisecond, which would put an
 * acknowledgement up to 1 ms before the sync it followed).
 */
export function realtimeNow (): number { return (performance.timeOrigin + performance.now()) / 1000 }

export interface Syscall {
  readonly tid: number
  readonly name: string
  /** Entry time (s, CLOCK_REALTIME). */
  readonly start: number
  /** When the call returned to the process: entry + time in the kernel + the injected delay. */
  readonly end: number
  /** Path (or socket, pipe) of the fd of the first argument, from strace -y. */
  readonly path: string
  /** The bytes of a write / pwrite64 (up to the -s limit). */
  readonly data: Uint8Array | null
  readonly ret: number
}

/**
 * strace options that trace every thread to `<prefix>.<tid>` (one file a
 * thread, so no call is split over lines) with what `parseTrace` reads, and
 * delay every fsync/fdatasync by `delayUs`. With --seccomp-bpf only the
 * traced calls stop the child, not every syscall.
 */
export function straceArgs (prefix: string, delayUs: number): string[] {
  return [
    '--seccomp-bpf', '-f', '-ff', '-o', prefix, '-ttt', '-T', '-y', '-xx', '-s', '65536',
    '-e', 'trace=write,pwrite64,fsync,fdatasync',
    '-e', `inject=fsync,fdatasync:delay_exit=${delayUs}`,
    '--'
  ]
}

/** "\x01\x02…" as strace -xx prints a string or path. */
function unhex (s: string): Uint8Array {
  const out = new Uint8Array(s.length / 4)
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(i * 4 + 2, i * 4 + 4), 16)
  return out
}

const LINE = /^(\d+\.\d+) (write|pwrite64|fsync|fdatasync)\(\d+<((?:\\x[0-9a-f]{2})*)>(?:, "((?:\\x[0-9a-f]{2})*)"(?:\.\.\.)?)?.*\) = (-?\d+)(?: [A-Z]+ \([^)]*\))?( \(DELAYED\))? <(\d+\.\d+)>$/

/** Every traced call of the child, all threads, by entry time. `delayUs` is what straceArgs injected. */
export async function parseTrace (dir: string, prefix: string, delayUs: number): Promise<Syscall[]> {
  const calls: Syscall[] = []
  const dec = new TextDecoder()
  for (const f of await readdir(dir)) {
    if (!f.startsWith(prefix + '.')) continue
    const tid = Number(f.slice(prefix.length + 1))
    for (const line of (await readFile(join(dir, f), 'utf8')).split('\n')) {
      const m = LINE.exec(line)
      if (m === null) continue
      const start = Number(m[1])
      const delayed = m[6] !== undefined ? delayUs / 1e6 : 0
      calls.push({ tid, name: m[2]!, start, end: start + Number(m[7]) + delayed, path: dec.decode(unhex(m[3]!)), data: m[4] === undefined ? null : unhex(m[4]), ret: Number(m[5]) })
    }
  }
  return calls.sort((a, b) => a.start - b.start)
}

function indexOf (hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer
    return i
  }
  return -1
}

/**
 * Two adjacent 32-byte windows at the end of `bytes` (or `bytes` itself when
 * short): LevelDB's log inserts a 7-byte header every 32 KiB, which can
 * split at most one of them.
 */
function windows (bytes: Uint8Array): Uint8Array[] {
  if (bytes.length <= 64) return [bytes]
  return [bytes.subarray(bytes.length - 32), bytes.subarray(bytes.length - 64, bytes.length - 32)]
}

export interface SyncedWrite { readonly write: Syscall, readonly sync: Syscall }

/**
 * Whether the data of an acknowledgement received at `ackAt` (s) was durable
 * by then: the first successful write of `bytes` to a file whose path passes
 * `file`, then an fsync/fdatasync of that same file that entered after the
 * write returned and returned before `ackAt`. Returns the pair, or why not.
 */
export function syncedBefore (calls: readonly Syscall[], file: (path: string) => boolean, bytes: Uint8Array, ackAt: number): SyncedWrite | string {
  const ws = windows(bytes)
  const write = calls.find((c) => (c.name === 'write' || c.name === 'pwrite64') && c.ret > 0 && c.data !== null && file(c.path) && ws.some((w) => indexOf(c.data!, w) >= 0))
  if (write === undefined) return 'its bytes were never written to the store'
  const syncs = calls.filter((c) => (c.name === 'fsync' || c.name === 'fdatasync') && c.ret === 0 && c.path === write.path && c.start >= write.end)
  const sync = syncs.find((c) => c.end <= ackAt)
  if (sync !== undefined) return { write, sync }
  const at = (s: number): string => `${((s - write.start) * 1000).toFixed(1)} ms`
  return syncs.length === 0
    ? `written to ${write.path} at +0 ms, acknowledged at ${at(ackAt)}, and that file was never synced after the write`
    : `written to ${write.path} at +0 ms, acknowledged at ${at(ackAt)}, but the first sync of the file after the write returned at ${at(syncs[0]!.end)}`
}

export interface TracedChild {
  /** Every line the child printed so far, with when the test read it (s, CLOCK_REALTIME). */
  readonly lines: Array<{ readonly text: string, readonly at: number }>
  /** Waits for a line passing `test`. */
  line: (test: (l: string) => boolean, ms: number, what: string) => Promise<{ text: string, at: number }>
  /** Closes the child's stdin (a crash child exits on it), waits for strace to end, and returns the trace. */
  finish: () => Promise<Syscall[]>
}

/**
 * Runs a crash child (test/helpers/crash-child.ts: it loads, waits for "go",
 * prints "ready") under strace with every fsync/fdatasync delayed by
 * `delayUs`, its trace in `traceDir`; resolves once it is ready.
 */
export async function startTraced (script: string, args: readonly string[], traceDir: string, delayUs: number, env: NodeJS.ProcessEnv = {}): Promise<TracedChild> {
  const prefix = 'trace'
  const child = spawn('strace', [...straceArgs(join(traceDir, prefix), delayUs), process.execPath, '--no-warnings', script, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, NODE_COMPILE_CACHE: compileCache, ...env }
  })
  const lines: Array<{ text: string, at: number }> = []
  const waiters: Array<() => void> = []
  let buf = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => {
    const at = realtimeNow()
    buf += d.toString()
    const parts = buf.split('\n')
    buf = parts.pop()!
    for (const text of parts) lines.push({ text, at })
    for (const w of waiters.splice(0)) w()
  })
  child.stderr.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000) })
  child.stdin.on('error', () => {})
  let exited = false
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => { exited = true; for (const w of waiters.splice(0)) w(); resolve(code) }))
  const line = async (test: (l: string) => boolean, ms: number, what: string): Promise<{ text: string, at: number }> => {
    const deadline = Date.now() + ms
    for (;;) {
      const hit = lines.find((l) => test(l.text))
      if (hit !== undefined) return hit
      if (exited) throw new Error(`traced child exited waiting for ${what}: ${stderr}`)
      if (Date.now() > deadline) throw new Error(`traced child: no ${what} within ${ms} ms: ${stderr}`)
      await new Promise<void>((resolve) => { waiters.push(resolve); setTimeout(resolve, 100) })
    }
  }
  try {
    await line((l) => l === 'loaded', 60_000, '"loaded"')
    child.stdin.write('go\n')
    await line((l) => l === 'ready', 60_000, '"ready"')
  } catch (err) {
    child.kill('SIGKILL')
    throw err
  }
  return {
    lines,
    line,
    finish: async () => {
      child.stdin.end()
      const timer = setTimeout(() => { child.kill('SIGKILL') }, 20_000)
      const code = await exit
      clearTimeout(timer)
      if (code !== 0) throw new Error(`traced child ended with ${code}: ${stderr}`)
      return await parseTrace(traceDir, prefix, delayUs)
    }
  }
}
