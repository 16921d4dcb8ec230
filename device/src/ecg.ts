/// <reference path="../lib/config.ts" />
/// <reference path="../lib/serial.ts" />
/// <reference path="../lib/filters.ts" />
/**
 * ECG front end (AD8232 on an analog pin, 3.3 V): 100 samples/s; every
 * 0.4 s a line with 40 samples in mV, every 2 s the heart rate from the
 * R peaks of the last 4 s. The AD8232 module's output rests at about
 * 1.5 V with an overall gain of 1100 (datasheet Rev. C, heart-rate
 * application), so mV at the electrodes = (V − 1.5) / 1.1.
 * LO+ / LO− (leads off) pause the stream. Wiring: README "ECG".
 */

var HC_ECG_HZ = 100

function hcMain (): void {
  var dev = hcDevice(hcConf('device', 'ecg-1'))
  var pin = hcConfPin('ecg', A5)
  var loPlus = hcConfPin('loPlus', B4)
  var loMinus = hcConfPin('loMinus', B3)
  pinMode(pin, 'analog')
  var chunk: number[] = []
  var window: number[] = []
  var times: number[] = []
  var n = 0
  setInterval(function () {
    if (digitalRead(loPlus) === 1 || digitalRead(loMinus) === 1) {
      chunk = []
      return
    }
    var mv = (analogRead(pin) * 3.3 - 1.5) / 1.1
    chunk.push(hcRound(mv, 2))
    window.push(mv)
    times.push(getTime())
    if (window.length > 4 * HC_ECG_HZ) {
      window.shift()
      times.shift()
    }
    if (chunk.length >= 40) {
      hcEmit(dev, 'ecg', chunk)
      chunk = []
    }
    if (++n % (2 * HC_ECG_HZ) === 0 && window.length >= 3 * HC_ECG_HZ) {
      // beat intervals from the sample times: timers may run late
      var bpm = hcBeatsPerMinuteAt(window, times, 1.5, 0.25)
      if (bpm > 0) hcEmit(dev, 'hr', Math.round(bpm))
    }
  }, 1000 / HC_ECG_HZ)
}

hcMain()
