/**
 * A protocol-level Firmata board (Firmata protocol 2.5,
 * https://github.com/firmata/protocol: protocol.md, capability-query,
 * analog mapping, sampling interval) for the ingest tests: it answers what
 * firmata-io asks at start-up as StandardFirmata on an Arduino Uno does
 * (20 pins, A0–A5 = pins 14–19 with 10-bit ADCs) and streams analog
 * reports for the channels the host enables at the sampling interval.
 * The analog values come from a function the test sets. This is not the
 * real firmware: that runs in avr8js under hardware/arduino-uno/.
 */
import { SerialPort } from 'serialport'

const START_SYSEX = 0xF0
const END_SYSEX = 0xF7
const REPORT_VERSION = 0xF9
const QUERY_FIRMWARE = 0x79
const CAPABILITY_QUERY = 0x6B
const CAPABILITY_RESPONSE = 0x6C
const ANALOG_MAPPING_QUERY = 0x69
const ANALOG_MAPPING_RESPONSE = 0x6A
const PIN_STATE_QUERY = 0x6D
const PIN_STATE_RESPONSE = 0x6E
const SAMPLING_INTERVAL = 0x7A
const ANALOG_MESSAGE = 0xE0
const REPORT_ANALOG = 0xC0
const PIN_MODE = 0xF4

const PINS = 20
const FIRST_ANALOG_PIN = 14
const FIRMWARE = 'EmulatedFirmata.ino'

/** Data bytes following each command byte (upper nibble for channel messages). */
function dataLength (cmd: number): number {
  if (cmd === REPORT_VERSION || cmd === 0xFF) return 0
  if (cmd === PIN_MODE || cmd === 0xF5) return 2
  const hi = cmd & 0xF0
  if (hi === REPORT_ANALOG || hi === 0xD0) return 1
  if (hi === ANALOG_MESSAGE || hi === 0x90) return 2
  return 0
}

export class FirmataEmulator {
  readonly port: SerialPort
  /** analog value (0–1023) of channel `ch` at time `ms` since start */
  analog: (ch: number, ms: number) => number = () => 512
  samplingMs = 19
  readonly reporting = new Set<number>()
  readonly pinModes = new Map<number, number>()
  /** analog reports sent (per channel) */
  readonly sent = new Map<number, number>()
  #buf: number[] = []
  #timer: NodeJS.Timeout | undefined
  readonly #start = Date.now()

  private constructor (port: SerialPort) { this.port = port }

  /** Open the board's end of a pty pair and announce the firmware, as a reset board does. */
  static async open (path: string): Promise<FirmataEmulator> {
    const port = new SerialPort({ path, baudRate: 57600, autoOpen: false })
    await new Promise<void>((resolve, reject) => { port.open((e) => { if (e != null) reject(e); else resolve() }) })
    const emu = new FirmataEmulator(port)
    port.on('data', (chunk: Buffer) => { emu.#receive(chunk) })
    port.on('error', () => {})
    emu.#sendVersion()
    emu.#sendFirmware()
    emu.#schedule()
    return emu
  }

  #write (bytes: number[]): void {
    if (this.port.isOpen) this.port.write(Buffer.from(bytes))
  }

  #sendVersion (): void { this.#write([REPORT_VERSION, 2, 5]) }

  #sendFirmware (): void {
    const name: number[] = []
    for (const c of Buffer.from(FIRMWARE, 'ascii')) name.push(c & 0x7F, c >> 7)
    this.#write([START_SYSEX, QUERY_FIRMWARE, 2, 5, ...name, END_SYSEX])
  }

  #receive (chunk: Buffer): void {
    for (const b of chunk) {
      const buf = this.#buf
      if (buf.length === 0 && (b & 0x80) === 0) continue // stray data byte
      if (b & 0x80 && b !== END_SYSEX && buf[0] !== START_SYSEX) buf.length = 0
      buf.push(b)
      if (buf[0] === START_SYSEX) {
        if (b === END_SYSEX) { this.#sysex(buf.slice(1, -1)); buf.length = 0 }
        continue
      }
      if (buf.length === 1 + dataLength(buf[0]!)) { this.#command(buf.slice()); buf.length = 0 }
    }
  }

  #command (m: number[]): void {
    const cmd = m[0]!
    if (cmd === REPORT_VERSION) { this.#sendVersion(); return }
    if (cmd === PIN_MODE) { this.pinModes.set(m[1]!, m[2]!); return }
    if ((cmd & 0xF0) === REPORT_ANALOG) {
      if (m[1] === 1) this.reporting.add(cmd & 0x0F)
      else this.reporting.delete(cmd & 0x0F)
    }
  }

  #sysex (m: number[]): void {
    switch (m[0]) {
      case QUERY_FIRMWARE: this.#sendFirmware(); break
      case CAPABILITY_QUERY: {
        const out = [START_SYSEX, CAPABILITY_RESPONSE]
        for (let pin = 0; pin < PINS; pin++) {
          out.push(0, 1, 1, 1) // INPUT, OUTPUT
          if (pin >= FIRST_ANALOG_PIN) out.push(2, 10) // ANALOG, 10 bits
          out.push(0x7F)
        }
        out.push(END_SYSEX)
        this.#write(out)
        break
      }
      case ANALOG_MAPPING_QUERY: {
        const out = [START_SYSEX, ANALOG_MAPPING_RESPONSE]
        for (let pin = 0; pin < PINS; pin++) out.push(pin >= FIRST_ANALOG_PIN ? pin - FIRST_ANALOG_PIN : 0x7F)
        out.push(END_SYSEX)
        this.#write(out)
        break
      }
      case PIN_STATE_QUERY: {
        const pin = m[1]!
        this.#write([START_SYSEX, PIN_STATE_RESPONSE, pin, this.pinModes.get(pin) ?? 0, 0, END_SYSEX])
        break
      }
      case SAMPLING_INTERVAL:
        this.samplingMs = Math.max(1, m[1]! | (m[2]! << 7))
        this.#schedule()
        break
      default:
    }
  }

  #schedule (): void {
    if (this.#timer !== undefined) clearInterval(this.#timer)
    this.#timer = setInterval(() => {
      const ms = Date.now() - this.#start
      for (const ch of this.reporting) {
        const v = Math.max(0, Math.min(1023, Math.round(this.analog(ch, ms))))
        this.#write([ANALOG_MESSAGE | ch, v & 0x7F, (v >> 7) & 0x7F])
        this.sent.set(ch, (this.sent.get(ch) ?? 0) + 1)
      }
    }, this.samplingMs)
  }

  async close (): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer)
    if (this.port.isOpen) await new Promise<void>((resolve) => { this.port.close(() => { resolve() }) })
  }
}
