/**
 * A stock Node-RED as a user runs one beside the hub: node_modules/node-red
 * as its own process with its own user dir, the Healthchain palette
 * installed into it from this repository (`npm install <repo>/flows/nodes`,
 * offline: its dependencies are the repository's), running the flow given.
 * Its HTTP-in endpoints listen on 127.0.0.1 (a free port); the editor and
 * admin API are off.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { promisify } from 'node:util'
import { createWriteStream } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

const run = promisify(execFile)
export const REPO = new URL('../../', import.meta.url).pathname
const RED = join(REPO, 'node_modules', 'node-red', 'red.js')

export interface StockNodeRed {
  readonly child: ChildProcess
  readonly log: () => string
  /** Where its HTTP-in nodes answer (`http://127.0.0.1:<port>`). */
  readonly url: string
  /** The palette's package.json as installed. */
  readonly installed: { 'node-red'?: { nodes?: Record<string, string> } }
  stop: () => Promise<void>
}

export async function startStockNodeRed (userDir: string, flow: object[], env: NodeJS.ProcessEnv = process.env): Promise<StockNodeRed> {
  await mkdir(userDir, { recursive: true })
  await writeFile(join(userDir, 'package.json'), JSON.stringify({ name: 'node-red-project', private: true, version: '0.0.1' }))
  await run('npm', ['install', join(REPO, 'flows', 'nodes'), '--no-audit', '--no-fund', '--offline'], { cwd: userDir, env })
  const installed = JSON.parse(await readFile(join(userDir, 'node_modules', 'node-red-contrib-healthchain', 'package.json'), 'utf8')) as StockNodeRed['installed']
  await writeFile(join(userDir, 'flows.json'), JSON.stringify(flow))
  await writeFile(join(userDir, 'settings.js'), 'module.exports = { uiHost: "127.0.0.1", uiPort: 0, flowFile: "flows.json", credentialSecret: false, httpAdminRoot: false }\n')
  const child = spawn(process.execPath, [RED, '--userDir', userDir, '--settings', join(userDir, 'settings.js')], { env: { ...env, NODE_OPTIONS: '' }, stdio: ['ignore', 'pipe', 'pipe'] })
  let log = ''
  // also on disk (<userDir>/node-red.log), kept with the test dir of a failed test
  const file = createWriteStream(join(userDir, 'node-red.log'))
  child.stdout!.on('data', (b: Buffer) => { log += b.toString(); file.write(b) })
  child.stderr!.on('data', (b: Buffer) => { log += b.toString(); file.write(b) })
  child.once('exit', (code, signal) => { file.end(`--- exited ${code ?? signal}\n`) })
  const t0 = Date.now()
  while (!/Started flows/.test(log) && child.exitCode === null && Date.now() - t0 < 180_000) await new Promise((r) => setTimeout(r, 200))
  if (!/Started flows/.test(log)) { child.kill('SIGKILL'); throw new Error(`Node-RED did not start:\n${log}`) }
  const port = /Server now running at https?:\/\/[^:/]+:(\d+)/.exec(log)?.[1]
  return {
    child,
    log: () => log,
    url: `http://127.0.0.1:${port ?? '0'}`,
    installed,
    stop: async () => await new Promise<void>((resolve) => {
      if (child.exitCode !== null) { resolve(); return }
      child.once('exit', () => { resolve() })
      child.kill('SIGTERM')
      setTimeout(() => { child.kill('SIGKILL') }, 5000).unref()
    })
  }
}
