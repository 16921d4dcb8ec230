/**
 * The hub's shipped flow is the data path (DESIGN §8; paper Alg. 1–2):
 * devices publish readings to the hub's MQTT broker → ingest (device auth,
 * CRC, replay guard) → Node-RED loaded from flows/hub.json: sensor in →
 * batch → encrypt (AES-256-GCM, current epoch) → ipfs upload (2 storage
 * nodes acknowledge over libp2p) → tx iot → the core node's mempool → a
 * Ublock the miner (started as the hub starts it) finds. The tx_IoT's batch, fetched
 * from a storage node, decrypts to exactly the published readings. Then an
 * edited flow deployed through the admin HTTP API (logged in) drops
 * temperature readings, and the next confirmed batch has none.
 */
import t from 'tap'
import mqtt from 'mqtt'
import { randomBytes } from 'node:crypto'
import { DEVNET, cidStringFromDigest, digestFromCidString, openBatch, toHex, txId, verifyTx, type Tx, type TxIoT } from '../../hub/src/core/index.ts'
import { CoreNode } from '../../hub/src/roles/core/node.ts'
import { Miner } from '../../hub/src/roles/core/miner.ts'
import { UserKeys } from '../../hub/src/roles/user/keys.ts'
import { startIngestService } from '../../hub/src/ingest/hub.ts'
import { readingsTopic } from '../../hub/src/ingest/mqtt.ts'
import { formatLine, readingToWire, parseLine, type SensorType } from '../../hub/src/ingest/line.ts'
import { startNodeRed } from '../../hub/src/nodered/embed.ts'
import { hubRuntime } from '../../hub/src/nodered/wire.ts'
import { TxRejectedError } from '../../hub/src/nodered/errors.ts'
import { decodeBatch } from '../../hub/src/nodered/batcher.ts'
import type { HealthchainRuntime, SensorReading, Submitted } from '../../hub/src/nodered/runtime.ts'
import { addr, ipfsNode, storageNode, tempDir } from '../helpers/ipfs.ts'
import { who } from '../helpers/core.ts'

const HUB = 'hub1'
const USER = 'alice'
const rng = (n: number): Uint8Array => new Uint8Array(randomBytes(n))

t.plan(1)
// Node-RED keeps a login-session expiry timer that RED.stop() does not clear.
t.teardown(() => { setTimeout(() => { process.exit() }, 200).unref() })

