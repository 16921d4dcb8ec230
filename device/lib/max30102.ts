/// <reference path="../types/espruino.d.ts" />
/// <reference path="./filters.ts" />
/// <reference path="./line.ts" />
/**
 * MAX30102 pulse oximeter over I2C (Maxim datasheet 19-7740: registers
 * 0x04 FIFO_WR_PTR, 0x06 FIFO_RD_PTR, 0x07 FIFO_DATA, 0x09 MODE_CONFIG,
 * 0x0A SPO2_CONFIG, 0x0C/0x0D LED pulse amplitude; SpO2 mode stores
 * 3 bytes red + 3 bytes IR per sample, 18-bit). Heart rate from the IR
 * pulse peaks; SpO2 from the ratio of ratios R = (AC/DC)red / (AC/DC)ir
 * with the common empirical calibration SpO2 = 110 − 25·R.
 */

var HC_MAX30102_ADDR = 0x57
var HC_OXI_HZ = 50
/** seconds of samples kept for the estimate */
var HC_OXI_WINDOW = 4

interface HcOximeter {
  i2c: I2CDevice
  red: number[]
  ir: number[]
}

function hcOximeter (i2c: I2CDevice): HcOximeter {
  i2c.writeTo(HC_MAX30102_ADDR, [0x09, 0x40]) // reset
  i2c.writeTo(HC_MAX30102_ADDR, [0x08, 0x10]) // FIFO: no averaging, roll over
  i2c.writeTo(HC_MAX30102_ADDR, [0x09, 0x03]) // SpO2 mode (red + IR)
  i2c.writeTo(HC_MAX30102_ADDR, [0x0A, 0x23]) // ADC 4096 nA, 50 samples/s, 411 µs (18 bit)
  i2c.writeTo(HC_MAX30102_ADDR, [0x0C, 0x24]) // red LED 7 mA
  i2c.writeTo(HC_MAX30102_ADDR, [0x0D, 0x24]) // IR LED 7 mA
  i2c.writeTo(HC_MAX30102_ADDR, [0x04, 0, 0, 0]) // clear FIFO pointers
  return { i2c: i2c, red: [], ir: [] }
}

function hcMaxReg (i2c: I2CDevice, reg: number): number {
  i2c.writeTo(HC_MAX30102_ADDR, reg)
  return i2c.readFrom(HC_MAX30102_ADDR, 1)[0]!
}

/** Drain the FIFO into the sample window; returns how many samples were read. */
function hcOximeterPoll (o: HcOximeter): number {
  var wr = hcMaxReg(o.i2c, 0x04)
  var rd = hcMaxReg(o.i2c, 0x06)
  var n = (wr - rd) & 31
  if (n === 0) return 0
  o.i2c.writeTo(HC_MAX30102_ADDR, 0x07)
  var d = o.i2c.readFrom(HC_MAX30102_ADDR, n * 6)
  for (var i = 0; i < n; i++) {
    var k = i * 6
    o.red.push(((d[k]! << 16) | (d[k + 1]! << 8) | d[k + 2]!) & 0x3FFFF)
    o.ir.push(((d[k + 3]! << 16) | (d[k + 4]! << 8) | d[k + 5]!) & 0x3FFFF)
  }
  var max = HC_OXI_HZ * HC_OXI_WINDOW
  if (o.ir.length > max) {
    o.red.splice(0, o.red.length - max)
    o.ir.splice(0, o.ir.length - max)
  }
  return n
}

/** {hr, spo2} from the window, or null without a finger or with too few samples. */
function hcOximeterEstimate (o: HcOximeter): { hr: number, spo2: number } | null {
  if (o.ir.length < HC_OXI_HZ * 3) return null
  var irDc = hcMean(o.ir)
  if (irDc < 50000) return null // no finger on the sensor
  var redDc = hcMean(o.red)
  var r = (hcAcRms(o.red) / redDc) / (hcAcRms(o.ir) / irDc)
  var spo2 = Math.max(70, Math.min(100, 110 - 25 * r))
  var hr = hcBeatsPerMinute(o.ir, HC_OXI_HZ, 0.5, 15)
  if (hr <= 0) return null
  return { hr: Math.round(hr), spo2: Math.round(spo2) }
}

/**
 * The oximeter's sampling loop, shared by the serial and the Wi-Fi sketch:
 * drain the FIFO every 200 ms and hand an estimate to `onEstimate` once a
 * second (when the finger is on the sensor and the estimate is sound).
 */
function hcOximeterRun (o: HcOximeter, onEstimate: (hr: number, spo2: number) => void): void {
  var polls = 0
  setInterval(function () {
    hcOximeterPoll(o)
    if (++polls % 5 !== 0) return
    var est = hcOximeterEstimate(o)
    if (est !== null) onEstimate(est.hr, est.spo2)
  }, 200)
}
