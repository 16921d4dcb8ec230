/**
 * The web pages' login (DESIGN §8: the hub's owner logs in). On
 * first start a random password is made, returned once to be printed, and
 * only its scrypt hash (RFC 7914; N=2^15, r=8, p=1, 16-byte salt) is kept in
 * `<dataDir>/web-auth.json`, created with mode 0600 and refused later if
 * anyone but the owner may read it. Checks compare in constant time.
 */
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto'
import { chmod, mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { readPrivateJson } from '../store/private-file.ts'
import { WebCredentialsError } from './errors.ts'

export const WEB_AUTH_FILE = 'web-auth.json'

export interface ScryptParams { readonly N: number, readonly r: number, readonly p: number }
export const SCRYPT_DEFAULT: ScryptParams = { N: 1 << 15, r: 8, p: 1 }

export interface WebCredentials {
  readonly username: string
  readonly scrypt: ScryptParams & { readonly salt: string, readonly hash: string }
}

export interface LoadedCredentials {
  readonly path: string
  readonly record: WebCredentials
  /** The plain password, only on the start that created it. */
  readonly created?: { readonly username: string, readonly password: string }
}

function derive (password: string, salt: Buffer, p: ScryptParams, len: number): Promise<Buffer> {
  const opts: ScryptOptions = { N: p.N, r: p.r, p: p.p, maxmem: 256 * p.N * p.r + (1 << 20) }
  return new Promise((resolve, reject) => scryptCb(password.normalize('NFKC'), salt, len, opts, (err, key) => { if (err !== null) reject(err); else resolve(key) }))
}

export async function hashPassword (username: string, password: string, params: ScryptParams = SCRYPT_DEFAULT): Promise<WebCredentials> {
  const salt = randomBytes(16)
  const hash = await derive(password, salt, params, 32)
  return { username, scrypt: { ...params, salt: salt.toString('base64'), hash: hash.toString('base64') } }
}

/** True when username and password match; always runs scrypt, so a wrong username takes as long. */
export async function checkLogin (rec: WebCredentials, username: string, password: string): Promise<boolean> {
  const want = Buffer.from(rec.scrypt.hash, 'base64')
  const got = await derive(password, Buffer.from(rec.scrypt.salt, 'base64'), rec.scrypt, want.length)
  const passOk = got.length === want.length && timingSafeEqual(got, want)
  const u = Buffer.from(username.normalize('NFKC'))
  const w = Buffer.from(rec.username)
  const userOk = u.length === w.length && timingSafeEqual(u, w)
  return passOk && userOk
}

function validate (path: string, j: unknown): WebCredentials {
  const r = j as Partial<WebCredentials> | null
  const s = r?.scrypt
  const ok = r !== null && typeof r === 'object' && typeof r.username === 'string' && r.username.length > 0 &&
    s !== undefined && typeof s.salt === 'string' && typeof s.hash === 'string' &&
    Number.isInteger(s.N) && s.N >= 1 << 14 && (s.N & (s.N - 1)) === 0 && Number.isInteger(s.r) && s.r >= 8 && Number.isInteger(s.p) && s.p >= 1
  if (!ok) throw new WebCredentialsError(path, 'expected {username, scrypt: {N ≥ 16384, r ≥ 8, p ≥ 1, salt, hash}}')
  return r as WebCredentials
}

/** Reads the login from the data dir, creating it (0600) with a random password on first start. */
export async function loadOrCreateCredentials (dataDir: string, username = 'admin', params: ScryptParams = SCRYPT_DEFAULT): Promise<LoadedCredentials> {
  const path = join(dataDir, WEB_AUTH_FILE)
  const j = await readPrivateJson(path, (why) => new WebCredentialsError(path, why))
  if (j !== undefined) {
    return { path, record: validate(path, j) }
  }
  await mkdir(dataDir, { recursive: true, mode: 0o700 })
  const password = randomBytes(15).toString('base64url')
  const record = await hashPassword(username, password, params)
  try {
    await writeFile(path, JSON.stringify(record, null, 2) + '\n', { mode: 0o600, flag: 'wx' })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return await loadOrCreateCredentials(dataDir, username, params)
    throw new WebCredentialsError(path, (err as Error).message)
  }
  await chmod(path, 0o600)
  return { path, record, created: { username, password } }
}

/** Replaces the password (e.g. from a CLI); returns the new record. */
export async function setPassword (dataDir: string, username: string, password: string, params: ScryptParams = SCRYPT_DEFAULT): Promise<WebCredentials> {
  if (password.length < 10) throw new WebCredentialsError(join(dataDir, WEB_AUTH_FILE), 'a password needs at least 10 characters')
  const path = join(dataDir, WEB_AUTH_FILE)
  const record = await hashPassword(username, password, params)
  await mkdir(dataDir, { recursive: true, mode: 0o700 })
  await writeFile(path, JSON.stringify(record, null, 2) + '\n', { mode: 0o600 })
  await chmod(path, 0o600)
  return record
}
