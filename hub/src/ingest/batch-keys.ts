/**
 * Per-batch data keys for the readings the hub keeps at rest, and their
 * destruction (crypto-shredding; paper §V-A: health data must not leak from
 * the user node). LevelDB keeps deleted values in its log and tables until a
 * compaction rewrites them, so deleting a confirmed batch's rows does not
 * remove its plaintext from the disk. Every reading and batch row is instead
 * AES-256-GCM under its batch's data key, and that key is destroyed once the
 * batch is confirmed: whatever bytes LevelDB still holds then never decrypt.
 *
 * The keys live in their own small file, `<dataDir>/batch-keys`, so that
 * destroying one is an overwrite in place, not a delete:
 *
 *   header (64 B)  "HCBKEYS1" ‖ salt (16) ‖ check (32) ‖ 0 (8)
 *   slot  (128 B)  id (8, never 0) ‖ nonce (12) ‖ AES-256-GCM(wrap, nonce, aad = salt ‖ id, key) (48) ‖ 0 (60)
 *
 * wrap and check come from HKDF-SHA256 over a secret of the hub's identity
 * (batchKeySecret: only a hub that unlocked its passphrase-protected keystore
 * has it) with the file's salt; check tells a file made under another
 * identity from a damaged one. A key is created by writing its slot and
 * fdatasync before it is used; it is destroyed by overwriting its slot with
 * zeros and fdatasync. Freed slots are reused, so the file stays as small as
 * the number of batches open at once. Slots are 128-byte aligned, so a slot
 * never straddles a 512-byte sector.
 *
 * What this does not cover (README, design notes): a copy-on-write or
 * snapshotting filesystem, or an SSD's flash translation layer, may keep the
 * old slot bytes elsewhere; the wrap key is derived from the identity, so
 * anyone holding the keystore and its passphrase together with an old copy
 * of this file and of the ingest store can still read.
 */
