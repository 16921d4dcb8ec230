/**
 * A virtual Espruino board: speaks the Espruino REPL protocol on a byte
 * stream (a pty held through serialport, or a TCP socket) well enough for
 * the real `espruino` CLI to upload code, and runs that code in a node:vm
 * sandbox with the Espruino API (./api.ts) backed by sensor chips driven by
 * a PatientModel (../sensors/models.ts).
 *
 * REPL protocol, as the CLI uses it (espruino/core/serial.js, codeWriter.js):
 * - "\n" on an empty line → the prompt ">"; Ctrl-C (0x03) clears the line;
 * - a line starting with 0x10 (DLE) is not echoed and its result not printed;
 * - "ESC [ n d" sets the line number for error messages (ignored here);
 * - ESC + newline is a line break inside one statement;
 * - lines accumulate until they form complete statements, then run.
 * The board holds uploads to ES5 (acorn, ecmaVersion 5) — what our build
 * promises — and reports other syntax as "Uncaught SyntaxError", so a
 * sketch the real interpreter could not run fails here too.
 */
import vm from 'node:vm'
import { parse } from 'acorn'
import { PatientModel } from '../sensors/models.ts'
import { Ds18b20, Max30102, Mpu6050 } from './peripherals.ts'
import type { I2CChip } from './peripherals.ts'
import { describeError, espruinoGlobals } from './api.ts'
import type { BoardEnv, Resources } from './api.ts'

export const VERSION = '2v25'
export const BANNER = ` ____                 _\r\n|  __|___ ___ ___ _ _|_|___ ___\r\n|  __|_ -| . |  _| | | |   | . |\r\n|____|___|  _|_| |___|_|_|_|___|\r\n         |_| espruino.com\r\n ${VERSION} (c) 2024 G.Williams (virtual board, Healthchain)\r\n\r\n`

export interface VirtualEspruinoOptions {
  model?: PatientModel
  /** where output bytes go (a byte string) */
  write: (bytes: string) => void
  board?: string
}

export class VirtualEspruino {
  readonly model: PatientModel
  readonly env: BoardEnv
  readonly #start = process.hrtime.bigint()
  /** the board time while a timer callback runs (see api.ts addTimer), else null: the wall clock */
  #due: number | null = null
  #res: Resources = { timers: new Map(), sockets: new Set(), nextTimer: 1 }
  #ctx: vm.Context
  /** REPL state */
  #line = ''
  #quiet = false
  #pending = ''
  #pendingQuiet = false
  #esc = ''
  #history: string[] = []
  #closed = false

