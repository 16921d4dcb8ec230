/**
 * Where a daemon's control API lives in its data dir, and its cookie
 * (like bitcoind's .cookie): a random secret written 0600 at every start
 * and removed at stop, so only a process that can read the data dir — the
 * daemon's own Unix user — can call the API, and a cookie read before a
 * restart no longer works.
 *
 * The Unix socket is `<dataDir>/api.sock` when that path fits in
 * sockaddr_un (108 bytes with its NUL on Linux); a longer data dir gets a
 * socket in the temp dir named after a hash of the data dir's path, which
 * the client derives the same way.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { readFile, unlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { writeFileAtomic } from '../store/keystore.ts'

export const COOKIE_FILE = '.cookie'
/** sun_path is 108 bytes on Linux, 104 on macOS: keep under both with the NUL. */
export const MAX_SOCKET_PATH = 103

export function apiSocketPath (dataDir: string): string {
  const inDir = join(resolve(dataDir), 'api.sock')
  if (Buffer.byteLength(inDir) <= MAX_SOCKET_PATH) return inDir
  const h = createHash('sha256').update(resolve(dataDir)).digest('hex').slice(0, 20)
  return join(tmpdir(), `hc-${h}.sock`)
}

export function cookiePath (dataDir: string): string { return join(resolve(dataDir), COOKIE_FILE) }

/** Writes a fresh cookie (32 random bytes, hex), mode 0600; returns it. */
export async function writeCookie (dataDir: string): Promise<string> {
  const cookie = randomBytes(32).toString('hex')
  await writeFileAtomic(cookiePath(dataDir), `${cookie}\n`, 0o600)
  return cookie
}

export async function removeCookie (dataDir: string): Promise<void> { await unlink(cookiePath(dataDir)).catch(() => {}) }

export async function readCookie (dataDir: string): Promise<string> { return (await readFile(cookiePath(dataDir), 'utf8')).trim() }

/** Constant-time comparison of a presented cookie with the daemon's. */
export function cookieMatches (expected: string, presented: string): boolean {
  const a = Buffer.from(expected)
  const b = Buffer.from(presented)
  return a.length === b.length && timingSafeEqual(a, b)
}
