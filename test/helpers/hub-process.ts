/**
 * A hub as a user runs it: `healthchain hub --config` as a child process on
 * 127.0.0.1 (port 0 everywhere), on a data dir with an identity and, if
 * asked, a mined Ublock paying the user; the ready lines parsed.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process'
import { promisify } from 'node:util'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { NETWORKS, solveUblockHeader, fromHex } from '../../hub/src/core/index.ts'
import { CoreNode } from '../../hub/src/roles/core/node.ts'
import { LOGINS_FILE, parseLoginsFile } from '../../hub/src/web/logins.ts'
import { trustCa } from './http-client.ts'

export const CLI = new URL('../../hub/src/cli.ts', import.meta.url).pathname
export const FAKE_STORAGE = '/ip4/127.0.0.1/tcp/1/p2p/12D3KooWNMghTXJunhDMmtDsALrNukYYKisBMyzrcDPfW6DeTino'
const run = promisify(execFile)

export interface CliResult { code: number, stdout: string, stderr: string }

/** Runs `healthchain …`; never throws for a non-zero exit. */
export async function cli (args: string[], env: NodeJS.ProcessEnv, opts: { uid?: number, gid?: number } = {}): Promise<CliResult> {
  try {
    const r = await run(process.execPath, [CLI, ...args], { env, ...opts, maxBuffer: 16 << 20 })
    return { code: 0, stdout: r.stdout, stderr: r.stderr }
  } catch (err) {
    const e = err as { code?: number | string, stdout?: string, stderr?: string }
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(err) }
  }
}

/** Mines `n` Ublocks paying `to` into a stopped data dir's Userchain. */
export async function premine (dataDir: string, to: string, n = 1): Promise<void> {
  const core = await CoreNode.open({ dir: join(dataDir, 'userchain', 'devnet'), params: NETWORKS.devnet })
  try {
    for (let i = 0; i < n; i++) {
      const tpl = core.template(fromHex('to', to))
      const r = await core.submitBlock({ header: solveUblockHeader(tpl.header, 100_000_000)!, txs: tpl.txs })
      if (!r.accepted) throw new Error(`premine: ${r.reason}`)
    }
  } finally { await core.close() }
}

export interface HubProcess {
  readonly child: ChildProcess
  readonly out: () => string
  readonly user: string
  readonly page: string
  readonly login?: { username: string, password: string }
  readonly apiUrl: string | null
  stop: () => Promise<number | null>
}

/** Writes the hub config (extra fields merged) and starts the hub; resolves at its ready block. */
export async function startHubProcess (dir: string, dataDir: string, env: NodeJS.ProcessEnv, extra: Record<string, unknown> = {}): Promise<HubProcess> {
  const cfg = join(dir, 'hub.json')
  await writeFile(cfg, JSON.stringify({
    dataDir, listen: ['/ip4/127.0.0.1/tcp/0'], storageNodes: [FAKE_STORAGE], mine: false, threads: 1, keyRotationDays: 0,
    broker: { embedded: { host: '127.0.0.1', port: 0 } }, http: { host: '127.0.0.1', port: 0 }, editor: { host: '127.0.0.1', port: 0 }, api: { tcp: { host: '127.0.0.1', port: 0 } }, ...extra
  }))
  const child = spawn(process.execPath, [CLI, 'hub', '--config', cfg], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout!.on('data', (b: Buffer) => { out += b.toString() })
  child.stderr!.on('data', (b: Buffer) => { out += b.toString() })
  const t0 = Date.now()
  while (!/control API/.test(out) && child.exitCode === null && Date.now() - t0 < 240_000) await new Promise((r) => setTimeout(r, 100))
  // the logins line follows the ready block on a first start
  await new Promise((r) => setTimeout(r, 300))
  if (!/hub ready/.test(out)) { child.kill('SIGKILL'); throw new Error(`hub did not start:\n${out}`) }
  // the page is HTTPS with the hub's own CA; a first start wrote the logins to a 0600 file
  trustCa(await readFile(join(dataDir, 'tls', 'ca.pem'), 'utf8'))
  const login = /\n {2}logins +made on this start/.test(out) ? parseLoginsFile(await readFile(join(dataDir, LOGINS_FILE), 'utf8')).web ?? null : null
  return {
    child,
    out: () => out,
    user: /user ID\s+([0-9a-f]{64})/.exec(out)![1]!,
    page: /patient page\s+(\S+)/.exec(out)![1]!.replace(/\/$/, ''),
    ...(login === null ? {} : { login }),
    apiUrl: /control API\s+\S+ and (http:\/\/\S+)/.exec(out)?.[1] ?? null,
    stop: async () => await new Promise<number | null>((resolve) => {
      if (child.exitCode !== null) { resolve(child.exitCode); return }
      child.once('exit', (code) => { resolve(code) })
      child.kill('SIGTERM')
    })
  }
}
