/**
 * Firmata ingest (DESIGN §7): Arduino boards running StandardFirmata, read
 * with johnny-five through `firmata-io` over our own serialport 13
 * (johnny-five's and firmata's own serialport dependencies would pull old
 * native builds; package.json overrides make them share ours, and we hand
 * johnny-five a ready firmata-io board). Each configured analog pin is
 * sampled at `rateMs` and mapped linearly from the 10-bit ADC range to the
 * sensor's unit; every sample becomes a Reading of the registered device
 * (a new boot id per connection, seq +1 per sample) and goes through the
 * same pipeline as serial and MQTT lines.
 */
import type { SerialPort } from 'serialport'
import { BadFieldError } from './errors.ts'
import { connectFirmata, five, type FiveSensor } from './firmata-board.ts'
import { SENSOR_UNITS } from './line.ts'
import type { Reading, SensorType } from './line.ts'
import type { Ingest, SubmitResult } from './pipeline.ts'

export interface AnalogChannel {
  /** johnny-five pin name, e.g. "A0" */
  pin: string
  type: Exclude<SensorType, 'bp' | 'ecg' | 'fall'>
  /** value at ADC 0 and at ADC 1023 (linear) */
  range: [number, number]
  /** decimals kept (default 1) */
  decimals?: number
}

export interface FirmataSourceOptions {
  path: string
  /** the registered device id this board reports as */
  device: string
  channels: AnalogChannel[]
  /** sampling period in ms (Firmata sampling interval and johnny-five sensor freq; default 1000) */
  rateMs?: number
  baudRate?: number
  /** wait this long for the board's spontaneous version report before asking (default 1000 ms) */
  reportVersionTimeoutMs?: number
  /** give up connecting after this long (default 30 s) */
  timeoutMs?: number
}

/** The value of an ADC reading (0–1023) mapped to [lo, hi] with `decimals`. */
export function scaleAdc (raw: number, range: [number, number], decimals = 1): number {
  const v = range[0] + (range[1] - range[0]) * raw / 1023
  const f = 10 ** decimals
  return Math.round(v * f) / f
}

export class FirmataSource {
  readonly ingest: Ingest
  readonly opts: FirmataSourceOptions
  readonly boot: number
  readonly results: SubmitResult[] = []
  samples = 0
  #seq = 0
  #port: SerialPort | null = null
  #sensors: FiveSensor[] = []
  #start = 0
  #inflight = new Set<Promise<unknown>>()

  constructor (ingest: Ingest, opts: FirmataSourceOptions) {
    for (const c of opts.channels) {
      if (!Object.hasOwn(SENSOR_UNITS, c.type) || ['bp', 'ecg', 'fall'].includes(c.type)) throw new BadFieldError('t', `an analog channel cannot carry ${c.type}`)
    }
    this.ingest = ingest
    this.opts = opts
    this.boot = Date.now()
  }

  /** Connect, wait for johnny-five's ready, and start sampling. */
  async start (): Promise<void> {
    const conn = await connectFirmata(this.opts.path, {
      ...(this.opts.baudRate === undefined ? {} : { baudRate: this.opts.baudRate }),
      reportVersionTimeoutMs: this.opts.reportVersionTimeoutMs ?? 1000,
      ...(this.opts.timeoutMs === undefined ? {} : { timeoutMs: this.opts.timeoutMs })
    })
    this.#port = conn.port
    const board = conn.board
    const rate = this.opts.rateMs ?? 1000
    board.samplingInterval(Math.min(rate, 16383))
    this.#start = Date.now()
    for (const ch of this.opts.channels) {
      const sensor = new five.Sensor({ pin: ch.pin, freq: rate, board })
      const self = this
      sensor.on('data', function () {
        if (this.value === null || this.value === undefined) return
        self.#sample(ch, this.value)
      })
      this.#sensors.push(sensor)
    }
  }

  #sample (ch: AnalogChannel, raw: number): void {
    this.samples++
    const r: Reading = {
      device: this.opts.device,
      boot: this.boot,
      seq: this.#seq++,
      type: ch.type,
      value: scaleAdc(raw, ch.range, ch.decimals ?? 1),
      unit: SENSOR_UNITS[ch.type],
      ts: Date.now() - this.#start
    }
    const p = this.ingest.submitReading(r, { source: 'firmata', device: this.opts.device, port: this.opts.path })
      .then((res) => { this.results.push(res) }, () => {})
    this.#inflight.add(p)
    void p.finally(() => this.#inflight.delete(p))
  }

  async stop (): Promise<void> {
    for (const s of this.#sensors) s.disable()
    this.#sensors = []
    const port = this.#port
    this.#port = null
    if (port?.isOpen === true) await new Promise<void>((resolve) => { port.close(() => { resolve() }) })
    await Promise.all([...this.#inflight])
  }
}
