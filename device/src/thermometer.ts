/// <reference path="../lib/config.ts" />
/// <reference path="../lib/serial.ts" />
/// <reference path="../lib/filters.ts" />
/// <reference path="../lib/ds18b20.ts" />
/**
 * Body thermometer (DS18B20 on 1-Wire): a conversion every 2 s, smoothed
 * with a short moving average, sent in °C to 0.1 over USB serial.
 * Wiring: README "Thermometer".
 */

function hcMain (): void {
  var dev = hcDevice(hcConf('device', 'temp-1'))
  var ow = new OneWire(hcConfPin('onewire', B3))
  var ema = hcEma(0.5)
  setInterval(function () {
    if (!hcDs18b20Convert(ow)) return
    setTimeout(function () {
      var c = hcDs18b20Read(ow)
      if (c === null || c < 25 || c > 45) return // not on skin, or a bad read
      hcEmit(dev, 'temp', hcRound(hcEmaPush(ema, c), 1))
    }, 750)
  }, hcConfNumber('periodMs', 2000))
}

hcMain()
