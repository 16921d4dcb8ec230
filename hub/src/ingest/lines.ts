/**
 * Splitting a byte stream into reading lines with a hard size bound
 * (brief: at most 512 bytes per line). A line longer than the bound is
 * reported once as oversize and skipped up to its newline, so a board
 * spewing garbage cannot make the hub buffer without limit. Pure.
 */
import { MAX_LINE_BYTES } from './line.ts'

export type Piece = { kind: 'line', text: string } | { kind: 'oversize', bytes: number }

export class LineSplitter {
  readonly max: number
  #buf: Buffer[] = []
  #len = 0
  /** bytes of the current oversize line; -1 when not skipping */
  #skipping = -1

  constructor (max = MAX_LINE_BYTES) { this.max = max }

  /** Feed bytes; returns the complete lines (without `\n`) and oversize events, in order. */
  push (chunk: Uint8Array): Piece[] {
    const out: Piece[] = []
    let start = 0
    while (start < chunk.length) {
      const nl = chunk.indexOf(10, start)
      const end = nl < 0 ? chunk.length : nl
      const part = chunk.subarray(start, end)
      if (this.#skipping >= 0) {
        this.#skipping += part.length
      } else if (this.#len + part.length + 1 > this.max) {
        this.#skipping = this.#len + part.length
        this.#buf = []
        this.#len = 0
      } else {
        this.#buf.push(Buffer.from(part))
        this.#len += part.length
      }
      if (nl < 0) {
        // an unterminated line that is already too long is reported at its newline
        break
      }
      if (this.#skipping >= 0) {
        out.push({ kind: 'oversize', bytes: this.#skipping + 1 })
        this.#skipping = -1
      } else {
        const text = Buffer.concat(this.#buf, this.#len).toString('utf8').replace(/\r$/, '')
        if (text.length > 0) out.push({ kind: 'line', text })
      }
      this.#buf = []
      this.#len = 0
      start = nl + 1
    }
    return out
  }

  /** Drop a partial line (the port was closed mid-line). */
  reset (): void {
    this.#buf = []
    this.#len = 0
    this.#skipping = -1
  }
}
