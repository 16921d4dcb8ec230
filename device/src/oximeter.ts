/// <reference path="../lib/config.ts" />
/// <reference path="../lib/serial.ts" />
/// <reference path="../lib/max30102.ts" />
/**
 * Pulse oximeter (MAX30102 on I2C): heart rate and SpO2 once a second as
 * reading lines over USB serial. Wiring: README "Pulse oximeter".
 */

function hcMain (): void {
  var dev = hcDevice(hcConf('device', 'ox-1'))
  I2C1.setup({ scl: hcConfPin('scl', B6), sda: hcConfPin('sda', B7), bitrate: 400000 })
  hcOximeterRun(hcOximeter(I2C1), function (hr, spo2) {
    hcEmit(dev, 'hr', hr)
    hcEmit(dev, 'spo2', spo2)
  })
}

hcMain()
