/**
 * Flash a sketch with the real `espruino` CLI (DESIGN §7):
 *
 *   npm run flash -- <sketch> --port /dev/ttyACM0 [--board PICO|ESP32|ESPRUINO_WIFI|VIRTUAL] [--save] [--set key=value …]
 *
 * Builds device/dist/<sketch>.js, prepends `var HC_CONFIG = {…}` (the board
 * profile's pins from hardware/boards/<BOARD>.json, then every --set), and
 * runs the CLI offline: --no-ble, --board <local JSON> (never downloaded),
 * modules only from device/. The CLI exits 0 even when it could not connect
 * or the board rejected the code, so its output decides: we need "Upload
 * Complete" and no "Unable to connect" / "not found" / "Uncaught".
 * `--save` sets SAVE_ON_SEND=1: the code goes to flash and runs at boot.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'
import { Command } from 'commander'
import { buildSketch, DEVICE_DIR, DIST_DIR } from './build.ts'
import { FlashError, UnknownBoardError } from './errors.ts'

export const BOARDS_DIR = join(DEVICE_DIR, '..', 'hardware', 'boards')
const CLI = createRequire(import.meta.url).resolve('espruino/bin/espruino-cli.js')
const PRELOAD = join(DEVICE_DIR, 'espruino-ports.cjs')

export interface FlashOptions {
  sketch: string
  port: string
  board?: string
  save?: boolean
  /** extra HC_CONFIG entries */
  settings?: Record<string, string>
  /** seconds the CLI stays connected after the upload, echoing the board (default 1) */
  listen?: number
  /** skip the build and use device/dist as it is */
  noBuild?: boolean
}

export interface FlashResult {
  output: string
  uploadBytes: number
}

export function listBoards (): string[] {
  return readdirSync(BOARDS_DIR).filter(f => f.endsWith('.json')).map(f => f.slice(0, -5)).sort()
}

export function boardFile (board: string): string {
  const file = join(BOARDS_DIR, `${board}.json`)
  if (!existsSync(file)) throw new UnknownBoardError(board, listBoards())
  return file
}

const PIN_RE = /^(?:[A-H]\d{1,2}|LED\d|BTN\d?)$/

/** `var HC_CONFIG = {…};` with pins as bare pin names and numbers as numbers. */
export function configPrelude (settings: Record<string, string>): string {
  const parts = Object.entries(settings).map(([k, v]) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new FlashError('(settings)', `bad setting name ${JSON.stringify(k)}`, '')
    const value = PIN_RE.test(v) ? v : /^-?\d+(\.\d+)?$/.test(v) ? v : JSON.stringify(v)
    return `${k}: ${value}`
  })
  return `var HC_CONFIG = {${parts.join(', ')}};\n`
}

/** Why this CLI output means the upload failed, or null when it worked. */
export function flashFailure (output: string): string | null {
  if (/Unable to connect/i.test(output)) return 'the espruino CLI could not connect'
  if (/Port .* not found/i.test(output)) return 'no such serial port'
  if (/cannot open/i.test(output)) return 'the serial port cannot be opened'
  const uncaught = /Uncaught [^\r\n]*/.exec(output)
  if (uncaught !== null) return `the board rejected the code: ${uncaught[0]}`
  if (!/Upload Complete/.test(output)) return 'the espruino CLI did not report "Upload Complete"'
  return null
}

export async function flash (o: FlashOptions): Promise<FlashResult> {
  const board = o.board ?? 'PICO'
  const profile = JSON.parse(readFileSync(boardFile(board), 'utf8')) as { healthchain?: { pins?: Record<string, string> } }
  if (o.noBuild !== true) buildSketch(o.sketch)
  const code = readFileSync(join(DIST_DIR, `${o.sketch}.js`), 'utf8')
  const upload = configPrelude({ ...profile.healthchain?.pins, ...o.settings }) + code
  const dir = mkdtempSync(join(tmpdir(), 'hc-flash-'))
  const file = join(dir, `${o.sketch}.js`)
  writeFileSync(file, upload)
  const args = ['-r', PRELOAD, CLI, '--no-ble', '--board', boardFile(board), '-p', o.port,
    '--config', `MODULES_CWD=${DEVICE_DIR}`, '--sleep', String(o.listen ?? 1)]
  if (o.save === true) args.push('--config', 'SAVE_ON_SEND=1')
  args.push(file)
  try {
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, args, {
        env: { ...process.env, ESPRUINO_EXTRA_PORTS: o.port.startsWith('tcp://') ? '' : o.port },
        stdio: ['ignore', 'pipe', 'pipe']
      })
      let out = ''
      child.stdout.on('data', (d: Buffer) => { out += d.toString() })
      child.stderr.on('data', (d: Buffer) => { out += d.toString() })
      const timer = setTimeout(() => child.kill(), 60_000 + (o.listen ?? 1) * 1000)
      child.on('error', reject)
      child.on('close', () => { clearTimeout(timer); resolve(out) })
    })
    const why = flashFailure(output)
    if (why !== null) throw new FlashError(o.port, why, output)
    return { output, uploadBytes: Buffer.byteLength(upload) }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

if (resolve(process.argv[1] ?? '') === fileURLToPath(import.meta.url)) {
  const program = new Command('flash')
    .description('Build a device sketch and upload it with the espruino CLI (offline: --no-ble, local board JSON)')
    .argument('<sketch>', 'a sketch in device/src, e.g. oximeter')
    .requiredOption('-p, --port <port>', 'serial port (/dev/ttyACM0, a pty) or tcp://host:port')
    .option('-b, --board <board>', `board profile in hardware/boards: ${listBoards().join(', ')}`, 'PICO')
    .option('--save', 'write the code to flash so it runs at every boot')
    .option('--set <key=value...>', 'settings for HC_CONFIG (device, hub, secret, ssid, wifiPassword, mqttHost, mqttPort, pins …)')
    .option('--listen <seconds>', 'stay connected after the upload and show the board output', '1')
    .action(async (sketch: string, opts: { port: string, board: string, save?: boolean, set?: string[], listen: string }) => {
      const settings: Record<string, string> = {}
      for (const kv of opts.set ?? []) {
        const eq = kv.indexOf('=')
        if (eq <= 0) program.error(`--set needs key=value, got ${JSON.stringify(kv)}`)
        settings[kv.slice(0, eq)] = kv.slice(eq + 1)
      }
      try {
        const r = await flash({ sketch, port: opts.port, board: opts.board, save: opts.save, settings, listen: Number(opts.listen) })
        process.stdout.write(r.output)
        console.log(`flashed ${sketch} (${r.uploadBytes} bytes) to ${opts.port}${opts.save === true ? ' and saved it' : ''}`)
      } catch (err) {
        if (err instanceof FlashError) process.stderr.write(err.output)
        console.error(`error: ${(err as Error).message}`)
        process.exitCode = 1
      }
    })
  await program.parseAsync()
}
