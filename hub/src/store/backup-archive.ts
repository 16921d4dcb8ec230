/**
 * The hub's backup archive: one file, encrypted and authenticated under a
 * passphrase (paper §V-A: health data and keys must not leak; DESIGN §2:
 * scrypt + AES-256-GCM, as the keystore), versioned, written and read as a
 * stream so a large ingest store never sits in memory at once.
 *
 *   header (64 B)  "HCBACKUP" ‖ version u8 (1) ‖ kdf u8 (1 = scrypt) ‖ log2 N u8 ‖ r u8 ‖ p u8 ‖ 0 (3)
 *                  ‖ scrypt salt (16) ‖ file salt (16) ‖ check (16)
 *   chunks         AES-256-GCM(key, nonce = counter u64 ‖ 0 (3) ‖ last u8, aad = header, plaintext ≤ 64 KiB)
 *
 * key and check come from HKDF-SHA256 over the scrypt key with the file
 * salt: `check` tells a wrong passphrase (check differs) from a damaged
 * archive (check matches, a chunk does not authenticate). Every chunk but the
 * last carries exactly 64 KiB and the last one says it is last (the STREAM
 * construction of Hoang–Reyhanitabar–Rogaway–Vizár): an archive cut at a
 * chunk boundary, chunks reordered or dropped, never authenticate. A hub
 * that writes scheduled archives derives the scrypt key once; each archive
 * draws a fresh file salt, so no (key, nonce) pair is ever used twice.
 *
 * The plaintext is a sequence of records, each a type byte and
 * length-prefixed (u32) fields:
 *   M json          the manifest (first)      F path mode bytes   a file
 *   L path          a LevelDB store begins     K key value         one of its entries
 *   Z               the end (last): anything after it, or a stream without it, is refused
 */
import { open, rename, unlink, type FileHandle } from 'node:fs/promises'
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { equalBytes, hkdfSha256, utf8Bytes } from '../core/index.ts'
import { deriveKey, DEFAULT_SCRYPT, type ScryptParams } from './keystore.ts'
import { BackupCorruptError, BackupFormatError, BackupPassphraseError } from './errors.ts'

export const BACKUP_VERSION = 1
const MAGIC = utf8Bytes('HCBACKUP')
const HEADER = 64
const CHUNK = 64 * 1024
const TAG = 16
const MAX_FIELD = 256 * 1024 * 1024

/** A passphrase's scrypt key with its salt and parameters: derived once, used for many archives. */
export interface ArchiveKey { readonly master: Uint8Array, readonly salt: Uint8Array, readonly scrypt: ScryptParams }

export async function archiveKey (passphrase: string, scrypt: ScryptParams = DEFAULT_SCRYPT, salt: Uint8Array = new Uint8Array(randomBytes(16))): Promise<ArchiveKey> {
  return { master: await deriveKey(passphrase, salt, scrypt), salt, scrypt }
}

function subKeys (master: Uint8Array, fileSalt: Uint8Array): { key: Uint8Array, check: Uint8Array } {
  return {
    key: hkdfSha256(master, fileSalt, utf8Bytes('healthchain/backup/key/v1'), 32),
    check: hkdfSha256(master, fileSalt, utf8Bytes('healthchain/backup/check/v1'), 16)
  }
}

function nonce (counter: number, last: boolean): Uint8Array {
  const n = new Uint8Array(12)
  const dv = new DataView(n.buffer)
  dv.setUint32(0, Math.floor(counter / 0x100000000))
  dv.setUint32(4, counter >>> 0)
  n[11] = last ? 1 : 0
  return n
}

export type Record =
  | { readonly type: 'M', readonly manifest: unknown }
  | { readonly type: 'F', readonly path: string, readonly mode: number, readonly data: Uint8Array }
  | { readonly type: 'L', readonly path: string }
  | { readonly type: 'K', readonly key: Uint8Array, readonly value: Uint8Array }

const TYPE = { M: 0x4d, F: 0x46, L: 0x4c, K: 0x4b, Z: 0x5a } as const

/** Writes an archive to `file` (atomically: a temporary file renamed once complete and synced; mode 0600). */
export class ArchiveWriter {
  readonly #fh: FileHandle
  readonly #tmp: string
  readonly #file: string
  readonly #key: Uint8Array
  readonly #header: Uint8Array
  #buf: Uint8Array[] = []
  #len = 0
  #counter = 0

  private constructor (fh: FileHandle, tmp: string, file: string, key: Uint8Array, header: Uint8Array) {
    this.#fh = fh; this.#tmp = tmp; this.#file = file; this.#key = key; this.#header = header
  }

