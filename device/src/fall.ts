/// <reference path="../lib/config.ts" />
/// <reference path="../lib/serial.ts" />
/// <reference path="../lib/mpu6050.ts" />
/**
 * Fall detector worn at the waist (MPU-6050 on I2C): 50 samples/s of the
 * acceleration magnitude through the free-fall-then-impact detector; a
 * detected fall sends {"t":"fall","v":1}. Wiring: README "Fall detector".
 */

var HC_FALL_HZ = 50

function hcMain (): void {
  var dev = hcDevice(hcConf('device', 'fall-1'))
  I2C1.setup({ scl: hcConfPin('scl', B6), sda: hcConfPin('sda', B7), bitrate: 400000 })
  var state = hcMpuInit(I2C1)
  setInterval(function () {
    if (hcFallStep(state, hcMpuMagnitude(I2C1), HC_FALL_HZ)) hcEmit(dev, 'fall', 1)
  }, 1000 / HC_FALL_HZ)
}

hcMain()
