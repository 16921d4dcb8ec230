/**
 * Keystore: an identity's 32-byte seed encrypted at rest (paper §V-A: keys
 * must not leak; DESIGN §2: scrypt from @noble/hashes + AES-256-GCM).
 *   key  = scrypt(passphrase, salt, N, r, p, 32)          (RFC 7914)
 *   file = JSON {version, kdf params, salt, nonce, ct = AES-256-GCM(key, nonce, aad, seed), id}
 * The public ID is also the AAD, so a file whose `id` was edited no longer
 * opens. Files are written atomically (temp file, fsync, rename) with mode
 * 0600. Private key bytes never reach a log line or an error message.
 */
import { mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises'
import { dirname } from 'node:path'
import { randomBytes } from 'node:crypto'
import { scryptAsync } from '@noble/hashes/scrypt.js'
import { aesGcmDecrypt, aesGcmEncrypt, DecryptionError, fromHex, HealthchainError, identityFromSeed, toHex, utf8Bytes, type Identity } from '../core/index.ts'

export const KEYSTORE_VERSION = 1

export interface ScryptParams { readonly N: number, readonly r: number, readonly p: number }
/** ~250 ms on a Raspberry Pi 4 class CPU; tests pass a cheaper N. */
export const DEFAULT_SCRYPT: ScryptParams = { N: 2 ** 15, r: 8, p: 1 }

export class WrongPassphraseError extends HealthchainError {
  constructor (file: string) { super('ERR_WRONG_PASSPHRASE', 'passphrase', `cannot open ${file}: wrong passphrase or the file was altered`) }
}

export class KeystoreFormatError extends HealthchainError {
  constructor (file: string, why: string) { super('ERR_KEYSTORE_FORMAT', 'keystore', `${file}: ${why}`) }
}

export class KeystoreMissingError extends HealthchainError {
  constructor (file: string) { super('ERR_NO_KEYSTORE', 'keystore', `no keystore at ${file}: create the identity first (healthchain keys new), or point --keystore / --data-dir at it`) }
}

export class KeystoreExistsError extends HealthchainError {
  constructor (file: string) { super('ERR_KEYSTORE_EXISTS', 'keystore', `${file} already exists; refusing to overwrite a key`) }
}

export class EmptyPassphraseError extends HealthchainError {
  constructor () { super('ERR_EMPTY_PASSPHRASE', 'passphrase', 'a passphrase is required (HEALTHCHAIN_PASSPHRASE, --passphrase-file, or the prompt)') }
}

export interface KeystoreFile {
  version: number
  kind: 'healthchain-keystore'
  id: string
  kdf: { name: 'scrypt', N: number, r: number, p: number, salt: string }
  cipher: { name: 'aes-256-gcm', nonce: string, ct: string }
}

/** The AES-256 key a passphrase gives under scrypt (also the backup archive's key: store/backup-archive.ts). */
export async function deriveKey (passphrase: string, salt: Uint8Array, p: ScryptParams): Promise<Uint8Array> {
  if (passphrase.length === 0) throw new EmptyPassphraseError()
  return scryptAsync(utf8Bytes(passphrase.normalize('NFKC')), salt, { N: p.N, r: p.r, p: p.p, dkLen: 32, maxmem: 256 * 1024 * 1024 })
}

/** Write bytes to `file` atomically with mode 0600. */
export async function writeFileAtomic (file: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`
  const fh = await open(tmp, 'wx', mode)
  try {
    await fh.writeFile(data)
    await fh.sync()
  } finally {
    await fh.close()
  }
  try {
    await rename(tmp, file)
  } catch (err) {
    await unlink(tmp).catch(() => {})
    throw err
  }
}

export async function saveKeystore (file: string, seed: Uint8Array, passphrase: string, opts: { scrypt?: ScryptParams, overwrite?: boolean } = {}): Promise<Identity> {
  const exists = await stat(file).then(() => true, () => false)
  if (exists && opts.overwrite !== true) throw new KeystoreExistsError(file)
  const who = identityFromSeed(seed)
  await mkdir(dirname(file), { recursive: true, mode: 0o700 }) // a first `keys new` creates the data dir
  const params = opts.scrypt ?? DEFAULT_SCRYPT
  const salt = new Uint8Array(randomBytes(16))
  const nonce = new Uint8Array(randomBytes(12))
  const key = await deriveKey(passphrase, salt, params)
  const ct = aesGcmEncrypt(key, nonce, seed, who.id)
  const body: KeystoreFile = {
    version: KEYSTORE_VERSION,
    kind: 'healthchain-keystore',
    id: toHex(who.id),
    kdf: { name: 'scrypt', N: params.N, r: params.r, p: params.p, salt: toHex(salt) },
    cipher: { name: 'aes-256-gcm', nonce: toHex(nonce), ct: toHex(ct) }
  }
  await writeFileAtomic(file, JSON.stringify(body, null, 2) + '\n')
  return who
}

/** A new identity from fresh randomness, saved encrypted. */
export async function createKeystore (file: string, passphrase: string, opts: { scrypt?: ScryptParams } = {}): Promise<Identity> {
  return saveKeystore(file, new Uint8Array(randomBytes(32)), passphrase, opts)
}

async function readKeystoreFile (file: string): Promise<KeystoreFile> {
  let raw: string
  try { raw = await readFile(file, 'utf8') } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw new KeystoreMissingError(file)
    throw new KeystoreFormatError(file, `cannot read: ${code ?? String(err)}`)
  }
  return parseKeystoreFile(raw, file)
}

/** Validate a keystore file's text (pure; `file` names it in errors). Throws KeystoreFormatError. */
export function parseKeystoreFile (raw: string, file: string): KeystoreFile {
  let j: KeystoreFile
  try { j = JSON.parse(raw) as KeystoreFile } catch { throw new KeystoreFormatError(file, 'not JSON') }
  const hex = (s: unknown, len?: number): boolean => typeof s === 'string' && /^[0-9a-f]*$/.test(s) && s.length % 2 === 0 && (len === undefined || s.length === len * 2)
  const okInt = (n: unknown, max: number): boolean => Number.isInteger(n) && (n as number) > 0 && (n as number) <= max
  if (j?.kind !== 'healthchain-keystore') throw new KeystoreFormatError(file, 'not a healthchain keystore')
  if (j.version !== KEYSTORE_VERSION) throw new KeystoreFormatError(file, `unknown version ${String(j.version)}`)
  if (!hex(j.id, 32) || j.kdf?.name !== 'scrypt' || !hex(j.kdf.salt) || j.cipher?.name !== 'aes-256-gcm' || !hex(j.cipher.nonce, 12) || !hex(j.cipher.ct, 48)) {
    throw new KeystoreFormatError(file, 'malformed fields')
  }
  const N = j.kdf.N
  if (!okInt(N, 2 ** 22) || (N & (N - 1)) !== 0 || !okInt(j.kdf.r, 64) || !okInt(j.kdf.p, 16)) throw new KeystoreFormatError(file, 'scrypt parameters out of range')
  return j
}

/** The public ID without the passphrase. */
export async function keystoreId (file: string): Promise<Uint8Array> {
  return fromHex('id', (await readKeystoreFile(file)).id)
}

/** The identity's seed itself (for `keys guardians`, which splits it); the caller wipes it after use. */
export async function openKeystoreSeed (file: string, passphrase: string): Promise<Uint8Array> {
  const j = await readKeystoreFile(file)
  const id = fromHex('id', j.id)
  const key = await deriveKey(passphrase, fromHex('salt', j.kdf.salt), j.kdf)
  try {
    return aesGcmDecrypt(key, fromHex('nonce', j.cipher.nonce), fromHex('ct', j.cipher.ct), id)
  } catch (err) {
    if (err instanceof DecryptionError) throw new WrongPassphraseError(file)
    throw err
  }
}

export async function openKeystore (file: string, passphrase: string): Promise<Identity> {
  const seed = await openKeystoreSeed(file, passphrase)
  const who = identityFromSeed(seed)
  seed.fill(0)
  return who
}