import { open, stat, type FileHandle } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { createCipheriv, createDecipheriv, createSecretKey, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto'
import { aesGcmDecrypt, aesGcmEncrypt, concatBytes, DecryptionError, equalBytes, hkdfSha256, selfSecret, utf8Bytes, type Identity } from '../core/index.ts'
import { writeFileAtomic } from '../store/keystore.ts'
import { BatchKeyDamagedError, BatchKeyGoneError, BatchKeysFormatError, BatchKeysWrongSecretError, SealedRowError } from './batch-errors.ts'

const MAGIC = utf8Bytes('HCBKEYS1')
const HEADER = 64
const SLOT = 128
const ID = 8
const NONCE = 12
const WRAPPED = 48

/**
 * The secret the batch keys are wrapped under: X25519 of the identity's own
 * agreement key with its public key, through HKDF. Only the holder of the
 * identity's private key (the unlocked keystore) can compute it.
 */
export function batchKeySecret (who: Identity): Uint8Array {
  return selfSecret(who, 'healthchain/batch-keys/secret/v1')
}

/** The hub's batch key file. */
export const batchKeysPath = (dataDir: string): string => join(dataDir, 'batch-keys')

/** Opens the hub's batch key file under its identity. */
export async function openBatchKeys (dataDir: string, who: Identity, opts: { sync?: boolean } = {}): Promise<BatchKeys> {
  return await BatchKeys.open(batchKeysPath(dataDir), batchKeySecret(who), opts)
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

/** key: null when present but not authenticating; cipher: the same key imported once for node:crypto */
interface Slot { readonly index: number, readonly key: Uint8Array | null, readonly cipher: KeyObject | null }

export class BatchKeys {
  readonly file: string
  readonly #fh: FileHandle
  readonly #salt: Uint8Array
  readonly #wrap: Uint8Array
  readonly #sync: boolean
  /** live keys (null: present but does not authenticate) by id (16 hex digits) */
  readonly #slots = new Map<string, Slot>()
  readonly #free: number[] = []
  #count: number
  #running: Promise<void> = Promise.resolve()
  #queued: Promise<void> | null = null

  private constructor (file: string, fh: FileHandle, salt: Uint8Array, wrap: Uint8Array, count: number, sync: boolean) {
    this.file = file
    this.#fh = fh
    this.#salt = salt
    this.#wrap = wrap
    this.#count = count
    this.#sync = sync
  }

  /**
   * Opens (creating) the key file. `secret`: batchKeySecret(identity).
   * `sync` (default true) fdatasyncs every change before it resolves.
   */
  static async open (file: string, secret: Uint8Array, opts: { sync?: boolean } = {}): Promise<BatchKeys> {
    const exists = await stat(file).then(() => true, (err: NodeJS.ErrnoException) => { if (err.code === 'ENOENT') return false; throw err })
    if (!exists) {
      const salt = new Uint8Array(randomBytes(16))
      const header = new Uint8Array(HEADER)
      header.set(MAGIC, 0)
      header.set(salt, 8)
      header.set(derive(secret, salt).check, 24)
      await writeFileAtomic(file, header)
      await syncDir(dirname(file))
    }
    const fh = await open(file, 'r+')
    try {
      const bytes = new Uint8Array(await fh.readFile())
      if (bytes.length < HEADER || !equalBytes(bytes.subarray(0, 8), MAGIC)) throw new BatchKeysFormatError(file, 'not a batch key file')
      const salt = bytes.slice(8, 24)
      const { wrap, check } = derive(secret, salt)
      if (!timingSafeEqual(bytes.subarray(24, 56), check)) throw new BatchKeysWrongSecretError(file)
      // a slot cut short by a crash while it was appended held no key in use yet: it is reused as free
      const count = Math.ceil((bytes.length - HEADER) / SLOT)
      const keys = new BatchKeys(file, fh, salt, wrap, count, opts.sync ?? true)
      const scrub: number[] = []
      for (let i = 0; i < count; i++) {
        const s = bytes.subarray(HEADER + i * SLOT, HEADER + (i + 1) * SLOT)
        const id = s.subarray(0, ID)
        if (s.length < SLOT || id.every((b) => b === 0)) {
          keys.#free.push(i)
          // residue of an overwrite a crash cut short
          if (s.some((b) => b !== 0)) scrub.push(i)
          continue
        }
        let key: Uint8Array | null = null
        try {
          key = aesGcmDecrypt(wrap, s.subarray(ID, ID + NONCE), s.subarray(ID + NONCE, ID + NONCE + WRAPPED), concatBytes(salt, id))
        } catch (err) { if (!(err instanceof DecryptionError)) throw err }
        keys.#slots.set(hex(id), { index: i, key, cipher: key === null ? null : createSecretKey(key) })
      }
      if (scrub.length > 0) await keys.#zero(scrub)
      return keys
    } catch (err) {
      await fh.close()
      throw err
    }
  }

  /** A fresh data key, durable in the file when this resolves; returns its id. */
  async create (): Promise<string> {
    const key = new Uint8Array(randomBytes(32))
    let id: Uint8Array
    do id = new Uint8Array(randomBytes(ID)); while (id.every((b) => b === 0) || this.#slots.has(hex(id)))
    const index = this.#free.shift() ?? this.#count++
    const slot = new Uint8Array(SLOT)
    const nonce = new Uint8Array(randomBytes(NONCE))
    slot.set(id, 0)
    slot.set(nonce, ID)
    slot.set(aesGcmEncrypt(this.#wrap, nonce, key, concatBytes(this.#salt, id)), ID + NONCE)
    const name = hex(id)
    this.#slots.set(name, { index, key, cipher: createSecretKey(key) })
    try {
      await this.#fh.write(slot, 0, SLOT, HEADER + index * SLOT)
      await this.#datasync()
    } catch (err) {
      this.#slots.delete(name)
      throw err
    }
    return name
  }

  /** The key's bytes. Throws BatchKeyGoneError (destroyed, never made) or BatchKeyDamagedError. */
  key (id: string): Uint8Array {
    const s = this.#slots.get(id)
    if (s === undefined) throw new BatchKeyGoneError(id)
    if (s.key === null) throw new BatchKeyDamagedError(this.file, id)
    return s.key
  }

  /** The key imported for node:crypto (one import per key, not per row). */
  #cipher (id: string): KeyObject {
    const c = this.#slots.get(id)?.cipher
    if (c == null) this.key(id)
    return c!
  }

  has (id: string): boolean { return this.#slots.has(id) }

  /** Ids of every key in the file (damaged ones included). */
  ids (): string[] { return [...this.#slots.keys()] }

  /** Overwrites the keys' slots with zeros (fdatasync); resolves once they are gone from the file. */
  async destroy (ids: Iterable<string>): Promise<number> {
    const idx: number[] = []
    for (const id of ids) {
      const s = this.#slots.get(id)
      if (s === undefined) continue
      this.#slots.delete(id)
      s.key?.fill(0)
      idx.push(s.index)
    }
    if (idx.length === 0) return 0
    await this.#zero(idx)
    this.#free.push(...idx)
    return idx.length
  }

  /** Destroys every key not in `keep` (those no stored row names any more). */
  async retain (keep: ReadonlySet<string>): Promise<number> {
    return await this.destroy(this.ids().filter((id) => !keep.has(id)))
  }

  async #zero (idx: readonly number[]): Promise<void> {
    const zero = new Uint8Array(SLOT)
    for (const i of idx) await this.#fh.write(zero, 0, SLOT, HEADER + i * SLOT)
    await this.#datasync()
  }

  /** One fdatasync for every write made before it starts (writes while one runs share the next). */
  #datasync (): Promise<void> {
    if (!this.#sync) return Promise.resolve()
    if (this.#queued === null) {
      this.#queued = (async () => {
        await this.#running
        this.#queued = null
        const p = this.#fh.datasync()
        this.#running = p.catch(() => {})
        await p
      })()
    }
    return this.#queued
  }

  /**
   * A row's value sealed under the key `ids[0]` with a fresh random nonce:
   * `{"k":[ids],"c":base64(nonce ‖ AES-256-GCM(row ‖ 0 ‖ plaintext))}`. The
   * row's LevelDB key is sealed with it, so a value moved to another row
   * does not open there. `ids` lists every batch key the row stands for (a
   * batch row names the keys of its readings).
   */
  seal (ids: readonly string[], row: string, plaintext: string): string {
    // node:crypto's native AES-GCM: rows are read back on every status and retry scan; the box is core's sealBox format
    const nonce = this.#nonce()
    const c = createCipheriv('aes-256-gcm', this.#cipher(ids[0]!), nonce)
    const box = Buffer.concat([nonce, c.update(`${row}\0${plaintext}`, 'utf8'), c.final(), c.getAuthTag()])
    return JSON.stringify({ k: ids, c: box.toString('base64') })
  }

  #pool = Buffer.alloc(0)
  #poolAt = 0
  /**
   * A fresh random 96-bit nonce (NIST SP 800-38D §8.2.2: random nonces),
   * drawn from the CSPRNG 4 KiB at a time: one draw per reading cost as much
   * as its encryption. Nonces are public; the pool holds nothing secret.
   */
  #nonce (): Buffer {
    if (this.#poolAt + NONCE > this.#pool.length) { this.#pool = randomBytes(NONCE * 341); this.#poolAt = 0 }
    return this.#pool.subarray(this.#poolAt, (this.#poolAt += NONCE))
  }

  /** The plaintext of a row sealed by `seal`. */
  open (row: string, value: string): string {
    const env = sealedRow(row, value)
    if (env === null) throw new SealedRowError(row, 'not sealed')
    const key = this.#cipher(env.k[0]!)
    const box = Buffer.from(env.c, 'base64')
    if (box.length < NONCE + 16) throw new SealedRowError(row, 'too short')
    let text: string
    try {
      const d = createDecipheriv('aes-256-gcm', key, box.subarray(0, NONCE))
      d.setAuthTag(box.subarray(box.length - 16))
      text = d.update(box.subarray(NONCE, box.length - 16), undefined, 'utf8') + d.final('utf8')
    } catch {
      throw new SealedRowError(row, 'does not authenticate under its batch key (altered)')
    }
    const cut = text.indexOf('\0')
    if (text.slice(0, cut) !== row) throw new SealedRowError(row, 'sealed for another row (moved)')
    return text.slice(cut + 1)
  }

  async close (): Promise<void> {
    await this.#queued
    await this.#running
    for (const s of this.#slots.values()) s.key?.fill(0)
    this.#slots.clear()
    await this.#fh.close()
  }
}

/** A sealed row's envelope, or null for a plaintext row (an ingest store opened without batch keys). */
export function sealedRow (row: string, value: string): { readonly k: readonly string[], readonly c: string } | null {
  if (!value.startsWith('{"k":')) return null
  let env: { k?: unknown, c?: unknown }
  try { env = JSON.parse(value) as typeof env } catch { throw new SealedRowError(row, 'not JSON') }
  if (!Array.isArray(env.k) || env.k.length === 0 || !env.k.every((k) => typeof k === 'string' && /^[0-9a-f]{16}$/.test(k)) || typeof env.c !== 'string') {
    throw new SealedRowError(row, 'malformed envelope')
  }
  return { k: env.k as string[], c: env.c }
}

function derive (secret: Uint8Array, salt: Uint8Array): { wrap: Uint8Array, check: Uint8Array } {
  return {
    wrap: hkdfSha256(secret, salt, utf8Bytes('healthchain/batch-keys/wrap/v1'), 32),
    check: hkdfSha256(secret, salt, utf8Bytes('healthchain/batch-keys/check/v1'), 32)
  }
}

async function syncDir (dir: string): Promise<void> {
  const fh = await open(dir, 'r')
  try { await fh.sync() } finally { await fh.close() }
}
