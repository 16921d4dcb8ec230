/**
 * johnny-five on a Firmata board over our own serialport 13 (DESIGN §7:
 * johnny-five and firmata want old native serialports; hand johnny-five a
 * ready `firmata-io` board built on a SerialPort we opened). Neither package
 * ships typings, so the small part we use is typed here. Shared by the
 * Firmata ingest source and the hardware-in-the-loop tools.
 */
import { createRequire } from 'node:module'
import { SerialPort } from 'serialport'
import { GuardedFirmataPort } from './firmata-guard.ts'

export interface FiveSensor {
  on: (event: 'data' | 'change', cb: (this: { value: number | null }) => void) => void
  /** null until the first analog report */
  readonly value: number | null
  /** ms between 'data' events; null stops the sensor's timer */
  freq: number | null
  disable: () => void
}

export interface FiveBoard {
  on: ((event: 'ready', cb: () => void) => void) & ((event: 'error', cb: (err: Error) => void) => void)
  readonly isReady: boolean
  readonly io: { firmware?: { name: string, version: { major: number, minor: number } }, version?: { major: number, minor: number } }
  samplingInterval: (ms: number) => void
}

export interface Five {
  Board: new (opts: { io: unknown, repl?: boolean, debug?: boolean, sigint?: boolean, timeout?: number }) => FiveBoard
  Sensor: new (opts: { pin: string, freq?: number, board?: FiveBoard }) => FiveSensor
}

type FirmataCtor = new (transport: unknown, opts?: { reportVersionTimeout?: number, skipCapabilities?: boolean }) => unknown

const require = createRequire(import.meta.url)
export const five = require('johnny-five') as Five
const Firmata = (require('firmata-io') as { Firmata: FirmataCtor }).Firmata

export interface FirmataConnection {
  board: FiveBoard
  port: SerialPort
  /** Frames from the board that firmata-io could not handle (dropped, counted). */
  readonly badFrames: () => number
  close: () => Promise<void>
}


export interface ConnectOptions {
  baudRate?: number
  /** wait this long for the board's spontaneous version report before asking (default 2000 ms) */
  reportVersionTimeoutMs?: number
  /** give up after this long (default 30 s) */
  timeoutMs?: number
}

/** Open `path` (57600 baud), speak Firmata on it, and wait for johnny-five's ready. */
export async function connectFirmata (path: string, opts: ConnectOptions = {}): Promise<FirmataConnection> {
  const timeoutMs = opts.timeoutMs ?? 30_000
  const port = new SerialPort({ path, baudRate: opts.baudRate ?? 57600, autoOpen: false })
  // firmata-io emits "connect" (which johnny-five waits for) on the port's "open": hand it the port before opening
  const guarded = new GuardedFirmataPort(port)
  const io = new Firmata(guarded, { reportVersionTimeout: opts.reportVersionTimeoutMs ?? 2000 })
  guarded.attach(io)
  const board = new five.Board({ io, repl: false, debug: false, sigint: false, timeout: timeoutMs })
  await new Promise<void>((resolve, reject) => { port.open((err) => { if (err != null) reject(err); else resolve() }) })
  const close = async (): Promise<void> => {
    if (port.isOpen) await new Promise<void>((resolve) => { port.close(() => { resolve() }) })
  }
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`no Firmata board ready on ${path} within ${timeoutMs} ms`)) }, timeoutMs)
      board.on('ready', () => { clearTimeout(timer); resolve() })
      board.on('error', (err) => { clearTimeout(timer); reject(err) })
    })
  } catch (err) {
    await close()
    throw err
  }
  return { board, port, badFrames: () => guarded.bad, close }
}
