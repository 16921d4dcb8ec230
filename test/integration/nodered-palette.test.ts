/**
 * The palette in a stock Node-RED: a separate Node-RED 5 process with its
 * own user dir, the Healthchain nodes installed into it from this
 * repository as a user would (`npm install <repo>/flows/nodes`), runs the
 * shipped flows/hub.json against a running hub (`healthchain hub`, whose own
 * Node-RED runs no flow here) through the hub's control API: a paired
 * device's readings reach it, batches are sealed (in the hub: keys never
 * leave it), uploaded to a storage node, and recorded as tx_IoT on
 * Userchain; the storage node holds what the tx_IoT names.
 */
import t from 'tap'
import { execFile, spawn } from 'node:child_process'
import { promisify } from 'node:util'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { openAdmission, StorageNode } from '../../hub/src/roles/storage/index.ts'
import { ApiClient } from '../../hub/src/api/client.ts'
import { apiSocketPath, cookiePath } from '../../hub/src/api/local.ts'
import { cidStringFromDigest, fromHex } from '../../hub/src/core/index.ts'
import { formatLine } from '../../hub/src/ingest/line.ts'
import { readingsTopic } from '../../hub/src/ingest/mqtt.ts'
import { cli, startHubProcess } from '../helpers/hub-process.ts'

t.setTimeout(900_000)
const run = promisify(execFile)
const REPO = new URL('../../', import.meta.url).pathname
const RED = join(REPO, 'node_modules', 'node-red', 'red.js')