  static async create (file: string, k: ArchiveKey, manifest: unknown): Promise<ArchiveWriter> {
    const fileSalt = new Uint8Array(randomBytes(16))
    const { key, check } = subKeys(k.master, fileSalt)
    const header = new Uint8Array(HEADER)
    header.set(MAGIC, 0)
    header.set([BACKUP_VERSION, 1, Math.log2(k.scrypt.N), k.scrypt.r, k.scrypt.p], 8)
    header.set(k.salt, 16)
    header.set(fileSalt, 32)
    header.set(check, 48)
    const tmp = `${file}.${process.pid}.${Date.now()}.tmp`
    const fh = await open(tmp, 'wx', 0o600)
    await fh.write(header)
    const w = new ArchiveWriter(fh, tmp, file, key, header)
    await w.#record(TYPE.M, [utf8Bytes(JSON.stringify(manifest))])
    return w
  }

  async file (path: string, mode: number, data: Uint8Array): Promise<void> {
    const m = new Uint8Array(4)
    new DataView(m.buffer).setUint32(0, mode)
    await this.#record(TYPE.F, [utf8Bytes(path), m, data])
  }

  async level (path: string): Promise<void> { await this.#record(TYPE.L, [utf8Bytes(path)]) }
  async entry (key: Uint8Array, value: Uint8Array): Promise<void> { await this.#record(TYPE.K, [key, value]) }

  /** Ends the archive: the last chunk, fsync, rename into place. */
  async finish (): Promise<void> {
    await this.#record(TYPE.Z, [])
    await this.#flush(true)
    await this.#fh.sync()
    await this.#fh.close()
    await rename(this.#tmp, this.#file)
  }

  /** Drops a half-written archive. */
  async abort (): Promise<void> {
    await this.#fh.close().catch(() => {})
    await unlink(this.#tmp).catch(() => {})
  }

  async #record (type: number, fields: Uint8Array[]): Promise<void> {
    this.#push(Uint8Array.of(type))
    for (const f of fields) {
      const len = new Uint8Array(4)
      new DataView(len.buffer).setUint32(0, f.length)
      this.#push(len)
      this.#push(f)
    }
    if (this.#len > CHUNK) await this.#flush(false)
  }

  #push (b: Uint8Array): void { this.#buf.push(b); this.#len += b.length }

  /** Seals every full chunk buffered (and, at the end, the rest as the last one). */
  async #flush (end: boolean): Promise<void> {
    let all = Buffer.concat(this.#buf)
    const out: Uint8Array[] = []
    while (all.length > CHUNK || (all.length === CHUNK && !end)) {
      out.push(this.#seal(all.subarray(0, CHUNK), false))
      all = all.subarray(CHUNK)
    }
    if (end) out.push(this.#seal(all, true))
    this.#buf = end || all.length === 0 ? [] : [all]
    this.#len = end ? 0 : all.length
    if (out.length > 0) await this.#fh.write(Buffer.concat(out))
  }

  #seal (pt: Uint8Array, last: boolean): Uint8Array {
    const c = createCipheriv('aes-256-gcm', this.#key, nonce(this.#counter++, last))
    c.setAAD(this.#header)
    return Buffer.concat([c.update(pt), c.final(), c.getAuthTag()])
  }
}

/** The header's fields, read before the passphrase is asked for. */
export interface ArchiveHeader { readonly version: number, readonly scrypt: ScryptParams, readonly salt: Uint8Array, readonly fileSalt: Uint8Array, readonly check: Uint8Array, readonly bytes: Uint8Array }

export function parseHeader (file: string, h: Uint8Array): ArchiveHeader {
  if (h.length < HEADER) throw new BackupCorruptError(file, `truncated: ${h.length} bytes, shorter than the ${HEADER}-byte header`)
  if (!equalBytes(h.subarray(0, 8), MAGIC)) throw new BackupFormatError(file, 'not a Healthchain backup archive')
  if (h[8] !== BACKUP_VERSION) throw new BackupFormatError(file, `archive format ${h[8]!}; this version reads ${BACKUP_VERSION}`)
  if (h[9] !== 1 || h[10]! < 1 || h[10]! > 22 || h[11]! < 1 || h[11]! > 64 || h[12]! < 1 || h[12]! > 16) throw new BackupFormatError(file, 'key derivation parameters out of range')
  return { version: h[8]!, scrypt: { N: 2 ** h[10]!, r: h[11]!, p: h[12]! }, salt: h.slice(16, 32), fileSalt: h.slice(32, 48), check: h.slice(48, 64), bytes: h.slice(0, HEADER) }
}

/**
 * Reads an archive record by record. Opening checks the passphrase (wrong:
 * BackupPassphraseError); every chunk is authenticated before any of its
 * bytes are parsed (BackupCorruptError: altered, cut short, reordered).
 */
export class ArchiveReader {
  readonly file: string
  readonly manifest: unknown
  readonly #fh: FileHandle
  readonly #key: Uint8Array
  readonly #header: Uint8Array
  readonly #size: number
  #pos = HEADER
  #counter = 0
  #plain: Buffer = Buffer.alloc(0)
  #done = false
  #ended = false

  private constructor (file: string, fh: FileHandle, key: Uint8Array, header: Uint8Array, size: number) {
    this.file = file; this.#fh = fh; this.#key = key; this.#header = header; this.#size = size
    this.manifest = null
  }

  static async open (file: string, passphrase: string | ArchiveKey): Promise<ArchiveReader> {
    const fh = await open(file, 'r')
    try {
      const size = (await fh.stat()).size
      const h = new Uint8Array(HEADER)
      const { bytesRead } = await fh.read(h, 0, HEADER, 0)
      const hd = parseHeader(file, h.subarray(0, bytesRead))
      const master = typeof passphrase === 'string' ? await deriveKey(passphrase, hd.salt, hd.scrypt) : passphrase.master
      const { key, check } = subKeys(master, hd.fileSalt)
      if (!equalBytes(check, hd.check)) throw new BackupPassphraseError(file)
      const r = new ArchiveReader(file, fh, key, hd.bytes, size)
      const m = await r.#next()
      if (m?.type !== 'M') throw new BackupCorruptError(file, 'no manifest')
      ;(r as { manifest: unknown }).manifest = m.manifest
      return r
    } catch (err) {
      await fh.close()
      throw err
    }
  }

  /** Every record after the manifest, in order; throws unless the archive ends with its end record. */
  async * records (): AsyncGenerator<Record> {
    for (;;) {
      const r = await this.#next()
      if (r === null) return
      yield r
    }
  }

  async close (): Promise<void> { await this.#fh.close() }

  /** Makes at least n plaintext bytes available, or returns false at the authenticated end. */
  async #need (n: number): Promise<boolean> {
    while (this.#plain.length < n) {
      if (this.#done) return false
      const left = this.#size - this.#pos
      if (left < TAG) throw new BackupCorruptError(this.file, `truncated: ends ${left} bytes into a chunk, at byte ${this.#size}`)
      const len = Math.min(CHUNK + TAG, left)
      const last = len === left
      const ct = Buffer.alloc(len)
      await this.#fh.read(ct, 0, len, this.#pos)
      const d = createDecipheriv('aes-256-gcm', this.#key, nonce(this.#counter, last))
      d.setAAD(this.#header)
      d.setAuthTag(ct.subarray(len - TAG))
      let pt: Buffer
      try { pt = Buffer.concat([d.update(ct.subarray(0, len - TAG)), d.final()]) } catch {
        throw new BackupCorruptError(this.file, last && len === CHUNK + TAG ? `truncated: ends after chunk ${this.#counter}, which is not the last` : `chunk ${this.#counter} at byte ${this.#pos} does not authenticate (altered or cut short)`)
      }
      this.#counter++
      this.#pos += len
      this.#done = last
      this.#plain = this.#plain.length === 0 ? pt : Buffer.concat([this.#plain, pt])
    }
    return true
  }

  async #take (n: number): Promise<Buffer> {
    if (!await this.#need(n)) throw new BackupCorruptError(this.file, 'a record runs past the end')
    const b = this.#plain.subarray(0, n)
    this.#plain = this.#plain.subarray(n)
    return b
  }

  async #field (): Promise<Uint8Array> {
    const n = (await this.#take(4)).readUInt32BE(0)
    if (n > MAX_FIELD) throw new BackupCorruptError(this.file, `a field of ${n} bytes`)
    return new Uint8Array(await this.#take(n))
  }

  async #next (): Promise<Record | null> {
    if (this.#ended) return null
    const type = (await this.#take(1))[0]
    switch (type) {
      case TYPE.M: {
        const text = Buffer.from(await this.#field()).toString('utf8')
        try { return { type: 'M', manifest: JSON.parse(text) as unknown } } catch { throw new BackupCorruptError(this.file, 'the manifest is not JSON') }
      }
      case TYPE.F: {
        const path = Buffer.from(await this.#field()).toString('utf8')
        const mode = Buffer.from(await this.#field()).readUInt32BE(0)
        return { type: 'F', path, mode, data: await this.#field() }
      }
      case TYPE.L: return { type: 'L', path: Buffer.from(await this.#field()).toString('utf8') }
      case TYPE.K: return { type: 'K', key: await this.#field(), value: await this.#field() }
      case TYPE.Z:
        this.#ended = true
        if (await this.#need(1)) throw new BackupCorruptError(this.file, 'bytes after the end record')
        return null
      default: throw new BackupCorruptError(this.file, `unknown record type ${String(type)}`)
    }
  }
}
