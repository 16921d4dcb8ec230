/**
 * Canonical binary encoding (DESIGN §4): one fixed layout for everything that
 * is hashed or signed. Integers are unsigned LEB128 varints in their shortest
 * form or fixed-width big-endian; byte strings are fixed-length or
 * varint-length-prefixed with a per-field maximum. The Reader rejects
 * truncation, trailing bytes, non-minimal varints and oversize fields, each
 * with a typed error naming the field. No I/O, no clock, no randomness.
 */
import {
  InvalidFieldError, LimitExceededError, NonCanonicalError, TrailingBytesError, TruncatedError
} from './errors.ts'

/** Largest integer a varint may carry: 2^53 - 1, exact in a JS number. */
export const MAX_VARINT = Number.MAX_SAFE_INTEGER

/** Bytes needed by the varint encoding of n. */
export function varintLength (n: number): number {
  let len = 1
  while (n >= 0x80) { n = Math.floor(n / 0x80); len++ }
  return len
}

export function checkUint (field: string, n: unknown, max = MAX_VARINT): number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) {
    throw new InvalidFieldError(field, `must be a non-negative integer, got ${String(n)}`)
  }
  if (n > max) throw new LimitExceededError(field, max, n)
  return n
}

export function checkBytes (field: string, b: unknown, len?: number): Uint8Array {
  if (!(b instanceof Uint8Array)) throw new InvalidFieldError(field, 'must be a Uint8Array')
  if (len !== undefined && b.length !== len) {
    throw new InvalidFieldError(field, `must be ${len} bytes, got ${b.length}`)
  }
  return b
}

export class Writer {
  private buf: Uint8Array
  private pos = 0
  constructor (capacity = 256) { this.buf = new Uint8Array(capacity) }

  private reserve (n: number): void {
    if (this.pos + n <= this.buf.length) return
    let cap = this.buf.length * 2
    while (cap < this.pos + n) cap *= 2
    const next = new Uint8Array(cap)
    next.set(this.buf.subarray(0, this.pos))
    this.buf = next
  }

  u8 (field: string, n: number): this {
    checkUint(field, n, 0xff)
    this.reserve(1)
    this.buf[this.pos++] = n
    return this
  }

  u32 (field: string, n: number): this {
    checkUint(field, n, 0xffffffff)
    this.reserve(4)
    new DataView(this.buf.buffer, this.buf.byteOffset).setUint32(this.pos, n)
    this.pos += 4
    return this
  }

  /** 64-bit big-endian, limited to 2^53 - 1 so the value stays exact. */
  u64 (field: string, n: number): this {
    checkUint(field, n)
    this.reserve(8)
    const dv = new DataView(this.buf.buffer, this.buf.byteOffset)
    dv.setUint32(this.pos, Math.floor(n / 0x100000000))
    dv.setUint32(this.pos + 4, n >>> 0)
    this.pos += 8
    return this
  }

  varint (field: string, n: number, max = MAX_VARINT): this {
    checkUint(field, n, max)
    this.reserve(8)
    while (n >= 0x80) {
      this.buf[this.pos++] = (n % 0x80) | 0x80
      n = Math.floor(n / 0x80)
    }
    this.buf[this.pos++] = n
    return this
  }

  /** Fixed-length bytes: the length is part of the layout, not sent. */
  fixed (field: string, b: Uint8Array, len: number): this {
    checkBytes(field, b, len)
    this.reserve(len)
    this.buf.set(b, this.pos)
    this.pos += len
    return this
  }

  /** Variable-length bytes: varint length, then the bytes. */
  bytes (field: string, b: Uint8Array, max: number): this {
    checkBytes(field, b)
    if (b.length > max) throw new LimitExceededError(field, max, b.length)
    this.varint(field, b.length)
    this.reserve(b.length)
    this.buf.set(b, this.pos)
    this.pos += b.length
    return this
  }

  /** A list of byte strings: varint count (≤ maxItems), then each as bytes (≤ maxBytes), named field[i]. */
  list (field: string, items: readonly Uint8Array[], maxItems: number, maxBytes: number): this {
    this.varint(field, items.length, maxItems)
    items.forEach((b, i) => this.bytes(`${field}[${i}]`, b, maxBytes))
    return this
  }