t.test('a stock Node-RED with the palette runs flows/hub.json against a running hub', async (t) => {
  const dir = t.testdir()
  const data = join(dir, 'data')
  const env = { ...process.env, HEALTHCHAIN_PASSPHRASE: 'palette test' }
  const storage = await StorageNode.create({ dataDir: join(dir, 'storage'), admission: openAdmission })
  t.teardown(async () => { await storage.stop() })

  t.equal((await cli(['keys', 'new', '--data-dir', data], env)).code, 0, 'keys new')
  // the hub's own Node-RED runs no flow: the stock one below carries the pipeline
  await mkdir(join(data, 'node-red'), { recursive: true })
  await writeFile(join(data, 'node-red', 'flows.json'), '[]')
  const hub = await startHubProcess(dir, data, env, { storageNodes: [storage.ipfs.multiaddrs[0]!.toString()], replication: 1, api: {} })
  t.teardown(async () => { await hub.stop() })
  const mqttPort = Number(/MQTT broker\s+port (\d+)/.exec(hub.out())![1])
  // the hub's first start published key epoch 1; a rotation through the API makes epoch 2, the one batches are then sealed under
  const rotated = await cli(['keys', 'rotate', '--data-dir', data, '--json'], env)
  t.equal(rotated.code, 0, 'a key rotation, through the API')
  const held = (JSON.parse(rotated.stdout) as { epoch: number }).epoch
  const dev = JSON.parse((await cli(['devices', 'add', 'ox-1', '--user', hub.user, '--sensor', 'spo2', 'hr', '--data-dir', data, '--json'], env)).stdout) as { secret: string }

  // a Node-RED user dir with the palette installed from the repository
  const userDir = join(dir, 'red')
  await mkdir(userDir, { recursive: true })
  await writeFile(join(userDir, 'package.json'), JSON.stringify({ name: 'node-red-project', private: true, version: '0.0.1' }))
  const npm = await run('npm', ['install', join(REPO, 'flows', 'nodes'), '--no-audit', '--no-fund', '--offline'], { cwd: userDir, env })
  const installed = JSON.parse(await readFile(join(userDir, 'node_modules', 'node-red-contrib-healthchain', 'package.json'), 'utf8')) as { 'node-red'?: { nodes?: Record<string, string> } }
  t.ok(Object.keys(installed['node-red']?.nodes ?? {}).includes('healthchain-encrypt'), `installed with its node-red section (${npm.stdout.trim()})`)
  t.match(JSON.parse(await readFile(join(userDir, 'package.json'), 'utf8')), { dependencies: { 'node-red-contrib-healthchain': /flows\/nodes/ } }, 'listed in the user dir\'s package.json')

  // flows/hub.json as shipped, its runtime config node pointed at the hub's control API; a short batch window
  const flow = JSON.parse(await readFile(join(REPO, 'flows', 'hub.json'), 'utf8')) as Array<Record<string, unknown>>
  for (const n of flow) {
    if (n.type === 'healthchain-runtime') { n.socket = apiSocketPath(data); n.cookie = cookiePath(data) }
    if (n.type === 'healthchain-batch') n.window = 3
  }
  await writeFile(join(userDir, 'flows.json'), JSON.stringify(flow))
  await writeFile(join(userDir, 'settings.js'), 'module.exports = { uiHost: "127.0.0.1", uiPort: 0, flowFile: "flows.json", credentialSecret: false, httpAdminRoot: false }\n')
  const red = spawn(process.execPath, [RED, '--userDir', userDir, '--settings', join(userDir, 'settings.js')], { env: { ...process.env, NODE_OPTIONS: '' }, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { red.kill('SIGKILL') })
  let log = ''
  red.stdout.on('data', (b: Buffer) => { log += b.toString() })
  red.stderr.on('data', (b: Buffer) => { log += b.toString() })
  const t0 = Date.now()
  while (!/Started flows/.test(log) && red.exitCode === null && Date.now() - t0 < 180_000) await new Promise((r) => setTimeout(r, 200))
  t.match(log, /Started flows/, 'the stock Node-RED started the flow')
  t.notMatch(log, /Missing node types|Waiting for missing types/, 'every Healthchain node type is installed')

  // readings from the paired device, over MQTT to the hub
  const ox = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { username: 'ox-1', password: dev.secret, clientId: 'ox-1', reconnectPeriod: 0 })
  t.teardown(async () => { await ox.endAsync() })
  const hubId = 'hub'
  const ts = Date.now()
  for (let s = 0; s < 10; s++) await ox.publishAsync(readingsTopic(hubId, 'ox-1'), formatLine({ d: 'ox-1', b: 1, s, t: s % 2 === 0 ? 'spo2' : 'hr', v: s % 2 === 0 ? 97 : 72, ts: ts + s * 100 }).trimEnd(), { qos: 1 })

  t.equal((await cli(['miner', 'start', '--data-dir', data], env)).code, 0, 'the hub mines')
  const api = await ApiClient.forDataDir(data)
  t.teardown(() => { api.close() })
  let found: { heiot: string, epoch: number } | undefined
  let seen = 0
  const t1 = Date.now()
  while (found === undefined && Date.now() - t1 < 240_000) {
    const info = await api.call<{ height: number }>('GET', '/v1/chain/info')
    for (; seen < info.height && found === undefined; seen++) {
      const b = await api.call<{ txs: Array<{ kind: string, user?: string, heiot?: string, epoch?: number }> }>('GET', `/v1/chain/blocks/${seen + 1}`)
      const iot = b.txs.find((x) => x.kind === 'iot' && x.user === hub.user)
      if (iot !== undefined) found = { heiot: iot.heiot!, epoch: iot.epoch! }
    }
    if (found === undefined) await new Promise((r) => setTimeout(r, 1000))
  }
  await cli(['miner', 'stop', '--data-dir', data], env)
  t.ok(found, `a tx_IoT of the user on Userchain${found === undefined ? `\n--- Node-RED log:\n${log}\n--- hub:\n${hub.out()}` : ''}`)
  if (found === undefined) return
  t.equal(found.epoch, held, 'sealed under the key epoch the hub holds')
  const st = await storage.statusOf(cidStringFromDigest(fromHex('heiot', found.heiot)))
  t.equal(st?.state, 'pinned', 'the storage node holds the sealed batch it names')
  const pipelineError = /\[error\] \[healthchain-(sensor-in|batch|encrypt|ipfs-upload|tx-iot)[^\n]*/.exec(log)
  t.equal(pipelineError, null, `no node of the upload path reported an error${pipelineError === null ? '' : `: ${pipelineError[0]}`}`)
})
