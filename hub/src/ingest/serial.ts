/**
 * USB serial ingest (DESIGN §7: boards stream JSON reading lines over USB
 * serial; device/README.md documents the line). A port is bound to the
 * registered device plugged into it: a line naming another device is
 * refused and counted (a board cannot speak for others). Reads with `serialport`,
 * splits with a size bound, submits every line to the pipeline, and keeps
 * trying to reopen the port when the board is unplugged (the device node
 * disappears, reads fail with EIO) until it is plugged back in.
 */
import { EventEmitter } from 'node:events'
import { SerialPort } from 'serialport'
import { LineOversizeError } from './errors.ts'
import { LineSplitter } from './lines.ts'
import type { Ingest, SubmitResult } from './pipeline.ts'

export interface SerialSourceOptions {
  path: string
  /** the registered device on this port: lines of any other device are refused (ERR_PORT_DEVICE) */
  device: string
  baudRate?: number
  /** delay between reopen attempts, ms (default 250) */
  reconnectMs?: number
}

export interface SerialSourceEvents {
  open: []
  close: [Error | null]
  result: [SubmitResult]
  error: [Error]
}

export class SerialSource extends EventEmitter<SerialSourceEvents> {
  readonly ingest: Ingest
  readonly path: string
  readonly device: string
  readonly baudRate: number
  readonly reconnectMs: number
  readonly splitter = new LineSplitter()
  /** times the port was opened (1 + reconnects) */
  opens = 0
  lines = 0
  #port: SerialPort | null = null
  #timer: NodeJS.Timeout | undefined
  #stopped = false
  #inflight = new Set<Promise<unknown>>()

  constructor (ingest: Ingest, opts: SerialSourceOptions) {
    super()
    this.ingest = ingest
    this.path = opts.path
    this.device = opts.device
    this.baudRate = opts.baudRate ?? 115200
    this.reconnectMs = opts.reconnectMs ?? 250
  }

  /** Start reading; resolves at once (the port may open later). */
  start (): void {
    this.#stopped = false
    this.#open()
  }

  get isOpen (): boolean { return this.#port?.isOpen === true }

  #open (): void {
    if (this.#stopped) return
    const port = new SerialPort({ path: this.path, baudRate: this.baudRate, autoOpen: false })
    port.open((err) => {
      if (err != null) { this.#retry(); return }
      if (this.#stopped) { port.close(); return }
      this.#port = port
      this.splitter.reset()
      this.opens++
      this.emit('open')
      port.on('data', (chunk: Buffer) => { this.#data(chunk) })
      port.on('error', () => { /* followed by close */ })
      port.once('close', (e: Error | null) => {
        this.#port = null
        this.emit('close', e ?? null)
        this.#retry()
      })
    })
  }

  #retry (): void {
    if (this.#stopped || this.#timer !== undefined) return
    this.#timer = setTimeout(() => { this.#timer = undefined; this.#open() }, this.reconnectMs)
  }

  #data (chunk: Buffer): void {
    for (const piece of this.splitter.push(chunk)) {
      this.lines++
      if (piece.kind === 'oversize') {
        this.ingest.refuse(new LineOversizeError(this.splitter.max, piece.bytes), { source: 'serial', device: this.device, port: this.path })
        continue
      }
      const p = this.ingest.submit(piece.text, { source: 'serial', device: this.device, port: this.path })
        .then((r) => { this.emit('result', r) }, (e: Error) => { this.emit('error', e) })
      this.#inflight.add(p)
      void p.finally(() => this.#inflight.delete(p))
    }
  }

  /** Stop reading and reconnecting; waits for lines already submitted. */
  async stop (): Promise<void> {
    this.#stopped = true
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    const port = this.#port
    if (port?.isOpen === true) await new Promise<void>((resolve) => { port.close(() => { resolve() }) })
    await Promise.all([...this.#inflight])
  }
}
