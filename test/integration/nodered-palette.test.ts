/**
 * The palette in a stock Node-RED: a separate Node-RED 5 process with its
 * own user dir, the Healthchain nodes installed into it from this
 * repository as a user would (`npm install <repo>/flows/nodes`), runs the
 * shipped flows/hub.json against a running hub (`healthchain hub`, whose own
 * Node-RED runs no flow here) through the hub's control API: a paired
 * device's readings reach it, batches are sealed (in the hub: keys never
 * leave it), uploaded to a storage node, and recorded as tx_IoT on
 * Userchain; the storage node holds what the tx_IoT names.
 *
 * The batches go through the hub's durable store over the API's lease
 * stream: a consumer that sealed a batch and went away leaves it sealed,
 * and the stock Node-RED uploads those very bytes (same CID); a Node-RED
 * SIGKILLed mid-pipeline and started again leaves every acknowledged
 * reading in exactly one confirmed tx_IoT batch (decrypted and counted),
 * none twice. The batch routes refuse malformed and oversize requests with
 * the field named, and count them.
 */
import t from 'tap'
import { execFile, spawn } from 'node:child_process'
import { promisify } from 'node:util'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { MAX_SEALED_BYTES, NETWORKS, openBatch, sha256, toHex, type TxIoT } from '../../hub/src/core/index.ts'
import { cidFromDigest } from '../../hub/src/ipfs/index.ts'
import { CoreNode } from '../../hub/src/roles/core/node.ts'
import { UserKeys } from '../../hub/src/roles/user/keys.ts'
import { keyHistory } from '../../hub/src/roles/user/chain.ts'
import { openKeystore } from '../../hub/src/store/keystore.ts'
import { decodeBatch } from '../../hub/src/nodered/batcher.ts'
import { raw } from '../helpers/api-probe.ts'
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
const sleep = async (ms: number): Promise<void> => { await new Promise((r) => setTimeout(r, ms)) }

interface Red { child: ReturnType<typeof spawn>, log: () => string }

/** Starts the stock Node-RED on its user dir; resolves once its flows started. */
async function startRed (userDir: string): Promise<Red> {
  const child = spawn(process.execPath, [RED, '--userDir', userDir, '--settings', join(userDir, 'settings.js')], { env: { ...process.env, NODE_OPTIONS: '' }, stdio: ['ignore', 'pipe', 'pipe'] })
  let log = ''
  child.stdout!.on('data', (b: Buffer) => { log += b.toString() })
  child.stderr!.on('data', (b: Buffer) => { log += b.toString() })
  const t0 = Date.now()
  while (!/Started flows/.test(log) && child.exitCode === null && Date.now() - t0 < 180_000) await sleep(200)
  return { child, log: () => log }
}

