/**
 * Virtual sensor chips for the virtual Espruino board, driven by a
 * PatientModel: what the board's I2C, OneWire and ADC see.
 * - MAX30102 pulse oximeter (Maxim 19-7740): register file, 32-sample FIFO
 *   filled at 50 samples/s (SPO2_CONFIG SR=000), 6 bytes per sample.
 * - MPU-6050 (InvenSense RM-MPU-6000A): ACCEL_XOUT_H.. at 0x3B, ±4 g.
 * - DS18B20 (Maxim 19-7487): CONVERT T 0x44, READ SCRATCHPAD 0xBE with the
 *   Dallas CRC-8 in byte 8.
 */
import type { PatientModel } from '../sensors/models.ts'

/** Seconds since the model started. */
export type Clock = () => number

export interface I2CChip {
  write (bytes: number[]): void
  read (count: number): number[]
}

export class Max30102 implements I2CChip {
  static readonly ADDRESS = 0x57
  static readonly HZ = 50
  readonly regs = new Uint8Array(256)
  readonly #model: PatientModel
  readonly #clock: Clock
  #pointer = 0
  #fifo: number[][] = []
  #produced = 0
  #start = 0

  constructor (model: PatientModel, clock: Clock) {
    this.#model = model
    this.#clock = clock
    this.regs[0xFF] = 0x15 // part id
    this.#start = clock()
  }

  #fill (): void {
    const due = Math.floor((this.#clock() - this.#start) * Max30102.HZ)
    while (this.#produced < due) {
      const t = this.#start + this.#produced / Max30102.HZ
      const { red, ir } = this.#model.oximeterCounts(t)
      this.#fifo.push([(red >> 16) & 3, (red >> 8) & 255, red & 255, (ir >> 16) & 3, (ir >> 8) & 255, ir & 255])
      if (this.#fifo.length > 31) this.#fifo.shift() // overflow: oldest lost
      this.#produced++
    }
    this.regs[0x06] = 0
    this.regs[0x04] = this.#fifo.length
  }

  write (bytes: number[]): void {
    if (bytes.length === 0) return
    this.#pointer = bytes[0]!
    for (let i = 1; i < bytes.length; i++) {
      const reg = this.#pointer
      this.regs[reg] = bytes[i]!
      if (reg === 0x09 && (bytes[i]! & 0x40) !== 0) { this.#fifo = []; this.regs[0x09] = 0 }
      if (reg === 0x04) { this.#fifo = []; this.#start = this.#clock(); this.#produced = 0 }
      this.#pointer = (reg + 1) & 255
    }
  }

  read (count: number): number[] {
    this.#fill()
    if (this.#pointer === 0x07) {
      const out: number[] = []
      while (out.length < count) {
        const s = this.#fifo.shift()
        if (s === undefined) out.push(0)
        else out.push(...s)
      }
      return out.slice(0, count)
    }
    const out: number[] = []
    for (let i = 0; i < count; i++) out.push(this.regs[(this.#pointer + i) & 255]!)
    return out
  }
}

export class Mpu6050 implements I2CChip {
  static readonly ADDRESS = 0x68
  readonly regs = new Uint8Array(128)
  readonly #model: PatientModel
  readonly #clock: Clock
  #pointer = 0

  constructor (model: PatientModel, clock: Clock) {
    this.#model = model
    this.#clock = clock
    this.regs[0x75] = 0x68 // WHO_AM_I
    this.regs[0x6B] = 0x40 // asleep after power-on
  }

  write (bytes: number[]): void {
    if (bytes.length === 0) return
    this.#pointer = bytes[0]!
    for (let i = 1; i < bytes.length; i++) this.regs[this.#pointer++ & 127] = bytes[i]!
  }

  read (count: number): number[] {
    const lsbPerG = 16384 >> ((this.regs[0x1C]! >> 3) & 3)
    const awake = (this.regs[0x6B]! & 0x40) === 0
    const a = awake ? this.#model.accel(this.#clock()) : [0, 0, 0]
    const live = new Uint8Array(this.regs)
    for (let k = 0; k < 3; k++) {
      const v = Math.max(-32768, Math.min(32767, Math.round(a[k]! * lsbPerG))) & 0xFFFF
      live[0x3B + 2 * k] = v >> 8
      live[0x3C + 2 * k] = v & 255
    }
    const out: number[] = []
    for (let i = 0; i < count; i++) out.push(live[(this.#pointer + i) & 127]!)
    this.#pointer = (this.#pointer + count) & 127
    return out
  }
}

/** Dallas/Maxim CRC-8 (the one DS18B20 scratchpads carry). */
export function dallasCrc8 (bytes: ArrayLike<number>): number {
  let crc = 0
  for (let i = 0; i < bytes.length; i++) {
    let b = bytes[i]!
    for (let j = 0; j < 8; j++) {
      const mix = (crc ^ b) & 1
      crc >>= 1
      if (mix !== 0) crc ^= 0x8C
      b >>= 1
    }
  }
  return crc
}

export class Ds18b20 {
  static readonly ROM = '28ff641e0c160389'
  readonly #model: PatientModel
  readonly #clock: Clock
  #raw = 0x0550 // 85 °C: the power-on value before any conversion
  #out: number[] = []
  #skipped = false

  constructor (model: PatientModel, clock: Clock) {
    this.#model = model
    this.#clock = clock
  }

  reset (): boolean { this.#skipped = false; this.#out = []; return true }
  skip (): void { this.#skipped = true }
  select (): void { this.#skipped = true }

  command (cmd: number): void {
    if (!this.#skipped) return
    if (cmd === 0x44) this.#raw = Math.round(this.#model.temperature(this.#clock()) * 16) & 0xFFFF
    else if (cmd === 0xBE) {
      const pad = [this.#raw & 255, this.#raw >> 8, 0x4B, 0x46, 0x7F, 0xFF, 0x0C, 0x10]
      this.#out = [...pad, dallasCrc8(pad)]
    }
  }

  readByte (): number {
    return this.#out.shift() ?? 0xFF
  }
}
