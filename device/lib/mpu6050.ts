/// <reference path="../types/espruino.d.ts" />
/**
 * MPU-6050 accelerometer over I2C (InvenSense RM-MPU-6000A: 0x6B
 * PWR_MGMT_1, 0x1C ACCEL_CONFIG with AFS_SEL=1 → ±4 g, 8192 LSB/g,
 * 0x3B ACCEL_XOUT_H.. 6 bytes big-endian) and a fall detector: a free fall
 * (|a| < 0.4 g for 60 ms or more) followed within 1 s by an impact
 * (|a| > 2.5 g), the usual two-phase threshold scheme.
 */

var HC_MPU_ADDR = 0x68
var HC_MPU_LSB_PER_G = 8192

interface HcFallState {
  /** consecutive free-fall samples */
  low: number
  /** samples left in which an impact counts; 0 = not armed */
  armed: number
  /** samples left before another fall may be reported */
  hold: number
}

function hcMpuInit (i2c: I2CDevice): HcFallState {
  i2c.writeTo(HC_MPU_ADDR, [0x6B, 0x00]) // wake up
  i2c.writeTo(HC_MPU_ADDR, [0x1C, 0x08]) // ±4 g
  return { low: 0, armed: 0, hold: 0 }
}

function hcInt16 (hi: number, lo: number): number {
  var v = (hi << 8) | lo
  return v >= 0x8000 ? v - 0x10000 : v
}

/** Acceleration magnitude in g. */
function hcMpuMagnitude (i2c: I2CDevice): number {
  i2c.writeTo(HC_MPU_ADDR, 0x3B)
  var d = i2c.readFrom(HC_MPU_ADDR, 6)
  var x = hcInt16(d[0]!, d[1]!) / HC_MPU_LSB_PER_G
  var y = hcInt16(d[2]!, d[3]!) / HC_MPU_LSB_PER_G
  var z = hcInt16(d[4]!, d[5]!) / HC_MPU_LSB_PER_G
  return Math.sqrt(x * x + y * y + z * z)
}

/** Feed one sample (at `hz`); true when it completes a fall. */
function hcFallStep (s: HcFallState, g: number, hz: number): boolean {
  if (s.hold > 0) s.hold--
  if (g < 0.4) {
    s.low++
    if (s.low >= Math.ceil(0.06 * hz)) s.armed = hz
    return false
  }
  s.low = 0
  if (s.armed > 0) {
    s.armed--
    if (g > 2.5 && s.hold === 0) {
      s.armed = 0
      s.hold = 5 * hz
      return true
    }
  }
  return false
}
