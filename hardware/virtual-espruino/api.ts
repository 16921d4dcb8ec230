/**
 * The Espruino API surface our sketches use (https://www.espruino.com/Reference),
 * implemented on the host for the virtual board: timers, USB/Serial1,
 * console, I2C1 and the I2C class, OneWire, analogRead/digitalRead/pinMode,
 * getTime, E.CRC32/E.hwRand, require('net' | 'Wifi' | 'Storage'), pin
 * globals and process.env. Callbacks that throw print "Uncaught …" and the
 * board carries on, as Espruino does.
 */
import { connect as netConnect } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import type { Socket } from 'node:net'
import { randomInt } from 'node:crypto'
import type { I2CChip, Ds18b20 } from './peripherals.ts'

/** CRC-32 (IEEE 802.3, reflected 0xEDB88320) of a byte string: the polyfill of Espruino's E.CRC32. */
export function espruinoCrc32 (data: string): number {
  let c = 0xFFFFFFFF
  for (let i = 0; i < data.length; i++) {
    c ^= data.charCodeAt(i) & 255
    for (let k = 0; k < 8; k++) c = (c & 1) !== 0 ? 0xEDB88320 ^ (c >>> 1) : c >>> 1
  }
  return (c ^ 0xFFFFFFFF) >>> 0
}

/** Missed ticks an interval runs at once when the host ran it late. */
const MAX_CATCH_UP = 50

export interface BoardEnv {
  /** bytes to the host, as a byte string */
  output (s: string): void
  /** seconds since power-on: the board's time (inside a timer callback, the time it was due) */
  clock (): number
  /** seconds since power-on by the host's wall clock */
  wall (): number
  /** runs `fn` with the board's time set to `due` (a timer callback the host ran late) */
  at (due: number, fn: () => void): void
  i2c: Map<number, I2CChip>
  onewire: Ds18b20 | null
  /** volts on an analog pin (0..3.3) */
  analog (pin: string, t: number): number
  digital (pin: string, t: number): number
  storage: Map<string, string>
  board: string
  version: string
}

/** What the board must clear on reset(): timers and sockets the code made. */
export interface Resources {
  timers: Map<number, NodeJS.Timeout>
  sockets: Set<Socket>
  nextTimer: number
  /** the board was switched off: callbacks still in flight must not start new work */
  off?: boolean
}

export function describeError (e: unknown): string {
  if (e instanceof Error || (typeof e === 'object' && e !== null && 'message' in e)) {
    const err = e as Error
    return `${err.name ?? 'Error'}: ${err.message}`
  }
  return JSON.stringify(e) ?? String(e)
}

function toBytes (data: unknown): number[] {
  if (typeof data === 'number') return [data & 255]
  if (typeof data === 'string') return Array.from(data, c => c.charCodeAt(0) & 255)
  if (Array.isArray(data) || ArrayBuffer.isView(data)) return Array.from(data as ArrayLike<number>, x => x & 255)
  throw new TypeError('Expecting a number, string or array')
}

function formatArgs (args: unknown[]): string {
  return args.map(a => typeof a === 'string' ? a : JSON.stringify(a)).join(' ')
}

