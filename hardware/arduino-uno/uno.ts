/**
 * An Arduino Uno (ATmega328P at 16 MHz) in avr8js running real firmware —
 * here StandardFirmata (hardware/firmware) — with the peripherals it needs:
 * CPU, timers 0–2, USART0, ADC and ports B–D (DESIGN §7). Its analog inputs
 * are fed by a PatientModel: A0 a TMP36 skin-temperature sensor
 * (Analog Devices TMP36: 0.5 V + 10 mV/°C), A1 an AD8232 ECG module (see
 * models.ts), A2 a pulse sensor (the PPG, 1.65 V ± 1 V).
 *
 * Simulated time is CPU cycles / 16 MHz; the run loop executes in slices
 * and never gets ahead of the wall clock, so a loaded machine slows the
 * Uno down but never changes what the firmware computes.
 */
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  AVRADC, AVRIOPort, AVRTimer, AVRUSART, CPU, adcConfig, avrInstruction,
  portBConfig, portCConfig, portDConfig, timer0Config, timer1Config, timer2Config, usart0Config
} from 'avr8js'
import type { ADCMuxInput } from 'avr8js'
import { PatientModel } from '../sensors/models.ts'

export const FREQ_HZ = 16_000_000
export const FIRMATA_HEX = join(dirname(fileURLToPath(import.meta.url)), '..', 'firmware', 'StandardFirmata.uno.hex')

/** Intel HEX → flash image (data records and segment/linear address records). */
export function parseIntelHex (text: string, size = 0x8000): Uint8Array {
  const flash = new Uint8Array(size)
  let base = 0
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim()
    if (line === '') continue
    if (!line.startsWith(':')) throw new Error(`not Intel HEX: ${line.slice(0, 20)}`)
    const bytes = Buffer.from(line.slice(1), 'hex')
    const count = bytes[0]!
    const addr = (bytes[1]! << 8) | bytes[2]!
    const type = bytes[3]!
    let sum = 0
    for (const b of bytes) sum = (sum + b) & 255
    if (sum !== 0 || bytes.length !== count + 5) throw new Error(`bad Intel HEX record: ${line}`)
    if (type === 0) flash.set(bytes.subarray(4, 4 + count), base + addr)
    else if (type === 1) break
    else if (type === 2) base = ((bytes[4]! << 8) | bytes[5]!) << 4
    else if (type === 4) base = ((bytes[4]! << 8) | bytes[5]!) << 16
  }
  return flash
}

/** Volts on the Uno's analog pins at model time t. */
export function analogVolts (model: PatientModel, channel: number, t: number): number {
  switch (channel) {
    case 0: return 0.5 + 0.01 * model.temperature(t)
    case 1: return model.ad8232Volts(t)
    case 2: return 1.65 + model.ppg(t) * 1.25
    default: return 0
  }
}

/** ADC counts (10-bit, AVCC = 5 V reference) the firmware reads for `volts`. */
export function adcCounts (volts: number): number {
  return Math.max(0, Math.min(1023, Math.floor(volts / 5 * 1024)))
}

export class ArduinoUno {
  readonly cpu: CPU
  readonly usart: AVRUSART
  readonly adc: AVRADC
  readonly timers: AVRTimer[]
  readonly ports: AVRIOPort[]
  readonly model: PatientModel
  /** every conversion the firmware made: [model time, channel, counts] (last 4096) */
  readonly conversions: Array<[number, number, number]> = []
  #rx: number[] = []
  #running = false
  #timer: NodeJS.Timeout | undefined
  #wallStart = 0
  #cycleStart = 0

  constructor (hex: string, model: PatientModel, onByte: (b: number) => void) {
    const flash = parseIntelHex(hex)
    this.cpu = new CPU(new Uint16Array(flash.buffer))
    this.model = model
    this.timers = [timer0Config, timer1Config, timer2Config].map(c => new AVRTimer(this.cpu, c))
    this.ports = [portBConfig, portCConfig, portDConfig].map(c => new AVRIOPort(this.cpu, c))
    this.usart = new AVRUSART(this.cpu, usart0Config, FREQ_HZ)
    this.usart.onByteTransmit = onByte
    this.usart.onRxComplete = () => { this.#feed() }
    this.adc = new AVRADC(this.cpu, adcConfig)
    this.adc.onADCRead = (input: ADCMuxInput) => {
      const channel = input.type === 0 ? input.channel : -1 // ADCMuxInputType.SingleEnded
      const t = this.seconds
      const counts = channel >= 0 ? adcCounts(analogVolts(this.model, channel, t)) : 0
      this.conversions.push([t, channel, counts])
      if (this.conversions.length > 4096) this.conversions.shift()
      this.cpu.addClockEvent(() => this.adc.completeADCRead(counts), this.adc.sampleCycles)
    }
  }

  /** Simulated seconds since reset. */
  get seconds (): number { return this.cpu.cycles / FREQ_HZ }

  /** Bytes from the host into USART0's receiver. */
  receive (data: ArrayLike<number>): void {
    for (let i = 0; i < data.length; i++) this.#rx.push(data[i]!)
    this.#feed()
  }

  #feed (): void {
    if (this.#rx.length > 0 && !this.usart.rxBusy && this.usart.rxEnable) {
      this.usart.writeByte(this.#rx.shift()!)
    }
  }

  /** Run in slices on the event loop, never ahead of the wall clock. */
  start (): void {
    if (this.#running) return
    this.#running = true
    this.#wallStart = performance.now()
    this.#cycleStart = this.cpu.cycles
    const slice = (): void => {
      if (!this.#running) return
      const due = this.#cycleStart + (performance.now() - this.#wallStart) * (FREQ_HZ / 1000)
      const stop = Math.min(due, this.cpu.cycles + FREQ_HZ / 100) // at most 10 ms of CPU per slice
      while (this.cpu.cycles < stop) {
        avrInstruction(this.cpu)
        this.cpu.tick()
      }
      this.#feed()
      this.#timer = setTimeout(slice, this.cpu.cycles >= due ? 2 : 0)
    }
    slice()
  }

  stop (): void {
    this.#running = false
    clearTimeout(this.#timer)
  }
}

/** An Uno running StandardFirmata. */
export function standardFirmataUno (model: PatientModel, onByte: (b: number) => void): ArduinoUno {
  return new ArduinoUno(readFileSync(FIRMATA_HEX, 'utf8'), model, onByte)
}
