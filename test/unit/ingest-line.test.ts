/**
 * The shared reading line (brief "Shared contracts"): CRC-32 equal to
 * zlib's, round trips, the 512-byte bound, and one typed error per failure.
 */
import t from 'tap'
import fc from 'fast-check'
import { crc32 as zlibCrc32 } from 'node:zlib'
import { crc32, crc32Hex, formatLine, parseLine, MAX_LINE_BYTES, SENSOR_UNITS } from '../../hub/src/ingest/line.ts'
import { BadChecksumError, BadFieldError, BadJsonError, LineOversizeError } from '../../hub/src/ingest/errors.ts'

const withCrc = (json: string): string => `${json}*${crc32Hex(json)}\n`

t.test('CRC-32 is the IEEE CRC of zlib (and Espruino E.CRC32)', async (t) => {
  t.equal(crc32('123456789'), 0xCBF43926, 'the standard check value')
  t.equal(crc32(''), 0)
  fc.assert(fc.property(fc.string({ maxLength: 200 }), (s) => crc32(s) === zlibCrc32(Buffer.from(s, 'utf8'))), { numRuns: 300 })
  t.equal(crc32Hex('a').length, 8)
  t.match(crc32Hex('a'), /^[0-9a-f]{8}$/)
})

t.test('the documented example parses', async (t) => {
  const json = '{"d":"ox-1","b":7,"s":42,"t":"spo2","v":97,"u":"%","ts":123456}'
  const r = parseLine(withCrc(json))
  t.same(r, { device: 'ox-1', boot: 7, seq: 42, type: 'spo2', value: 97, unit: '%', ts: 123456 })
  t.equal(formatLine(r), withCrc(json), 'formatLine writes the keys in the documented order')
  t.same(parseLine(withCrc(json).replace('\n', '\r\n')), r, 'CRLF accepted')
  t.same(parseLine(withCrc(json).trimEnd()), r, 'newline optional (MQTT payload)')
})

t.test('every sensor type round-trips; unit defaults to the type\'s UCUM unit', async (t) => {
  const values = { hr: 72, spo2: 95.5, temp: 37.2, bp: [120, 80], rr: 14, ecg: [0.1, -0.25, 1.2], fall: 1 } as const
  for (const type of Object.keys(SENSOR_UNITS) as Array<keyof typeof SENSOR_UNITS>) {
    const line = formatLine({ device: 'dev-1', boot: 1, seq: 0, type, value: values[type] as number | number[], ts: 5 })
    const r = parseLine(line)
    t.equal(r.unit, SENSOR_UNITS[type], `${type} in ${SENSOR_UNITS[type]}`)
    t.same(r.value, values[type])
    t.equal(formatLine({ d: 'dev-1', b: 1, s: 0, t: type, v: values[type] as number | number[], ts: 5 }), line, 'wire form gives the same line')
  }
})

