/**
 * Where the hub daemon puts logins it makes (first start, `healthchain
 * logins reset`): a file only its owner can read, `<dataDir>/logins.txt`
 * (0600), never its stdout — under systemd stdout is the journal, which
 * other users of the machine may read and which is kept for weeks.
 */
import { chmod, mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

export const LOGINS_FILE = 'logins.txt'

export interface Login { readonly username: string, readonly password: string }

/** Writes the logins made now (replacing an older file) and returns the file's path. */
export async function writeLoginsFile (dataDir: string, logins: { readonly web?: Login, readonly editor?: Login }, urls: { readonly patient?: string, readonly editor?: string } = {}): Promise<string> {
  const path = join(dataDir, LOGINS_FILE)
  const lines = [`# Healthchain hub logins, made ${new Date().toISOString()}. Store them (a password manager), then delete this file.`]
  if (logins.web !== undefined) lines.push(`page    ${urls.patient ?? ''}`.trimEnd(), `  user      ${logins.web.username}`, `  password  ${logins.web.password}`)
  if (logins.editor !== undefined) lines.push(`editor  ${urls.editor ?? ''}`.trimEnd(), `  user      ${logins.editor.username}`, `  password  ${logins.editor.password}`)
  await mkdir(dataDir, { recursive: true, mode: 0o700 })
  await writeFile(path, lines.join('\n') + '\n', { mode: 0o600 })
  await chmod(path, 0o600)
  return path
}

/** Reads the logins back from the file's text (tests, scripts). */
export function parseLoginsFile (text: string): { web?: Login, editor?: Login } {
  const out: { web?: Login, editor?: Login } = {}
  const re = /^(page|editor)\b.*\n {2}user +(\S+)\n {2}password +(\S+)$/gm
  for (const m of text.matchAll(re)) out[m[1] === 'page' ? 'web' : 'editor'] = { username: m[2]!, password: m[3]! }
  return out
}
