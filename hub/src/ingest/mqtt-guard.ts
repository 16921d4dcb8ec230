/**
 * What stands between a LAN socket and the embedded broker (aedes): the
 * packet length read from each MQTT fixed header before a byte of the body
 * is buffered, and the caps on connections. aedes itself buffers a packet
 * of any declared length (its parser collects the whole Remaining Length
 * before it emits the packet), so a CONNECT declaring 200 MiB would be held
 * in memory before the login check runs.
 *
 * MQTT 3.1.1 §2.2 (fixed header: one byte of type and flags, then the
 * Remaining Length in 1–4 bytes, §2.2.3, 7 bits each, continuation in the
 * high bit); MQTT 5 §2.1.4 keeps the same encoding.
 */
import { Duplex } from 'node:stream'
import type { Socket } from 'node:net'
import { MAX_LINE_BYTES } from './line.ts'

/**
 * The largest packet a device needs: a CONNECT whose will carries one
 * reading line, or a PUBLISH of one line (MAX_LINE_BYTES) on its topic
 * (at most 95 bytes with 32-character hub and device ids), with room for
 * MQTT 5 properties. 2 KiB, four times the largest line.
 */
export const MAX_PACKET_BYTES = 4 * MAX_LINE_BYTES

/** Why the scanner refused a stream. */
export type ScanRefusal =
  | { kind: 'oversize', declared: number, limit: number }
  | { kind: 'malformed' }

/**
 * Follows packet boundaries on a byte stream by their fixed headers alone
 * (§2.2.3): the body bytes are counted, never kept. Pure.
 */
export class PacketScanner {
  readonly limit: number
  /** packets whose header was read */
  packets = 0
  #state: 'type' | 'length' | 'body' = 'type'
  #length = 0
  #multiplier = 1
  #lengthBytes = 0
  #remaining = 0

  constructor (limit = MAX_PACKET_BYTES) { this.limit = limit }

  /** Feeds bytes; null while the stream is acceptable, else why not (stop feeding then). */
  push (chunk: Uint8Array): ScanRefusal | null {
    let i = 0
    while (i < chunk.length) {
      if (this.#state === 'body') {
        const take = Math.min(this.#remaining, chunk.length - i)
        this.#remaining -= take
        i += take
        if (this.#remaining === 0) this.#state = 'type'
        continue
      }
      const b = chunk[i++]!
      if (this.#state === 'type') {
        this.#state = 'length'
        this.#length = 0
        this.#multiplier = 1
        this.#lengthBytes = 0
        continue
      }
      // §2.2.3: at most four length bytes
      this.#length += (b & 0x7f) * this.#multiplier
      this.#multiplier *= 128
      this.#lengthBytes++
      if ((b & 0x80) !== 0) {
        if (this.#lengthBytes === 4) return { kind: 'malformed' }
        // the length so far is already a lower bound: refuse as soon as it is over
        if (this.#length > this.limit) return { kind: 'oversize', declared: this.#length, limit: this.limit }
        continue
      }
      if (this.#length > this.limit) return { kind: 'oversize', declared: this.#length, limit: this.limit }
      this.packets++
      this.#remaining = this.#length
      this.#state = this.#remaining === 0 ? 'type' : 'body'
    }
    return null
  }
}

/**
 * The socket as aedes sees it: every chunk passes the scanner first; on a
 * refusal the socket is destroyed at once and `onRefuse` is told. Reads are
 * paused while aedes is not reading (backpressure), so nothing piles up here.
 */
export function guardedStream (socket: Socket, limit: number, onRefuse: (why: ScanRefusal) => void): Duplex {
  const scanner = new PacketScanner(limit)
  const d = new Duplex({
    read () { socket.resume() },
    write (chunk: Buffer, _enc, cb) { if (socket.destroyed) cb(); else socket.write(chunk, (err) => { cb(err ?? null) }) },
    final (cb) { socket.end(); cb() },
    destroy (err, cb) { socket.destroy(); cb(err) }
  })
  socket.on('data', (chunk: Buffer) => {
    const why = scanner.push(chunk)
    if (why !== null) {
      socket.destroy()
      d.destroy()
      onRefuse(why)
      return
    }
    if (!d.push(chunk)) socket.pause()
  })
  socket.on('end', () => { d.push(null) })
  socket.on('error', () => { /* 'close' follows */ })
  socket.on('close', () => { d.destroy() })
  // aedes reads the peer's address for its logs and for trustProxy
  Object.defineProperty(d, 'remoteAddress', { get: () => socket.remoteAddress })
  return d
}
