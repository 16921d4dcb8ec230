/// <reference path="../types/espruino.d.ts" />
/// <reference path="./line.ts" />
/**
 * Reading lines out over USB serial (Espruino Pico/Original: `USB`; ESP32
 * and boards with a USB-UART bridge: `Serial1`). Each line ends in `\n`.
 */

function hcSerialOut (): SerialDevice {
  return typeof USB !== 'undefined' ? USB : Serial1
}

function hcEmit (dev: HcDevice, type: string, value: number | number[]): void {
  hcSerialOut().write(hcReading(dev, type, value) + '\n')
}