  constructor (opts: VirtualEspruinoOptions) {
    this.model = opts.model ?? new PatientModel('normal')
    const wall = (): number => Number(process.hrtime.bigint() - this.#start) / 1e9
    const clock = (): number => this.#due ?? wall()
    const i2c = new Map<number, I2CChip>([
      [Max30102.ADDRESS, new Max30102(this.model, clock)],
      [Mpu6050.ADDRESS, new Mpu6050(this.model, clock)]
    ])
    const model = this.model
    this.env = {
      output: (s: string) => { if (!this.#closed) opts.write(s) },
      clock,
      wall,
      at: (due, fn) => {
        const outer = this.#due
        this.#due = Math.min(due, wall())
        try { fn() } finally { this.#due = outer }
      },
      i2c,
      onewire: new Ds18b20(this.model, clock),
      analog: (_pin, t) => model.ad8232Volts(t),
      digital: () => 0,
      storage: new Map(),
      board: opts.board ?? 'VIRTUAL',
      version: VERSION
    }
    this.#ctx = this.#newContext()
  }

  #newContext (): vm.Context {
    return vm.createContext(espruinoGlobals(this.env, this.#res, {
      reset: () => this.reset(),
      save: () => { this.env.storage.set('.bootcde', this.#history.join('\n')) },
      load: () => this.#boot()
    }), { name: 'espruino' })
  }

  /** Stop everything the running code started and start a fresh interpreter. */
  reset (): void {
    for (const t of this.#res.timers.values()) clearTimeout(t)
    this.#res.timers.clear()
    for (const s of this.#res.sockets) s.destroy()
    this.#res.sockets.clear()
    this.#history = []
    this.#ctx = this.#newContext()
    this.env.output(BANNER)
  }

  /** As after power-on: reset, then run saved code (.bootcde) if any. */
  #boot (): void {
    this.reset()
    const code = this.env.storage.get('.bootcde')
    if (code !== undefined) this.run(code)
  }

  /** Run complete code in the board (as an upload would); returns its value. */
  run (code: string): unknown {
    try {
      parse(code, { ecmaVersion: 5, sourceType: 'script' })
    } catch (e) {
      this.env.output(`Uncaught SyntaxError: ${(e as Error).message}\r\n`)
      return undefined
    }
    this.#history.push(code)
    try {
      return vm.runInContext(code, this.#ctx, { filename: 'espruino', timeout: 5000 })
    } catch (e) {
      this.env.output(`Uncaught ${describeError(e)}\r\n`)
      return undefined
    }
  }

  /** Feed bytes from the host (a Buffer or byte string). */
  input (data: Buffer | string): void {
    const s = typeof data === 'string' ? data : data.toString('latin1')
    for (const ch of s) this.#char(ch)
  }

  #char (ch: string): void {
    if (this.#esc !== '') {
      if (this.#esc === '\x1b' && (ch === '\n' || ch === '\r')) {
        // ESC + Enter: a new line inside the statement, not the end of it
        this.#esc = ''
        this.#line += '\n'
        return
      }
      if (this.#esc === '\x1b' && ch !== '[') { this.#esc = ''; this.#char(ch); return }
      this.#esc += ch
      if (this.#esc.length > 2 && /[A-Za-z~]/.test(ch)) this.#esc = '' // end of ESC [ n d (line number) and the like
      if (this.#esc.length > 12) this.#esc = ''
      return
    }
    switch (ch) {
      case '\x1b': this.#esc = ch; return
      case '\x03': // Ctrl-C: drop the line and any half statement
        this.#line = ''
        this.#pending = ''
        this.#quiet = false
        this.env.output('\r\n>')
        return
      case '\x10':
        if (this.#line === '') this.#quiet = true
        return
      case '\r':
      case '\n':
        this.#enter()
        return
      case '\x08': case '\x7f':
        this.#line = this.#line.slice(0, -1)
        return
      default:
        if (ch < ' ' && ch !== '\t') return
        this.#line += ch
        if (!this.#quiet) this.env.output(ch)
    }
  }

  #enter (): void {
    const line = this.#line
    const quiet = this.#quiet
    this.#line = ''
    this.#quiet = false
    if (this.#pending === '') {
      if (line.trim() === '') {
        if (!quiet) this.env.output('\r\n>')
        return
      }
      this.#pendingQuiet = quiet
    }
    this.#pending += (this.#pending === '' ? '' : '\n') + line
    if (!quiet) this.env.output('\r\n')
    if (!complete(this.#pending)) {
      if (!quiet) this.env.output(':')
      return
    }
    const code = this.#pending
    const silent = this.#pendingQuiet
    this.#pending = ''
    const value = this.run(code)
    if (!silent) this.env.output(`=${formatValue(value)}\r\n>`)
  }

  /** Stop all timers and sockets; no more output. */
  close (): void {
    this.#res.off = true
    for (const t of this.#res.timers.values()) clearTimeout(t)
    this.#res.timers.clear()
    for (const s of this.#res.sockets) s.destroy()
    this.#res.sockets.clear()
    this.#closed = true
  }
}

/** Does this text end in a complete program (not inside a block, string or expression)? */
export function complete (code: string): boolean {
  try {
    parse(code, { ecmaVersion: 5, sourceType: 'script' })
    return true
  } catch (e) {
    const at = (e as { raisedAt?: number }).raisedAt ?? 0
    return at < code.trimEnd().length // an error before the end is a real error: run it to report it
  }
}

function formatValue (v: unknown): string {
  if (v === undefined) return 'undefined'
  if (typeof v === 'function') return 'function () { [native code] }'
  try {
    return JSON.stringify(v) ?? String(v)
  } catch {
    return String(v)
  }
}
