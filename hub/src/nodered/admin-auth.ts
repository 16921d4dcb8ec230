/**
 * Node-RED editor/admin login for the hub (DESIGN §8; Node-RED's
 * `adminAuth` "credentials" type). On first start a random password is made
 * for user `admin`, shown to the caller once, and only its bcrypt hash is
 * kept — with a random secret that encrypts the flows' credentials file —
 * in `<userDir>/admin-auth.json`, created with mode 0600 and refused later
 * if anyone but the owner may read it. bcrypt is the bcryptjs Node-RED
 * ships (and checks logins with).
 */
import { createHash, randomBytes } from 'node:crypto'
import { chmod, mkdir, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { readPrivateJson } from '../store/private-file.ts'
import type { RequestHandler } from 'express'
import { basicUser, loginLimiters, type RateLimitOptions } from '../web/ratelimit.ts'
import { AdminCredentialsError } from './errors.ts'

interface Bcrypt { hash: (pw: string, rounds: number) => Promise<string>, compare: (pw: string, hash: string) => Promise<boolean> }
const bcrypt = createRequire(createRequire(import.meta.url).resolve('@node-red/editor-api/package.json'))('bcryptjs') as Bcrypt

export const ADMIN_AUTH_FILE = 'admin-auth.json'
const BCRYPT_ROUNDS = 10

export interface AdminAuthRecord {
  readonly username: string
  /** bcrypt hash of the password. */
  readonly password: string
  /** Node-RED credentialSecret (encrypts flows_cred.json). */
  readonly credentialSecret: string
}

export interface AdminAuth {
  readonly record: AdminAuthRecord
  /** The plain password — only on the start that created it. */
  readonly created?: { readonly username: string, readonly password: string }
}

/** Reads the admin login, creating it (0600) on first start. */
export async function loadOrCreateAdminAuth (userDir: string, username = 'admin'): Promise<AdminAuth> {
  const path = join(userDir, ADMIN_AUTH_FILE)
  const j = await readPrivateJson(path, (why) => new AdminCredentialsError(path, why))
  if (j !== undefined) {
    const rec = j as AdminAuthRecord
    if (rec === null || typeof rec !== 'object' || typeof rec.username !== 'string' || typeof rec.password !== 'string' || !rec.password.startsWith('$2') || typeof rec.credentialSecret !== 'string') {
      throw new AdminCredentialsError(path, 'expected {username, password (bcrypt hash), credentialSecret}')
    }
    return { record: rec }
  }
  const password = randomBytes(18).toString('base64url')
  const record: AdminAuthRecord = { username, password: await bcrypt.hash(password, BCRYPT_ROUNDS), credentialSecret: randomBytes(32).toString('hex') }
  await writeFile(path, JSON.stringify(record, null, 2) + '\n', { mode: 0o600, flag: 'wx' })
  await chmod(path, 0o600) // the umask may have narrowed it further, never widened; make it exact
  return { record, created: { username, password } }
}

/**
 * Replaces the editor's password (a lost login), keeping the user name and
 * the credentialSecret — the flows' stored credentials stay readable.
 * Creates the file when there is none yet. Returns the new login.
 */
export async function resetAdminPassword (userDir: string, username = 'admin'): Promise<{ username: string, password: string }> {
  const path = join(userDir, ADMIN_AUTH_FILE)
  const old = await readPrivateJson(path, (why) => new AdminCredentialsError(path, why)) as AdminAuthRecord | undefined
  const password = randomBytes(18).toString('base64url')
  const record: AdminAuthRecord = {
    username: old?.username ?? username,
    password: await bcrypt.hash(password, BCRYPT_ROUNDS),
    credentialSecret: typeof old?.credentialSecret === 'string' ? old.credentialSecret : randomBytes(32).toString('hex')
  }
  await mkdir(userDir, { recursive: true, mode: 0o700 })
  await writeFile(path, JSON.stringify(record, null, 2) + '\n', { mode: 0o600 })
  await chmod(path, 0o600)
  return { username: record.username, password }
}

/** Node-RED's adminAuth setting for the record: one user with full permissions. */
export function adminAuthSetting (rec: AdminAuthRecord): Record<string, unknown> {
  return { type: 'credentials', users: [{ username: rec.username, password: rec.password, permissions: '*' }] }
}

export async function checkPassword (rec: AdminAuthRecord, password: string): Promise<boolean> {
  return await bcrypt.compare(password, rec.password)
}

/**
 * Basic auth for the flows' own HTTP endpoints (http in nodes) with the
 * admin login — what Node-RED's launcher does for `httpNodeAuth`, which the
 * embedded API leaves to the embedder. A header that passed bcrypt once is
 * remembered by its SHA-256 so each request does not pay bcrypt again.
 * Guesses are throttled like the web login (web/ratelimit.ts, per account
 * and per client address; 429 with Retry-After and no bcrypt check over the
 * limit), so the flows' endpoints are no way around the editor's and the
 * pages' login limits.
 */
export function basicAuth (rec: AdminAuthRecord, realm = 'Healthchain hub', limits: RateLimitOptions = {}): RequestHandler {
  const ok = new Set<string>()
  const limiters = loginLimiters(basicUser, limits)
  const [byClient, byAccount] = limiters.middleware as [RequestHandler, RequestHandler]
  const check: RequestHandler = (req, res, next) => {
    const header = req.headers.authorization!
    const text = Buffer.from(header.slice(6), 'base64').toString('utf8')
    const colon = text.indexOf(':')
    if (colon < 0 || text.slice(0, colon) !== rec.username) { refuse(res); return }
    bcrypt.compare(text.slice(colon + 1), rec.password).then((good) => {
      if (!good) { refuse(res); return }
      limiters.succeeded(req)
      ok.add(createHash('sha256').update(header).digest('hex'))
      next()
    }, () => { refuse(res) })
  }
  const refuse = (res: Parameters<RequestHandler>[1]): void => { res.statusCode = 401; res.setHeader('WWW-Authenticate', `Basic realm="${realm}"`); res.end('Unauthorized') }
  return (req, res, next) => {
    const header = req.headers.authorization
    if (typeof header !== 'string' || !header.startsWith('Basic ')) { refuse(res); return }
    // a login already checked passes without bcrypt and is never throttled by others' guesses
    if (ok.has(createHash('sha256').update(header).digest('hex'))) { next(); return }
    byClient(req, res, (e?: unknown) => { if (e !== undefined) { next(e); return } byAccount(req, res, (e2?: unknown) => { if (e2 !== undefined) { next(e2); return } check(req, res, next) }) })
  }
}
