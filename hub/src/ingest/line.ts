/**
 * The reading line shared by every device and the hub (brief "Shared
 * contracts"; paper §III-A, devices send readings to their user node).
 *
 *   {"d":"ox-1","b":7,"s":42,"t":"spo2","v":97,"u":"%","ts":123456}*0a1b2c3d\n
 *
 * One JSON object, `*`, the CRC-32 (IEEE 802.3, as zlib's crc32 and
 * Espruino's E.CRC32) of the JSON text as 8 lower-case hex digits, `\n`.
 * At most MAX_LINE_BYTES bytes including the newline. Pure: no I/O, no
 * Node built-ins, so device builds and browsers can import it too.
 */
import { BadChecksumError, BadFieldError, BadJsonError, LineOversizeError } from './errors.ts'

/** Maximum bytes of one line, the trailing `\n` included. */
export const MAX_LINE_BYTES = 512

/** Sensor types and the UCUM unit each one must carry. */
export const SENSOR_UNITS = {
  hr: '/min',
  spo2: '%',
  temp: 'Cel',
  bp: 'mm[Hg]',
  rr: '/min',
  ecg: 'mV',
  fall: '1'
} as const

export type SensorType = keyof typeof SENSOR_UNITS
export const SENSOR_TYPES = Object.keys(SENSOR_UNITS) as SensorType[]

/** One reading, as every source (serial, MQTT, Firmata) produces it. */
export interface Reading {
  /** device id, [a-z0-9-]{1,32} (`d`) */
  device: string
  /** boot id; the sequence restarts only with a new one (`b`) */
  boot: number
  /** sequence number, +1 per reading (`s`) */
  seq: number
  /** sensor type (`t`) */
  type: SensorType
  /** a number; [systolic, diastolic] for bp; mV samples for ecg (`v`) */
  value: number | number[]
  /** UCUM unit (`u`) */
  unit: string
  /** device milliseconds since boot (`ts`) */
  ts: number
}

/** The same reading with the wire's JSON keys. */
export interface WireReading {
  d: string
  b: number
  s: number
  t: SensorType
  v: number | number[]
  u?: string
  ts: number
}

/** What formatLine takes: a Reading (unit optional) or its wire form. */
export type ReadingFields = (Omit<Reading, 'unit'> & { unit?: string }) | WireReading

export const DEVICE_ID_RE = /^[a-z0-9-]{1,32}$/
/** Most ECG samples that can fit a 512-byte line; a bound for validation. */
export const MAX_ECG_SAMPLES = 128

const WIRE_KEYS = new Set(['d', 'b', 's', 't', 'v', 'u', 'ts'])

// --- CRC-32 (IEEE, reflected, polynomial 0xEDB88320) -----------------------

const CRC_TABLE = (() => {
  const table = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = (c & 1) !== 0 ? 0xEDB88320 ^ (c >>> 1) : c >>> 1
    table[n] = c >>> 0
  }
  return table
})()

const encoder = new TextEncoder()

/** CRC-32 of a string's UTF-8 bytes, or of bytes; an unsigned 32-bit number. */
export function crc32 (data: string | Uint8Array): number {
  const bytes = typeof data === 'string' ? encoder.encode(data) : data
  let c = 0xFFFFFFFF
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xFF]! ^ (c >>> 8)
  return (c ^ 0xFFFFFFFF) >>> 0
}

/** CRC-32 as 8 lower-case hex digits. */
export function crc32Hex (data: string | Uint8Array): string {
  return crc32(data).toString(16).padStart(8, '0')
}

// --- validation -------------------------------------------------------------

function isFiniteNumber (x: unknown): x is number {
  return typeof x === 'number' && Number.isFinite(x)
}

function checkCount (field: string, x: unknown): number {
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) {
    throw new BadFieldError(field, 'must be an integer >= 0')
  }
  return x
}

function checkValue (type: SensorType, v: unknown): number | number[] {
  switch (type) {
    case 'bp':
      if (!Array.isArray(v) || v.length !== 2 || !v.every(isFiniteNumber)) {
        throw new BadFieldError('v', 'bp needs [systolic, diastolic]')
      }
      return [v[0] as number, v[1] as number]
    case 'ecg':
      if (!Array.isArray(v) || v.length < 1 || v.length > MAX_ECG_SAMPLES || !v.every(isFiniteNumber)) {
        throw new BadFieldError('v', `ecg needs 1..${MAX_ECG_SAMPLES} numeric samples`)
      }
      return v.slice()
    case 'fall':
      if (v !== 1) throw new BadFieldError('v', 'fall must be 1')
      return 1
    default:
      if (!isFiniteNumber(v)) throw new BadFieldError('v', `${type} needs a finite number`)
      return v
  }
}