t.test('a stock Node-RED with the palette runs flows/hub.json against a running hub', async (t) => {
  const dir = t.testdir()
  const data = join(dir, 'data')
  const passphrase = 'palette test'
  const env = { ...process.env, HEALTHCHAIN_PASSPHRASE: passphrase }
  const storage = await StorageNode.create({ dataDir: join(dir, 'storage'), admission: openAdmission })
  t.teardown(async () => { await storage.stop() })

  t.equal((await cli(['keys', 'new', '--data-dir', data], env)).code, 0, 'keys new')
  // the hub's own Node-RED runs no flow: the stock one below carries the pipeline
  await mkdir(join(data, 'node-red'), { recursive: true })
  await writeFile(join(data, 'node-red', 'flows.json'), '[]')
  const hub = await startHubProcess(dir, data, env, { storageNodes: [storage.ipfs.multiaddrs[0]!.toString()], replication: 1, api: {}, batchConfirmations: 2 })
  t.teardown(async () => { await hub.stop() })
  const mqttPort = Number(/MQTT broker\s+port (\d+)/.exec(hub.out())![1])
  // the hub's first start published key epoch 1; a rotation through the API makes epoch 2, the one batches are then sealed under
  const rotated = await cli(['keys', 'rotate', '--data-dir', data, '--json'], env)
  t.equal(rotated.code, 0, 'a key rotation, through the API')
  const held = (JSON.parse(rotated.stdout) as { epoch: number }).epoch
  const dev = JSON.parse((await cli(['devices', 'add', 'ox-1', '--user', hub.user, '--sensor', 'spo2', 'hr', '--data-dir', data, '--json'], env)).stdout) as { secret: string }

  // readings from the paired device, over MQTT to the hub; each one the hub acknowledged (PUBACK) is counted
  const ox = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { username: 'ox-1', password: dev.secret, clientId: 'ox-1', reconnectPeriod: 0 })
  t.teardown(async () => { await ox.endAsync() })
  const acked = new Set<string>()
  let seq = 0
  const ts = Date.now()
  const send = async (n: number, value?: (s: number) => number): Promise<void> => {
    for (let i = 0; i < n; i++) {
      const s = seq++
      const type = s % 2 === 0 ? 'spo2' : 'hr'
      await ox.publishAsync(readingsTopic('hub', 'ox-1'), formatLine({ d: 'ox-1', b: 1, s, t: type, v: value?.(s) ?? (type === 'spo2' ? 97 : 72), ts: ts + s * 100 }).trimEnd(), { qos: 1 })
      acked.add(`ox-1/${s}`)
    }
  }

  const api = await ApiClient.forDataDir(data)
  t.teardown(() => { api.close() })
  const socket = apiSocketPath(data)
  const auth = { authorization: `Bearer ${api.target.cookie}`, 'content-type': 'application/json' }
  const post = async (path: string, body: unknown): ReturnType<typeof raw> => await raw(socket, path, { method: 'POST', headers: auth, body: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body) })

  await t.test('the batch routes: a consumer that sealed a batch and went away, refusals named and counted', async (t) => {
    await send(4)
    t.match(await post('/v1/batches/close', {}), { status: 200, body: { closed: 1 } }, 'the acknowledged readings close into a batch')
    const listed = await api.call<{ batches: Array<{ id: string, stage: string, readings: number }> }>('GET', '/v1/batches')
    t.match(listed.batches, [{ stage: 'closed', readings: 4 }], 'listed, closed, with its 4 readings')
    const id = listed.batches[0]!.id
    const at = (step: string): string => `/v1/batches/${encodeURIComponent(id)}/${step}`
    const before = await api.call<{ refused: Record<string, number>, errors: number }>('GET', '/v1/api')
    t.match(await post(at('uploaded'), { cid: 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy' }), { status: 409, body: { error: 'ERR_BATCH_STAGE', message: /closed: sealing first/ } }, 'uploaded before sealed: refused')
    t.match(await post(at('record'), { heiot: 'ab'.repeat(32), epoch: held }), { status: 409, body: { error: 'ERR_BATCH_STAGE' } }, 'a tx_IoT before the upload: refused')
    t.match(await post(`/v1/batches/${encodeURIComponent(`batch!${hub.user}!${'0'.repeat(15)}9`)}/sealed`, { sealed: 'AAAA', epoch: held }), { status: 404, body: { error: 'ERR_UNKNOWN_BATCH' } }, 'a batch that is not open: 404')
    t.match(await post('/v1/batches/not-a-batch/sealed', { sealed: 'AAAA', epoch: held }), { status: 400, body: { field: 'params.id', message: /batch id/ } }, 'a bad batch id is named')
    t.match(await post(at('sealed'), { sealed: '*not base64*', epoch: held }), { status: 400, body: { field: 'body.sealed', message: /base64/ } }, 'sealed bytes that are not base64')
    t.match(await post(at('sealed'), { sealed: 'AAAA', epoch: 0 }), { status: 400, body: { field: 'body.epoch' } }, 'a key epoch 0')
    t.match(await post(at('sealed'), { sealed: 'AAAA', epoch: held, extra: 1 }), { status: 400, body: { field: 'body.extra', message: /unknown field/ } }, 'an unknown field')
    t.match(await post(at('sealed'), { sealed: 'A'.repeat((Math.ceil(MAX_SEALED_BYTES / 3) * 4) + 4), epoch: held }), { status: 400, body: { field: 'body.sealed', message: `at most ${MAX_SEALED_BYTES} bytes` } }, 'sealed bytes over the 1 MiB sealed-batch limit')
    const after = await api.call<{ refused: Record<string, number>, errors: number }>('GET', '/v1/api')
    const grew = (k: string): number => (after.refused[k] ?? 0) - (before.refused[k] ?? 0)
    t.same([grew('refused'), grew('malformed'), after.errors - before.errors], [3, 5, 0], 'counted: 3 refused by the store, 5 malformed, no failure')

    // a consumer's lease stream: the snapshot of open batches, then the batch leased to it with its readings
    const lines: Array<Record<string, unknown>> = []
    const end = api.stream('/v1/batches/lease', (j) => { lines.push(j as Record<string, unknown>) }, () => {})
    const t0 = Date.now()
    while (lines.length < 2 && Date.now() - t0 < 10_000) await sleep(50)
    t.match(lines[0], { open: [id] }, 'the lease stream opens with the open batch ids')
    const leased = lines[1]?.batch as { id: string, readings: unknown[] } | undefined
    t.match(leased, { id, reason: 'manual' }, 'then the batch, leased to it')
    t.equal(leased?.readings.length, 4, 'with its readings')
    // it seals (in the hub: keys never leave it) and records the sealed bytes; a second seal is a second nonce: refused in effect
    const seal = async (): Promise<string> => (await api.call<{ sealed: string }>('POST', '/v1/pipeline/seal', { readings: leased!.readings })).sealed
    const first = await seal()
    t.match(await post(at('sealed'), { sealed: first, epoch: held }), { status: 200, body: { sealed: first, epoch: held } }, 'sealed bytes recorded')
    const second = await seal()
    t.not(second, first, 'sealing again gives other bytes (a fresh nonce)…')
    t.match(await post(at('sealed'), { sealed: second, epoch: held }), { status: 200, body: { sealed: first } }, '…which the store does not take: it answers the first bytes')
    // …and the consumer goes away before uploading: its lease ends with its connection
    end()
    sealedFirst = { id, digest: toHex(sha256(new Uint8Array(Buffer.from(first, 'base64')))) }
  })

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
  let red = await startRed(userDir)
  const logs: string[] = []
  t.teardown(() => { red.child.kill('SIGKILL') })
  t.match(red.log(), /Started flows/, 'the stock Node-RED started the flow')
  t.notMatch(red.log(), /Missing node types|Waiting for missing types/, 'every Healthchain node type is installed')

  await send(10)
  t.equal((await cli(['miner', 'start', '--data-dir', data], env)).code, 0, 'the hub mines')
  const txIoTs = async (): Promise<Array<{ heiot: string, epoch: number }>> => {
    const info = await api.call<{ height: number }>('GET', '/v1/chain/info')
    const out: Array<{ heiot: string, epoch: number }> = []
    for (let h = 1; h <= info.height; h++) {
      const b = await api.call<{ txs: Array<{ kind: string, user?: string, heiot?: string, epoch?: number }> }>('GET', `/v1/chain/blocks/${h}`)
      for (const x of b.txs) if (x.kind === 'iot' && x.user === hub.user) out.push({ heiot: x.heiot!, epoch: x.epoch! })
    }
    return out
  }
  let found: Array<{ heiot: string, epoch: number }> = []
  const t1 = Date.now()
  while (found.length === 0 && Date.now() - t1 < 240_000) { found = await txIoTs(); if (found.length === 0) await sleep(1000) }
  t.ok(found.length > 0, `a tx_IoT of the user on Userchain${found.length > 0 ? '' : `\n--- Node-RED log:\n${red.log()}\n--- hub:\n${hub.out()}`}`)
  if (found.length === 0) return
  t.equal(found[0]!.epoch, held, 'sealed under the key epoch the hub holds')
  const st = await storage.statusOf(cidStringFromDigest(fromHex('heiot', found[0]!.heiot)))
  t.equal(st?.state, 'pinned', 'the storage node holds the sealed batch it names')

  // SIGKILL mid-pipeline: readings (a desaturation among them closes its batch at once), the kill as soon as a batch is between sealed and accepted
  await send(12, (s) => s % 2 === 0 ? (s % 6 === 0 ? 88 : 96) : 75)
  let stage = 'none seen'
  const t2 = Date.now()
  while (Date.now() - t2 < 20_000) {
    const open = (await api.call<{ batches: Array<{ stage: string }> }>('GET', '/v1/batches')).batches.find((b) => b.stage === 'sealed' || b.stage === 'uploaded' || b.stage === 'tx')
    if (open !== undefined) { stage = open.stage; break }
    await sleep(20)
  }
  red.child.kill('SIGKILL')
  await new Promise((r) => red.child.once('exit', r))
  logs.push(red.log())
  t.comment(`Node-RED SIGKILLed with a batch ${stage}`)
  // the hub acknowledges readings while no Node-RED runs
  await send(6)
  red = await startRed(userDir)
  t.match(red.log(), /Started flows/, 'the stock Node-RED started again')
  await send(4)

  // mined until the store is empty: every batch confirmed (k blocks deep) and no reading left pending
  const t3 = Date.now()
  let left = { batches: -1, pending: -1 }
  while (Date.now() - t3 < 300_000) {
    const st = await api.call<{ batches: { pendingReadings: number } }>('GET', '/v1/status')
    const open = (await api.call<{ batches: unknown[] }>('GET', '/v1/batches')).batches.length
    left = { batches: open, pending: st.batches.pendingReadings }
    if (open === 0 && st.batches.pendingReadings === 0) break
    await sleep(1000)
  }
  t.same(left, { batches: 0, pending: 0 }, 'every batch confirmed, no reading pending')
  await cli(['miner', 'stop', '--data-dir', data], env)
  logs.push(red.log())
  const pipelineError = /\[error\] \[healthchain-(sensor-in|batch|encrypt|ipfs-upload|tx-iot)[^\n]*/.exec(logs.join('\n'))
  t.equal(pipelineError, null, `no node of the upload path reported an error${pipelineError === null ? '' : `: ${pipelineError[0]}`}`)
  red.child.kill('SIGKILL')
  t.equal(await hub.stop(), 0, 'the hub stops')

  // every tx_IoT of the user on the best chain, fetched from the storage node and decrypted under its epoch's key
  const user = await openKeystore(join(data, 'keystore.json'), passphrase)
  const core = await CoreNode.open({ dir: join(data, 'userchain', 'devnet'), params: NETWORKS.devnet, verifyThreads: 1 })
  const count = new Map<string, number>()
  const heiots: string[] = []
  try {
    const keys = UserKeys.fromChain(user, await keyHistory(core.store, null, user.id), { rng: (n) => new Uint8Array(randomBytes(n)), now: () => 0, directory: { lookup: () => undefined } })
    for (const loc of await core.store.userTxs(user.id)) {
      const tx = (await core.store.getBlock(core.store.hashAt(loc.height)!))!.txs[loc.pos]!.tx
      if (tx.kind !== 'iot') continue
      const iot = tx as TxIoT
      heiots.push(toHex(iot.heiot))
      const sealed = await storage.ipfs.get(cidFromDigest(iot.heiot))
      for (const r of decodeBatch(openBatch(keys.epoch(iot.epoch).ik, user.id, iot.epoch, sealed))) count.set(`${r.d}/${r.s}`, (count.get(`${r.d}/${r.s}`) ?? 0) + 1)
    }
  } finally { await core.close() }
  const lost = [...acked].filter((r) => (count.get(r) ?? 0) === 0)
  const twice = [...count].filter(([, n]) => n > 1).map(([r]) => r)
  t.equal(acked.size, seq, `${acked.size} readings acknowledged`)
  t.same(lost, [], `every acknowledged reading is in a confirmed tx_IoT batch (${heiots.length} decrypted)`)
  t.same(twice, [], 'none in two batches')
  t.ok(sealedFirst !== undefined && heiots.includes(sealedFirst.digest), 'the batch a consumer sealed and left was uploaded with those very bytes (its tx_IoT names their digest)')
})

let sealedFirst: { id: string, digest: string } | undefined