  /** A copy of what was written. */
  finish (): Uint8Array { return this.buf.slice(0, this.pos) }

  /** What was written, as a view of the buffer: valid until the next write or reset (a scratch writer). */
  view (): Uint8Array { return this.buf.subarray(0, this.pos) }

  /** Forgets what was written, keeping the buffer. */
  reset (): this { this.pos = 0; return this }
}

export class Reader {
  private readonly buf: Uint8Array
  private pos = 0
  constructor (buf: Uint8Array) {
    this.buf = checkBytes('input', buf)
  }

  get offset (): number { return this.pos }
  get remaining (): number { return this.buf.length - this.pos }

  private need (field: string, n: number): void {
    if (this.remaining < n) throw new TruncatedError(field, n, this.remaining)
  }

  u8 (field: string): number {
    this.need(field, 1)
    return this.buf[this.pos++]!
  }

  u32 (field: string): number {
    this.need(field, 4)
    const v = new DataView(this.buf.buffer, this.buf.byteOffset).getUint32(this.pos)
    this.pos += 4
    return v
  }

  u64 (field: string): number {
    this.need(field, 8)
    const dv = new DataView(this.buf.buffer, this.buf.byteOffset)
    const hi = dv.getUint32(this.pos)
    const lo = dv.getUint32(this.pos + 4)
    if (hi > 0x1fffff) throw new LimitExceededError(field, MAX_VARINT, hi * 0x100000000 + lo)
    this.pos += 8
    return hi * 0x100000000 + lo
  }

  varint (field: string, max = MAX_VARINT): number {
    let n = 0
    let mul = 1
    for (let i = 0; ; i++) {
      this.need(field, 1)
      const b = this.buf[this.pos++]!
      if (i === 7 && b > 0x0f) throw new LimitExceededError(field, MAX_VARINT, Infinity)
      n += (b & 0x7f) * mul
      if ((b & 0x80) === 0) {
        if (b === 0 && i > 0) throw new NonCanonicalError(field, 'varint has a redundant zero byte')
        break
      }
      mul *= 0x80
    }
    if (n > max) throw new LimitExceededError(field, max, n)
    return n
  }

  fixed (field: string, len: number): Uint8Array {
    this.need(field, len)
    const out = this.buf.subarray(this.pos, this.pos + len)
    this.pos += len
    return out
  }

  bytes (field: string, max: number): Uint8Array {
    const len = this.varint(field, max)
    return this.fixed(field, len)
  }

  /** A list written by Writer.list. */
  list (field: string, maxItems: number, maxBytes: number): Uint8Array[] {
    const n = this.varint(field, maxItems)
    const out: Uint8Array[] = []
    for (let i = 0; i < n; i++) out.push(this.bytes(`${field}[${i}]`, maxBytes))
    return out
  }

  /** Subarray of everything read so far from `start`. */
  since (start: number): Uint8Array { return this.buf.subarray(start, this.pos) }

  /** The value must end exactly here. */
  end (field: string): void {
    if (this.remaining !== 0) throw new TrailingBytesError(field, this.remaining)
  }
}

/** Lowercase hex; Node's native encoder (a quarter of the cost of a loop: block validation keys every tx id by its hex). */
export function toHex (b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')
}

export function fromHex (field: string, s: string): Uint8Array {
  if (typeof s !== 'string' || s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) {
    throw new InvalidFieldError(field, 'must be an even-length hex string')
  }
  const out = new Uint8Array(s.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(i * 2, i * 2 + 2), 16)
  return out
}

export function concatBytes (...parts: Uint8Array[]): Uint8Array {
  let len = 0
  for (const p of parts) len += p.length
  const out = new Uint8Array(len)
  let off = 0
  for (const p of parts) { out.set(p, off); off += p.length }
  return out
}

export function equalBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  let d = 0
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!
  return d === 0
}

const utf8 = new TextEncoder()
export function utf8Bytes (s: string): Uint8Array { return utf8.encode(s) }

/** Lexicographic order of byte strings: negative, zero or positive. */
export function compareBytes (a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!
  return a.length - b.length
}
