/**
 * The device registry (paper §III-A: each IoT device has one user node as
 * its manager; §III-B: the device → user-node channel is authenticated).
 * A device is paired with `healthchain devices add`: it gets a random
 * secret (its MQTT password), shown once; the store keeps only a salted
 * SHA-256 of it (the secret has 192 bits of entropy, so a slow KDF adds
 * nothing). Counters (accepted, dropped by reason, last seen) live in
 * memory and are written back by `persist()` (the pipeline does so every
 * second and on close).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { sha256, toHex, utf8Bytes, concatBytes, fromHex } from '../core/index.ts'
import { BadFieldError, DeviceExistsError, UnknownDeviceError } from './errors.ts'
import { DEVICE_ID_RE, SENSOR_UNITS } from './line.ts'
import type { SensorType } from './line.ts'
import type { IngestStore, Op } from './store.ts'
import { keys } from './store.ts'

export interface DeviceRecord {
  id: string
  /** the user (hex Ed25519 id, or a local name) whose batches get this device's readings */
  user: string
  sensors: SensorType[]
  /** hex salt and salted SHA-256 of the secret */
  salt: string
  secretHash: string
  createdAt: number
  lastSeen: number | null
  accepted: number
  /** dropped or refused lines by error code (ERR_LINE_CHECKSUM, ERR_REPLAY, ERR_ACL, ERR_AUTH, …) */
  dropped: Record<string, number>
}

export type PublicDevice = Omit<DeviceRecord, 'salt' | 'secretHash'>

function hashSecret (salt: Uint8Array, secret: string): Uint8Array {
  return sha256(concatBytes(salt, utf8Bytes(secret)))
}

export class DeviceRegistry {
  readonly #store: IngestStore
  readonly #devices = new Map<string, DeviceRecord>()
  readonly #dirty = new Set<string>()

  private constructor (store: IngestStore) { this.#store = store }

  static async load (store: IngestStore): Promise<DeviceRegistry> {
    const reg = new DeviceRegistry(store)
    for await (const [, d] of store.scan<DeviceRecord>('dev!')) reg.#devices.set(d.id, d)
    return reg
  }

  /** Pair a device; returns its record and the secret (shown once). */
  async add (id: string, opts: { user: string, sensors: SensorType[], secret?: string, now?: number }): Promise<{ device: PublicDevice, secret: string }> {
    if (!DEVICE_ID_RE.test(id)) throw new BadFieldError('d', 'device id must match [a-z0-9-]{1,32}')
    if (this.#devices.has(id)) throw new DeviceExistsError(id)
    if (opts.user === '' || opts.user.includes('!')) throw new BadFieldError('user', 'user must be non-empty and without "!"')
    if (opts.sensors.length === 0) throw new BadFieldError('sensors', 'list the sensor types the device carries (readings of other types are refused)')
    for (const s of opts.sensors) if (!Object.hasOwn(SENSOR_UNITS, s)) throw new BadFieldError('t', `unknown sensor type ${JSON.stringify(s)}`)
    const secret = opts.secret ?? randomBytes(24).toString('base64url')
    const salt = randomBytes(16)
    const d: DeviceRecord = {
      id,
      user: opts.user,
      sensors: [...opts.sensors],
      salt: toHex(salt),
      secretHash: toHex(hashSecret(salt, secret)),
      createdAt: opts.now ?? Date.now(),
      lastSeen: null,
      accepted: 0,
      dropped: {}
    }
    await this.#store.write([{ type: 'put', key: keys.device(id), value: JSON.stringify(d) }])
    this.#devices.set(id, d)
    return { device: publicView(d), secret }
  }

  async remove (id: string): Promise<void> {
    if (!this.#devices.has(id)) throw new UnknownDeviceError(id)
    this.#devices.delete(id)
    this.#dirty.delete(id)
    await this.#store.write([{ type: 'del', key: keys.device(id) }])
  }

  get (id: string): DeviceRecord | undefined { return this.#devices.get(id) }

  list (): PublicDevice[] { return [...this.#devices.values()].sort((a, b) => a.id < b.id ? -1 : 1).map(publicView) }

  /** True when `secret` is the device's secret (constant time). */
  authenticate (id: string, secret: string | Uint8Array | undefined): boolean {
    const d = this.#devices.get(id)
    if (d === undefined || secret === undefined) return false
    const s = typeof secret === 'string' ? secret : new TextDecoder().decode(secret)
    return timingSafeEqual(hashSecret(fromHex('salt', d.salt), s), fromHex('secretHash', d.secretHash))
  }

  noteAccepted (id: string, now: number): void {
    const d = this.#devices.get(id)
    if (d === undefined) return
    d.accepted++
    d.lastSeen = now
    this.#dirty.add(id)
  }

  noteDropped (id: string, code: string): void {
    const d = this.#devices.get(id)
    if (d === undefined) return
    d.dropped[code] = (d.dropped[code] ?? 0) + 1
    this.#dirty.add(id)
  }

  /** Ops writing back changed counters (empty when nothing changed). */
  persistOps (): Op[] {
    const ops: Op[] = []
    for (const id of this.#dirty) {
      const d = this.#devices.get(id)
      if (d !== undefined) ops.push({ type: 'put', key: keys.device(id), value: JSON.stringify(d) })
    }
    this.#dirty.clear()
    return ops
  }

  async persist (): Promise<void> {
    const ops = this.persistOps()
    if (ops.length > 0) await this.#store.write(ops)
  }
}

function publicView (d: DeviceRecord): PublicDevice {
  const { salt: _s, secretHash: _h, ...rest } = d
  return { ...rest, dropped: { ...rest.dropped }, sensors: [...rest.sensors] }
}