/**
 * Checks every field of a wire object (keys in `also` are allowed beside
 * the wire's, and ignored); returns its value (an array copied), the other
 * fields being valid as they are. Throws BadJsonError or BadFieldError.
 */
function checkWire (o: unknown, also?: ReadonlySet<string>): number | number[] {
  if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new BadJsonError('not a JSON object')
  const w = o as Record<string, unknown>
  for (const k of Object.keys(w)) if (!WIRE_KEYS.has(k) && also?.has(k) !== true) throw new BadFieldError(k, 'unknown key')
  if (typeof w.d !== 'string' || !DEVICE_ID_RE.test(w.d)) throw new BadFieldError('d', 'device id must match [a-z0-9-]{1,32}')
  checkCount('b', w.b)
  checkCount('s', w.s)
  if (typeof w.t !== 'string' || !Object.hasOwn(SENSOR_UNITS, w.t)) {
    throw new BadFieldError('t', `unknown sensor type; one of ${SENSOR_TYPES.join(', ')}`)
  }
  const type = w.t as SensorType
  const value = checkValue(type, w.v)
  const unit = SENSOR_UNITS[type]
  if (w.u !== unit) throw new BadFieldError('u', `${type} must be in ${JSON.stringify(unit)}`)
  if (!isFiniteNumber(w.ts) || w.ts < 0) throw new BadFieldError('ts', 'must be a number >= 0')
  return value
}

/** Check a wire object and return the Reading; throws BadFieldError. `also`: keys allowed beside the wire's (and ignored). */
export function readingFromWire (o: unknown, also?: ReadonlySet<string>): Reading {
  const value = checkWire(o, also)
  const w = o as Required<WireReading>
  return { device: w.d, boot: w.b, seq: w.s, type: w.t, value, unit: w.u, ts: w.ts }
}

/** A checked copy of a wire object, its keys in the documented order (one object: no Reading in between). */
export function checkedWire (o: unknown, also?: ReadonlySet<string>): Required<WireReading> {
  const v = checkWire(o, also)
  const w = o as Required<WireReading>
  return { d: w.d, b: w.b, s: w.s, t: w.t, v, u: w.u, ts: w.ts }
}

/** The wire object of a Reading (keys in the documented order). */
export function readingToWire (r: Reading): Required<WireReading> {
  return { d: r.device, b: r.boot, s: r.seq, t: r.type, v: r.value, u: r.unit, ts: r.ts }
}

// --- the line ---------------------------------------------------------------

/**
 * Parse one line (a trailing `\n` or `\r\n` is allowed and ignored).
 * Throws LineOversizeError, BadChecksumError, BadJsonError or BadFieldError.
 */
export function parseLine (text: string): Reading {
  const size = encoder.encode(text).length + (text.endsWith('\n') ? 0 : 1)
  if (size > MAX_LINE_BYTES) throw new LineOversizeError(MAX_LINE_BYTES, size)
  let body = text
  if (body.endsWith('\n')) body = body.slice(0, -1)
  if (body.endsWith('\r')) body = body.slice(0, -1)
  const star = body.lastIndexOf('*')
  if (star < 0) throw new BadChecksumError('no "*crc" suffix')
  const json = body.slice(0, star)
  const sum = body.slice(star + 1)
  if (!/^[0-9a-f]{8}$/.test(sum)) throw new BadChecksumError('checksum must be 8 lower-case hex digits')
  const want = crc32Hex(json)
  if (sum !== want) throw new BadChecksumError(`checksum ${sum} does not match ${want}`)
  let o: unknown
  try {
    o = JSON.parse(json)
  } catch (err) {
    throw new BadJsonError((err as Error).message)
  }
  return readingFromWire(o)
}

/**
 * Format a reading as a line, `\n` included. Takes a Reading or its wire
 * form; the unit defaults to the type's UCUM unit. Validates like parseLine,
 * so a line it returns always parses back to the same reading.
 */
export function formatLine (fields: ReadingFields): string {
  const w: WireReading = 'd' in fields
    ? { ...fields, u: fields.u ?? SENSOR_UNITS[fields.t] }
    : { d: fields.device, b: fields.boot, s: fields.seq, t: fields.type, v: fields.value, u: fields.unit ?? SENSOR_UNITS[fields.type], ts: fields.ts }
  const r = readingFromWire(w)
  const json = JSON.stringify(readingToWire(r))
  const line = `${json}*${crc32Hex(json)}\n`
  const size = encoder.encode(line).length
  if (size > MAX_LINE_BYTES) throw new LineOversizeError(MAX_LINE_BYTES, size)
  return line
}
