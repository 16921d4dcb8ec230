import { createRequire } from "node:module"; const require = createRequire(import.meta.url)
import { execFile, spawn } from 'node:child_process'
import { mkdtemp, writeFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { rssMb } from './bench/_proc.ts'
const CLI = new URL('./hub/src/cli.ts', import.meta.url).pathname
const env = { ...process.env, HEALTHCHAIN_PASSPHRASE: 'bench hub passphrase' }
const exec = promisify(execFile)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const dir = await mkdtemp(join(tmpdir(), 'memd-'))
const extra = JSON.parse(process.env.EXTRA ?? '{}')
const nodeArgs = (process.env.NODE_ARGS ?? '').split(' ').filter(Boolean)
async function start (args: string[], ready: RegExp, na: string[] = []) {
  const child = spawn(process.execPath, [...na, CLI, ...args], { env, cwd: "/tmp/mem/snap", stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (b) => { out += b }); child.stderr.on('data', (b) => { out += b })
  const t0 = Date.now()
  while (!ready.test(out)) { if (child.exitCode !== null || Date.now() - t0 > 90_000) { console.log(out); throw new Error('no start') } await sleep(100) }
  return { child, out: () => out }
}
await writeFile(join(dir, 'storage.json'), JSON.stringify({ dataDir: join(dir, 'storage'), listen: ['/ip4/127.0.0.1/tcp/0'] }))
const storage = await start(['storage', '--config', join(dir, 'storage.json')], /storage ready[\s\S]*userchain/)
const storagePeer = /peer (\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/\S+)/.exec(storage.out())![1]!
const data = join(dir, 'hub')
await exec(process.execPath, [CLI, 'keys', 'new', '--data-dir', data], { env })
await writeFile(join(dir, 'hub.json'), JSON.stringify({ dataDir: data, hubId: 'bench', listen: ['/ip4/127.0.0.1/tcp/0'], mine: false, threads: 1, storageNodes: [storagePeer], replication: 1,
  broker: { embedded: { host: "127.0.0.1", port: 0 } }, http: { host: "127.0.0.1", port: 0 }, editor: { host: "127.0.0.1", port: 0 }, ...extra, ...(extra.mode === "light" ? { bootstrap: [storagePeer] } : {}) }))
const hub = await start(["hub", "--config", join(dir, "hub.json")], /MQTT broker\s+port \d+/, nodeArgs); process.chdir("/tmp/mem/snap")
const rs: number[] = []; for (let i = 0; i < 6; i++) { await sleep(5000); rs.push(Math.round(rssMb(hub.child.pid!)!)) }; console.log("rss samples", rs.join(" ")); if (0) { console.log("rss", Math.round(rssMb(hub.child.pid!)!), require("node:fs").readFileSync(`/proc/${hub.child.pid}/status`, "utf8").match(/Threads:\s+(\d+)/)[1], hub.out().split("\n").filter(l => l.startsWith("MEM")).pop()) }
if (process.env.SNAP) { hub.child.kill('SIGUSR2'); await sleep(15000) }
hub.child.kill('SIGTERM'); storage.child.kill('SIGTERM'); await sleep(3000)
await rm(dir, { recursive: true, force: true })
