/// <reference path="../types/espruino.d.ts" />
/**
 * The reading line on the device side (brief "Shared contracts", the same
 * format as hub/src/ingest/line.ts parses): one JSON object, `*`, the CRC-32
 * of the JSON text (E.CRC32, IEEE as zlib's crc32) as 8 lower-case hex digits.
 * Paper §III-A: each sensor reports to its user's hub; the sequence number
 * and boot id let the hub drop replays.
 * Global script (no modules on Espruino): names carry the `hc` prefix.
 */

/** UCUM unit of each sensor type. */
var HC_UNITS: { [type: string]: string } = {
  hr: '/min', spo2: '%', temp: 'Cel', bp: 'mm[Hg]', rr: '/min', ecg: 'mV', fall: '1'
}

/** One device's identity and counter. */
interface HcDevice {
  id: string
  boot: number
  seq: number
}

/** n as 8 lower-case hex digits (n taken as an unsigned 32-bit number). */
function hcHex8 (n: number): string {
  var s = (n >>> 0).toString(16)
  while (s.length < 8) s = '0' + s
  return s
}

/** The JSON text with its `*crc` suffix (no newline). */
function hcSeal (json: string): string {
  return json + '*' + hcHex8(E.CRC32(json))
}

/** A new boot: random boot id, sequence from 0. */
function hcDevice (id: string): HcDevice {
  return { id: id, boot: (E.hwRand() >>> 1) % 1000000000, seq: 0 }
}

/** The next reading of `dev` as a sealed line (no newline); advances the sequence. */
function hcReading (dev: HcDevice, type: string, value: number | number[]): string {
  var json = JSON.stringify({
    d: dev.id, b: dev.boot, s: dev.seq, t: type, v: value, u: HC_UNITS[type], ts: Math.round(getTime() * 1000)
  })
  dev.seq++
  return hcSeal(json)
}

/** Round to `digits` decimals (keeps lines short and stable on the wire). */
function hcRound (x: number, digits: number): number {
  var f = Math.pow(10, digits)
  return Math.round(x * f) / f
}
