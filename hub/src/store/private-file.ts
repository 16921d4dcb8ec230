/**
 * Secrets at rest (logins, credentials) live in JSON files only their owner
 * may read. One reader for all of them: absent → undefined; readable by
 * group or others, unreadable or not JSON → the caller's typed error.
 */
import { readFile, stat } from 'node:fs/promises'

export async function readPrivateJson (path: string, fail: (why: string) => Error): Promise<unknown> {
  let text: string
  try { text = await readFile(path, 'utf8') } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw fail((err as Error).message)
  }
  if (process.platform !== 'win32' && ((await stat(path)).mode & 0o077) !== 0) {
    throw fail('readable by others: run chmod 600 on it (or delete it to make a new login)')
  }
  try { return JSON.parse(text) as unknown } catch { throw fail('not JSON') }
}