async function until (cond: () => boolean, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

t.test('readings over MQTT become a confirmed tx_IoT through the shipped flow; a flow deployed via the admin API changes what is sealed', async (t) => {
  const dir = await tempDir(t, 'nodered-hub')
  const user = who('nodered-hub-user')
  // storage nodes and the hub's IPFS node (real Helia/libp2p on loopback)
  const s1 = await storageNode(t, `${dir}/s1`)
  const s2 = await storageNode(t, `${dir}/s2`)
  const hubIpfs = await ipfsNode(t, `${dir}/ipfs`)
  // core user node + miner (DEVNET difficulty, one thread)
  const core = await CoreNode.open({ dir: `${dir}/chain`, params: DEVNET, verifyThreads: 1 })
  const miner = new Miner(core, { miner: user.id, threads: 1, refreshMs: 300 })
  // ingest with the embedded broker; three devices of the user
  const ingest = await startIngestService({ dataDir: dir, hubId: HUB, mqttPort: 0, mqttHost: '127.0.0.1', sync: false })
  const secrets: Record<string, string> = {}
  for (const [id, sensor] of [['ox-1', 'spo2'], ['hr-1', 'hr'], ['th-1', 'temp']] as Array<[string, SensorType]>) {
    secrets[id] = (await ingest.ingest.registry.add(id, { user: USER, sensors: [sensor] })).secret
  }

  const keys = new UserKeys(user, { rng, now: () => core.now(), directory: { lookup: () => undefined } })
  const first = await core.submitTx(keys.init())
  t.ok(first.accepted, 'the first tx_key is in the mempool')
  const base = hubRuntime({ identity: user, keys, core, miner, ipfs: hubIpfs, storageNodes: [addr(s1), addr(s2)], replication: 2, ingest: ingest.ingest, user: USER, rng })
  const txs = base.txs!
  // observe what the flow submits and how many readings subscriptions are live
  const submitted: Tx[] = []
  let subscribers = 0
  const rt: HealthchainRuntime = {
    ...base,
    readings: { subscribe: (r, e) => { subscribers++; const off = base.readings!.subscribe(r, e); return () => { subscribers--; off() } } },
    txs: { submit: async (tx): Promise<Submitted> => { const r = await txs.submit(tx); submitted.push(tx); return r }, confirmed: txs.confirmed! }
  }
  const printed: string[] = []
  const red = await startNodeRed({ dataDir: dir, runtimes: { hub: rt }, port: 0, print: (l) => printed.push(l), logLevel: 'warn' })
  t.teardown(async () => {
    await red.stop()
    await miner.close()
    await ingest.close()
    await core.close()
  })
  t.equal(subscribers, 1, 'the shipped flow subscribed to the hub readings')
  // the hub starts its miner from its config ("mine": true); the flow's "start mining" inject is a button
  await rt.miner!.start()
  t.ok(rt.miner!.status().running, 'the miner runs')

  // log in to the admin API
  const tokRes = await fetch(`${red.adminUrl}/auth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ client_id: 'node-red-admin', grant_type: 'password', scope: '*', username: red.created!.username, password: red.created!.password }) })
  t.equal(tokRes.status, 200)
  const auth = { authorization: `Bearer ${(await tokRes.json() as { access_token: string }).access_token}` }

  const devices: Record<string, mqtt.MqttClient> = {}
  for (const id of Object.keys(secrets)) {
    devices[id] = await mqtt.connectAsync(ingest.broker!.url, { username: id, password: secrets[id]!, clientId: id, reconnectPeriod: 0 })
  }
  t.teardown(async () => { for (const c of Object.values(devices)) await c.endAsync(true) })
  const seq: Record<string, number> = { 'ox-1': 0, 'hr-1': 0, 'th-1': 0 }
  const publish = async (d: string, type: SensorType, v: number): Promise<SensorReading> => {
    const line = formatLine({ d, b: 1, s: seq[d]!++, t: type, v, ts: Date.now() % 1e9 })
    await devices[d]!.publishAsync(readingsTopic(HUB, d), line.trimEnd(), { qos: 1 })
    return readingToWire(parseLine(line))
  }
  const batchStatus: string[] = []
  const events = (red.RED as unknown as { events: { on: (e: string, cb: (x: { id: string, status: { text?: string } }) => void) => void } }).events
  events.on('node-status', (x) => { if (x.id === 'hub-batch' && x.status.text !== undefined) batchStatus.push(x.status.text) })

  /** Publishes, waits until the batch node holds them, closes the batch (admin API inject), returns the confirmed tx_IoT. */
  const roundTrip = async (send: Array<[string, SensorType, number]>, expectPending: number): Promise<{ sent: SensorReading[], tx: TxIoT, height: number }> => {
    const sent: SensorReading[] = []
    for (const [d, ty, v] of send) sent.push(await publish(d, ty, v))
    await until(() => batchStatus.at(-1)?.startsWith(`${expectPending} pending`) === true, `${expectPending} readings in the batch node`)
    const before = submitted.length
    const inj = await fetch(`${red.adminUrl}/inject/hub-flush`, { method: 'POST', headers: auth })
    t.equal(inj.status, 200, 'close-batch inject through the admin API')
    await until(() => submitted.slice(before).some((x) => x.kind === 'iot'), 'a tx_IoT to be submitted')
    const tx = submitted.slice(before).find((x): x is TxIoT => x.kind === 'iot')!
    const c = await txs.confirmed!(toHex(txId(tx)))
    return { sent, tx, height: c.height }
  }

  // 1. the shipped flow
  const one = await roundTrip([['ox-1', 'spo2', 97], ['hr-1', 'hr', 72], ['th-1', 'temp', 36.8], ['ox-1', 'spo2', 96], ['th-1', 'temp', 37.1], ['hr-1', 'hr', 75]], 6)
  t.ok(verifyTx(one.tx))
  t.same(one.tx.user, user.id)
  t.equal(one.tx.epoch, 1)
  t.ok(one.height >= 1, `confirmed in Ublock ${one.height}`)
  t.ok(core.store.isConfirmed(txId(one.tx)), 'on the best chain')
  const cid = cidStringFromDigest(one.tx.heiot)
  const sealed = await s1.ipfs.getLocal(cid)
  t.ok(sealed !== undefined && (await s2.ipfs.getLocal(cid)) !== undefined, 'both storage nodes hold the batch')
  t.same(digestFromCidString(cid), one.tx.heiot)
  await t.rejects(txs.submit(one.tx), TxRejectedError, 'the mempool refuses a confirmed tx_IoT again')
  const plain = decodeBatch(openBatch(keys.epoch(1).ik, user.id, 1, sealed!))
  const withoutAt = (rs: readonly SensorReading[]): SensorReading[] => rs.map(({ at: _at, ...w }) => w)
  t.same(withoutAt(plain), one.sent, 'the batch decrypts to exactly the published readings')
  t.ok(plain.every((r) => typeof r.at === 'number' && Math.abs(r.at - Date.now()) < 300_000), 'each stamped with the hub\'s receive time')

  // 2. deploy an edited flow through the admin API: drop temperature readings
  const got = await fetch(`${red.adminUrl}/flows`, { headers: { ...auth, 'Node-RED-API-Version': 'v2' } })
  const { flows, rev } = await got.json() as { flows: Array<Record<string, unknown>>, rev: string }
  const sensor = flows.find((n) => n.id === 'hub-sensor-in')!
  sensor.wires = [['hub-drop-temp']]
  flows.push({ id: 'hub-drop-temp', type: 'switch', z: sensor.z, name: 'drop temperature', property: 'payload.t', propertyType: 'msg', rules: [{ t: 'neq', v: 'temp', vt: 'str' }], checkall: 'true', repair: false, outputs: 1, x: 230, y: 60, wires: [['hub-batch']] })
  const noAuth = await fetch(`${red.adminUrl}/flows`, { method: 'POST', headers: { 'content-type': 'application/json', 'Node-RED-API-Version': 'v2' }, body: JSON.stringify({ flows, rev }) })
  t.equal(noAuth.status, 401, 'deploying without login is refused')
  const dep = await fetch(`${red.adminUrl}/flows`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json', 'Node-RED-API-Version': 'v2', 'Node-RED-Deployment-Type': 'full' }, body: JSON.stringify({ flows, rev }) })
  t.equal(dep.status, 200, 'deployed')
  await until(() => subscribers === 1 && (red.RED as unknown as { nodes: { getNode: (id: string) => unknown } }).nodes.getNode('hub-drop-temp') != null, 'the new flow to run')
  batchStatus.length = 0
  const two = await roundTrip([['th-1', 'temp', 38.2], ['ox-1', 'spo2', 95], ['hr-1', 'hr', 80], ['th-1', 'temp', 38.4], ['ox-1', 'spo2', 94]], 3)
  const sealed2 = await s2.ipfs.getLocal(cidStringFromDigest(two.tx.heiot))
  const plain2 = decodeBatch(openBatch(keys.epoch(two.tx.epoch).ik, user.id, two.tx.epoch, sealed2!))
  t.equal(plain2.filter((r) => r.t === 'temp').length, 0, 'no temperature reading in the next batch')
  t.same(withoutAt(plain2), two.sent.filter((r) => r.t !== 'temp'), 'exactly the other readings')
  t.ok(two.height >= one.height, `confirmed in Ublock ${two.height}`)
})