/** The sandbox globals of one boot. */
export function espruinoGlobals (env: BoardEnv, res: Resources, hooks: { reset (): void, save (): void, load (): void }): Record<string, unknown> {
  const guard = <A extends unknown[]>(fn: (...a: A) => unknown) => (...a: A): void => {
    try {
      fn(...a)
    } catch (e) {
      env.output(`Uncaught ${describeError(e)}\r\n`)
    }
  }
  const addTimer = (fn: () => void, ms: number, repeat: boolean): number => {
    if (typeof fn !== 'function') throw new TypeError('Function or String not supplied!')
    const id = res.nextTimer++
    if (res.off === true) return id
    const wait = Math.max(1, Number(ms) || 0)
    // A real board's timers fire on time; the host running this one can be late (a loaded
    // machine). Each callback runs at the board time it was due, and an interval the host
    // held back runs the ticks it missed (up to MAX_CATCH_UP), so a sketch sampling a sensor
    // sees every instant it would on the board — a 100 ms impact is not stepped over.
    const created = env.clock()
    let ticks = 0
    const run = guard(() => {
      if (!repeat) {
        res.timers.delete(id)
        env.at(created + wait / 1000, fn)
        return
      }
      const behind = Math.floor(((env.wall() - created) * 1000) / wait)
      const upTo = Math.min(Math.max(ticks + 1, behind), ticks + MAX_CATCH_UP)
      while (ticks < upTo && res.timers.has(id)) {
        ticks++
        env.at(created + (ticks * wait) / 1000, fn)
      }
    })
    res.timers.set(id, repeat ? setInterval(run, wait) : setTimeout(run, wait))
    return id
  }
  const clearTimer = (id?: number): void => {
    if (id === undefined) {
      for (const t of res.timers.values()) clearTimeout(t)
      res.timers.clear()
      return
    }
    const t = res.timers.get(id)
    if (t !== undefined) clearTimeout(t)
    res.timers.delete(id)
  }

  const serial = {
    setup () {},
    on () {},
    setConsole () {},
    write (data: unknown) { env.output(typeof data === 'string' ? data : String.fromCharCode(...toBytes(data))) },
    print (text: unknown) { env.output(String(text)) },
    println (text: unknown) { env.output(`${String(text)}\r\n`) }
  }

  const i2cDevice = (): Record<string, unknown> => ({
    setup () {},
    writeTo (addr: number, ...data: unknown[]) {
      const chip = env.i2c.get(addr)
      if (chip === undefined) throw new Error(`I2C Error: No ACK from 0x${addr.toString(16)}`)
      chip.write(data.flatMap(toBytes))
    },
    readFrom (addr: number, count: number) {
      const chip = env.i2c.get(addr)
      if (chip === undefined) throw new Error(`I2C Error: No ACK from 0x${addr.toString(16)}`)
      return Uint8Array.from(chip.read(count))
    }
  })
  function I2C (this: Record<string, unknown>) { Object.assign(this, i2cDevice()) }

  function OneWire (this: Record<string, unknown>, _pin: unknown) {
    const bus = (): Ds18b20 => {
      if (env.onewire === null) throw new Error('OneWire: no device')
      return env.onewire
    }
    this.reset = () => env.onewire !== null && env.onewire.reset()
    this.skip = () => { bus().skip() }
    this.select = () => { bus().select() }
    this.search = () => env.onewire === null ? [] : ['28ff641e0c160389']
    this.write = (data: unknown) => { for (const b of toBytes(data)) bus().command(b) }
    this.read = (count?: number) => {
      if (count === undefined) return bus().readByte()
      const out = new Uint8Array(count)
      for (let i = 0; i < count; i++) out[i] = bus().readByte()
      return out
    }
  }

  /** Espruino's `net` and `tls` (boards built with mbedTLS): the same socket API, tls verifying the server against `ca` (PEM). */
  const socketModule = (secure: boolean) => ({
    connect (opts: { host: string, port: number, ca?: string }, cb?: () => void) {
      if (res.off === true) throw new Error('board is off')
      const s = secure ? tlsConnect({ host: opts.host, port: opts.port, ...(opts.ca === undefined ? {} : { ca: opts.ca }) }) : netConnect({ host: opts.host, port: opts.port })
      res.sockets.add(s)
      s.setNoDelay(true)
      s.on('error', () => {})
      s.on('close', () => { res.sockets.delete(s) })
      if (cb !== undefined) s.on(secure ? 'secureConnect' : 'connect', guard(cb))
      return {
        write (data: string) { if (!s.destroyed) s.write(Buffer.from(String(data), 'latin1')) },
        end () { s.end() },
        on (ev: string, fn: (x?: unknown) => void) {
          if (ev === 'data') s.on('data', guard((d: Buffer) => fn(d.toString('latin1'))))
          else if (ev === 'close' || ev === 'end') s.on('close', guard(() => fn()))
          else if (ev === 'error') s.on('error', guard((e: Error) => fn(e.message)))
        }
      }
    }
  })
  const net = socketModule(false)
  const tlsModule = socketModule(true)
  const wifi = {
    connect (_ssid: string, _opts: unknown, cb?: (err: unknown) => void) { if (cb) addTimer(() => cb(null), 10, false) },
    on () {},
    getIP () { return { ip: '127.0.0.1' } }
  }
  const storage = {
    read (name: string) { return env.storage.get(name) },
    write (name: string, data: string, offset?: number) {
      const at = offset ?? 0
      const prev = at > 0 ? (env.storage.get(name) ?? '') : ''
      env.storage.set(name, prev.padEnd(at, '\xFF').slice(0, at) + String(data))
      return true
    },
    erase (name: string) { env.storage.delete(name) },
    list () { return [...env.storage.keys()] },
    readJSON (name: string) { const s = env.storage.get(name); return s === undefined ? undefined : JSON.parse(s) },
    writeJSON (name: string, v: unknown) { env.storage.set(name, JSON.stringify(v)); return true }
  }

  const g: Record<string, unknown> = {
    setInterval: (fn: () => void, ms: number) => addTimer(fn, ms, true),
    setTimeout: (fn: () => void, ms: number) => addTimer(fn, ms, false),
    clearInterval: clearTimer,
    clearTimeout: clearTimer,
    changeInterval (id: number, ms: number) { void id; void ms },
    console: { log: (...a: unknown[]) => env.output(`${formatArgs(a)}\r\n`) },
    print: (...a: unknown[]) => env.output(`${formatArgs(a)}\r\n`),
    USB: serial,
    Serial1: serial,
    I2C1: i2cDevice(),
    I2C,
    OneWire,
    getTime: () => env.clock(),
    analogRead: (pin: unknown) => Math.max(0, Math.min(1, env.analog(String(pin), env.clock()) / 3.3)),
    digitalRead: (pin: unknown) => env.digital(String(pin), env.clock()),
    digitalWrite () {},
    analogWrite () {},
    pinMode () {},
    E: {
      CRC32: (data: unknown) => espruinoCrc32(typeof data === 'string' ? data : String.fromCharCode(...toBytes(data))),
      hwRand: () => randomInt(0, 2 ** 32 - 1) | 0,
      getTemperature: () => 25,
      setBootCode: (code: string) => { env.storage.set('.bootcde', String(code)) }
    },
    require (name: string) {
      if (name === 'net') return net
      if (name === 'tls' && env.board !== 'PICO') return tlsModule
      if (name === 'Wifi') return wifi
      if (name === 'Storage') return storage
      throw new Error(`Module ${name} not found`)
    },
    process: { env: { VERSION: env.version, BOARD: env.board, CONSOLE: 'USB', MODULES: env.board === 'PICO' ? 'net,Wifi,Storage' : 'net,tls,Wifi,Storage' }, memory: () => ({ free: 4000, usage: 1000, total: 5000 }), version: env.version },
    reset: () => hooks.reset(),
    save: () => hooks.save(),
    load: () => hooks.load(),
    echo () {},
    LED1: 'LED1',
    LED2: 'LED2',
    BTN: 'BTN'
  }
  for (const port of ['A', 'B', 'C']) for (let i = 0; i < 16; i++) g[`${port}${i}`] = `${port}${i}`
  for (let i = 0; i < 41; i++) g[`D${i}`] = `D${i}`
  return g
}