t.test('typed errors', async (t) => {
  const good = formatLine({ d: 'ox-1', b: 1, s: 1, t: 'spo2', v: 97, ts: 1 })
  t.throws(() => parseLine(good.replace('"v":97', '"v":98')), BadChecksumError, 'altered value')
  t.throws(() => parseLine(good.replace(/\*[0-9a-f]{8}/, (m) => m.toUpperCase())), BadChecksumError, 'upper-case hex')
  t.throws(() => parseLine('{"d":"ox-1"}\n'), BadChecksumError, 'no checksum')
  t.throws(() => parseLine(withCrc('{"d":"ox-1",')), BadJsonError, 'truncated JSON with a valid checksum')
  t.throws(() => parseLine(withCrc('[1,2]')), BadJsonError, 'not an object')
  const field = (json: string, name: string): void => {
    t.throws(() => parseLine(withCrc(json)), new BadFieldError(name, ''), `bad ${name}: ${json}`)
    try { parseLine(withCrc(json)) } catch (e) { t.equal((e as BadFieldError).field, name) }
  }
  field('{"d":"OX-1","b":1,"s":1,"t":"spo2","v":97,"u":"%","ts":1}', 'd')
  field('{"d":"ox-1","b":-1,"s":1,"t":"spo2","v":97,"u":"%","ts":1}', 'b')
  field('{"d":"ox-1","b":1,"s":1.5,"t":"spo2","v":97,"u":"%","ts":1}', 's')
  field('{"d":"ox-1","b":1,"s":1,"t":"glucose","v":97,"u":"%","ts":1}', 't')
  field('{"d":"ox-1","b":1,"s":1,"t":"spo2","v":"97","u":"%","ts":1}', 'v')
  field('{"d":"ox-1","b":1,"s":1,"t":"bp","v":[120],"u":"mm[Hg]","ts":1}', 'v')
  field('{"d":"ox-1","b":1,"s":1,"t":"fall","v":0,"u":"1","ts":1}', 'v')
  field('{"d":"ox-1","b":1,"s":1,"t":"spo2","v":97,"u":"/min","ts":1}', 'u')
  field('{"d":"ox-1","b":1,"s":1,"t":"spo2","v":97,"u":"%","ts":-3}', 'ts')
  field('{"d":"ox-1","b":1,"s":1,"t":"spo2","v":97,"u":"%","ts":1,"x":0}', 'x')
  t.throws(() => formatLine({ d: 'ox-1', b: 1, s: 1, t: 'hr', v: Number.NaN, ts: 1 }), BadFieldError, 'formatLine validates too')
})

t.test('the 512-byte bound, newline included', async (t) => {
  const make = (n: number): string => {
    const samples = Array.from({ length: n }, () => 0.1)
    return formatLine({ d: 'ecg-1', b: 1, s: 1, t: 'ecg', v: samples, ts: 1 })
  }
  const fits = (k: number): boolean => { try { make(k); return true } catch { return false } }
  let n = 1
  while (n < 200 && fits(n + 1)) n++
  t.ok(make(n).length <= MAX_LINE_BYTES && make(n).length > MAX_LINE_BYTES - 5, `largest ECG line (${n} samples) fits`)
  t.throws(() => make(n + 1), LineOversizeError, 'formatLine refuses a longer one')
  // a line of `size` bytes: JSON padded with spaces, then "*" + 8 hex + "\n"
  const base = '{"d":"ox-1","b":1,"s":1,"t":"spo2","v":97,"u":"%","ts":1'
  const sized = (size: number): string => withCrc(base + ' '.repeat(size - 10 - base.length - 1) + '}')
  const exact = sized(MAX_LINE_BYTES)
  t.equal(Buffer.byteLength(exact), MAX_LINE_BYTES)
  t.ok(parseLine(exact), 'exactly 512 bytes parses')
  const over = sized(MAX_LINE_BYTES + 1)
  t.throws(() => parseLine(over), LineOversizeError, '513 bytes is oversize')
  try { parseLine(over) } catch (e) { t.equal((e as LineOversizeError).actual, 513, 'the error says how long') }
  t.throws(() => parseLine(over.trimEnd()), LineOversizeError, 'the bound counts the newline even when it is absent')
})

t.test('property: formatLine ∘ parseLine is the identity on valid readings', async () => {
  const reading = fc.record({
    d: fc.stringMatching(/^[a-z0-9-]{1,32}$/),
    b: fc.nat(),
    s: fc.maxSafeNat(),
    t: fc.constantFrom('hr' as const, 'spo2' as const, 'temp' as const, 'rr' as const),
    v: fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }),
    ts: fc.nat()
  })
  fc.assert(fc.property(reading, (w) => {
    const r = parseLine(formatLine(w))
    return r.device === w.d && r.seq === w.s && Object.is(r.value, w.v === 0 ? 0 : w.v) && formatLine(r) === formatLine(w)
  }), { numRuns: 300 })
})
