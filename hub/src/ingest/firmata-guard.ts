/**
 * The guard between a Firmata board's serial port and firmata-io's parser
 * (used by firmata-board.ts). Pure of I/O: it only relays events.
 */
import { EventEmitter } from 'node:events'

/** Longest Firmata message the hub keeps buffering (a sysex without its END_SYSEX is dropped past this). */
export const MAX_FIRMATA_FRAME = 4096

/**
 * The port as firmata-io sees it, with a guard: firmata-io's parser throws
 * (TypeError) on some malformed responses — a pin-state or analog-mapping
 * report naming pins it does not know, found by test/fuzz — and keeps an
 * unterminated sysex forever. Thrown inside the port's 'data' event that
 * would take the whole hub down, so each chunk is handed over in a
 * try/catch: a frame that throws, or a partial frame past MAX_FIRMATA_FRAME,
 * is dropped from the parser's buffer and counted.
 */
interface PortLike { on: (ev: string, cb: (...a: any[]) => void) => unknown, write: (b: any, cb?: (err?: Error | null) => void) => unknown }

export class GuardedFirmataPort extends EventEmitter {
  #parser: { buffer?: number[] } | null = null
  bad = 0
  readonly port: PortLike
  constructor (port: PortLike) {
    super()
    this.port = port
    for (const ev of ['open', 'close', 'error']) port.on(ev, (...a: unknown[]) => { this.emit(ev, ...a) })
    port.on('data', (chunk: Buffer) => { this.feed(chunk) })
  }

  /** The firmata-io board reading from this port (its parse buffer is what a bad frame leaves behind). */
  attach (parser: unknown): void { this.#parser = parser as { buffer?: number[] } }

  feed (chunk: Buffer): void {
    try {
      this.emit('data', chunk)
    } catch {
      this.bad++
      if (this.#parser?.buffer !== undefined) this.#parser.buffer.length = 0
      return
    }
    const buf = this.#parser?.buffer
    if (buf !== undefined && buf.length > MAX_FIRMATA_FRAME) { this.bad++; buf.length = 0 }
  }

  write (b: unknown, cb?: (err?: Error | null) => void): unknown { return this.port.write(b, cb) }
}
