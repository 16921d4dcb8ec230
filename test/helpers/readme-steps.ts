/**
 * The README's Pi walkthrough as a test runs it: the `sh` code blocks of a
 * README section, read from README.md itself (so the test fails when the
 * README and the commands drift apart), with the Pi's paths mapped to a
 * test directory and its placeholders (`<pi>`, `<secret of ox-1>`, …)
 * filled in. Also the one place a test reaches the hub's patient page.
 */
import { readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { Client, trustCa } from './http-client.ts'
import { LOGINS_FILE, parseLoginsFile } from '../../hub/src/web/logins.ts'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** The `sh` code blocks of the README section under `heading` (up to the next heading of the same or a higher level), one string per command (continuations joined, comments dropped). */
export function readmeBlocks (heading: string, file = join(ROOT, 'README.md')): string[][] {
  const text = readFileSync(file, 'utf8')
  const start = text.indexOf(`\n${heading}\n`)
  if (start < 0) throw new Error(`README.md has no section "${heading}"`)
  const level = /^#+/.exec(heading)![0].length
  const rest = text.slice(start + heading.length + 2)
  const end = rest.search(new RegExp(`\\n#{1,${level}} `))
  const section = end < 0 ? rest : rest.slice(0, end)
  const blocks: string[][] = []
  for (const m of section.matchAll(/^([ \t]*)```sh\n([\s\S]*?)^\1```$/gm)) {
    const lines = m[2]!.split('\n').map((l) => l.slice(m[1]!.length)).join('\n').replace(/\\\n\s*/g, '').split('\n')
    blocks.push(lines.map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#')))
  }
  return blocks
}

/** Replaces each key of `map` by its value in `cmd` (longest keys first). */
export function fill (cmd: string, map: Record<string, string>): string {
  let out = cmd
  for (const k of Object.keys(map).sort((a, b) => b.length - a.length)) out = out.split(k).join(map[k]!)
  return out
}

/** The patient page's JSON (`GET /api/patient`) after logging in as the hub printed it. */
export async function patientPage (url: string, login: { username: string, password: string }): Promise<{ readings: Array<{ device: string, type: string, value: unknown }>, epoch: number | null, devices: Array<{ id: string, accepted: number, dropped: number, drops?: Array<{ code: string, count: number, reason: string, last?: string }> }> }> {
  const c = new Client(new URL(url).origin)
  await c.login(login.username, login.password)
  const r = await c.req('GET', '/api/patient')
  if (r.status !== 200) throw new Error(`GET /api/patient: ${r.status}`)
  return r.json() as Awaited<ReturnType<typeof patientPage>>
}

/** The page URL a hub's ready block printed, and the login its first start wrote to `<dataDir>/logins.txt`; trusts the hub's CA for the page. */
export async function hubReady (out: string, dataDir: string): Promise<{ url: string, login: { username: string, password: string } | undefined, mqttPort: number }> {
  const url = /patient page\s+(\S+)/.exec(out)![1]!
  trustCa(await readFile(join(dataDir, 'tls', 'ca.pem'), 'utf8'))
  const login = parseLoginsFile(await readFile(join(dataDir, LOGINS_FILE), 'utf8')).web
  return { url, login, mqttPort: Number(/MQTT broker\s+port (\d+)/.exec(out)![1]) }
}
