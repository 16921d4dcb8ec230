/// <reference path="../types/espruino.d.ts" />
/**
 * DS18B20 digital thermometer on a 1-Wire bus (Maxim datasheet 19-7487:
 * SKIP ROM 0xCC is what OneWire.skip() sends, CONVERT T 0x44 with strong
 * pull-up, READ SCRATCHPAD 0xBE returns 9 bytes, byte 8 the Dallas CRC-8
 * (x⁸+x⁵+x⁴+1) of bytes 0–7; temperature = int16 LE / 16 °C at 12 bits).
 */

/** Dallas/Maxim CRC-8 (reflected polynomial 0x8C). */
function hcCrc8 (bytes: Uint8Array, count: number): number {
  var crc = 0
  for (var i = 0; i < count; i++) {
    var b = bytes[i]!
    for (var j = 0; j < 8; j++) {
      var mix = (crc ^ b) & 1
      crc >>= 1
      if (mix !== 0) crc ^= 0x8C
      b >>= 1
    }
  }
  return crc
}

/** Start a conversion; the result is ready 750 ms later at 12 bits. */
function hcDs18b20Convert (ow: OneWire): boolean {
  if (!ow.reset()) return false
  ow.skip()
  ow.write(0x44, true)
  return true
}

/** Read the converted temperature in °C, or null on no device or a bad CRC. */
function hcDs18b20Read (ow: OneWire): number | null {
  if (!ow.reset()) return null
  ow.skip()
  ow.write(0xBE)
  var d = ow.read(9)
  if (hcCrc8(d, 8) !== d[8]) return null
  var raw = (d[1]! << 8) | d[0]!
  if ((raw & 0x8000) !== 0) raw -= 0x10000
  return raw / 16
}
