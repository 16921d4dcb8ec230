/**
 * Typings for the part of the Espruino API our sketches use
 * (https://www.espruino.com/Reference; the interpreter is ES5 plus a few
 * extras, DESIGN §7). Only what device/src and device/lib call is declared,
 * so a sketch reaching for anything else fails the type check of the build.
 */

/** A pin: Espruino passes pins as objects (D4, A0, B7 …); we accept names too. */
type Pin = number | string | { getInfo?: () => unknown }

interface SerialDevice {
  setup (baud: number, options?: { rx?: Pin, tx?: Pin }): void
  print (text: string): void
  println (text: string): void
  write (data: string | number[]): void
  on (event: 'data', cb: (data: string) => void): void
}

interface I2CDevice {
  setup (options: { scl: Pin, sda: Pin, bitrate?: number }): void
  writeTo (address: number, data: number | number[]): void
  readFrom (address: number, quantity: number): Uint8Array
}

declare class I2C implements I2CDevice {
  constructor ()
  setup (options: { scl: Pin, sda: Pin, bitrate?: number }): void
  writeTo (address: number, data: number | number[]): void
  readFrom (address: number, quantity: number): Uint8Array
}

declare class OneWire {
  constructor (pin: Pin)
  /** true when a device answered the reset pulse */
  reset (): boolean
  skip (): void
  select (rom: string): void
  search (): string[]
  write (data: number | number[], power?: boolean): void
  read (count: number): Uint8Array
  read (): number
}

interface NetSocket {
  write (data: string): void
  end (): void
  on (event: 'data', cb: (data: string) => void): void
  on (event: 'close' | 'end', cb: () => void): void
  on (event: 'error', cb: (err: unknown) => void): void
}

interface NetModule {
  connect (options: { host: string, port: number }, cb: () => void): NetSocket
}

/** Espruino's tls (boards built with mbedTLS: Espruino WiFi, ESP32): `ca` is the PEM the server's certificate must chain to. */
interface TlsModule {
  connect (options: { host: string, port: number, ca: string }, cb: () => void): NetSocket
}

interface WifiModule {
  connect (ssid: string, options: { password: string }, cb: (err: unknown) => void): void
  on (event: 'disconnected', cb: () => void): void
}

declare function require (name: 'net'): NetModule
declare function require (name: 'tls'): TlsModule
declare function require (name: 'Wifi'): WifiModule

declare const USB: SerialDevice
declare const Serial1: SerialDevice
declare const I2C1: I2CDevice
declare const console: { log (...args: unknown[]): void }

declare const E: {
  /** CRC-32 (IEEE) of a string, as a signed or unsigned 32-bit number */
  CRC32 (data: string): number
  /** a 32-bit hardware random number */
  hwRand (): number
}

/** Seconds since boot, as a float. */
declare function getTime (): number
/** 0..1 */
declare function analogRead (pin: Pin): number
declare function digitalRead (pin: Pin): number
declare function pinMode (pin: Pin, mode: 'input' | 'input_pullup' | 'output' | 'analog'): void

declare function setInterval (cb: () => void, ms: number): number
declare function setTimeout (cb: () => void, ms: number): number
declare function clearInterval (id: number): void
declare function clearTimeout (id: number): void

/** Optional per-board settings, prepended to the upload by `npm run flash -- … --set k=v`. */
declare var HC_CONFIG: { [key: string]: string | number | boolean | Pin } | undefined

/** Pins named on the boards in hardware/boards (Espruino defines them as globals). */
declare const A0: Pin
declare const A5: Pin
declare const A6: Pin
declare const A7: Pin
declare const B6: Pin
declare const B7: Pin
declare const B3: Pin
declare const B4: Pin
declare const D4: Pin
declare const D21: Pin
declare const D22: Pin
declare const D34: Pin
