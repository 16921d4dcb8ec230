/**
 * The storage nodes down for a while: the production hub (startHub with the
 * shipped flows/hub.json, Node-RED, Helia, mining) keeps taking readings;
 * its batches are sealed and wait at that stage (GET /v1/status → batches),
 * and once the storage node is back (same data dir, same peer, same port)
 * every one of them is uploaded and its tx_IoT confirmed. Read back from
 * Userchain and the storage node: every acknowledged reading is in exactly
 * one confirmed batch.
 */
import t from 'tap'
import mqtt from 'mqtt'
import { join } from 'node:path'
import { formatLine } from '../../hub/src/ingest/line.ts'
import { readingsTopic } from '../../hub/src/ingest/mqtt.ts'
import { parseHubConfig, startHub, type HubStatus } from '../../hub/src/hub.ts'
import { ApiClient } from '../../hub/src/api/client.ts'
import { openAdmission, StorageNode } from '../../hub/src/roles/storage/index.ts'
import { who } from '../helpers/core.ts'
import { confirmedReadings, prepareHubDataDir, testHubConfig } from '../helpers/hub-batches.ts'
import { addr, tempDir } from '../helpers/ipfs.ts'
import { freePort, sleep, until } from '../integration/ingest-helpers.ts'

const DEVICES = ['sd-0', 'sd-1']

// a bound, not a goal: the hub's start and the mining of a few Ublocks on a loaded 2-core machine
t.setTimeout(600_000)

t.test('storage nodes down: batches wait sealed, go out once they are back; nothing lost, nothing twice', async (t) => {
  const dir = await tempDir(t, 'storage-down')
  const dataDir = join(dir, 'hub')
  const user = who('storage-down-user')
  const storePort = await freePort()
  const storeOpts = { dataDir: join(dir, 'storage'), listen: [`/ip4/127.0.0.1/tcp/${storePort}`], admission: openAdmission }
  let store: StorageNode | null = await StorageNode.create(storeOpts)
  t.teardown(async () => { await store?.stop() })
  const storeAddr = addr(store)

  const secrets = await prepareHubDataDir(dataDir, user, DEVICES)
  const mqttPort = await freePort()
  const cfg = parseHubConfig(JSON.stringify(testHubConfig(dataDir, storeAddr, mqttPort)), dir)
  let recorded = 0
  const hub = await startHub(cfg, user, () => undefined, { log: () => {}, activity: (line) => { if (line.startsWith('batch recorded')) recorded++ } })
  let stopped = false
  t.teardown(async () => { if (!stopped) await hub.stop() })
  const api = await ApiClient.forDataDir(dataDir)
  t.teardown(() => { api.close() })
  const status = async (): Promise<HubStatus['batches']> => (await api.call<HubStatus>('GET', '/v1/status')).batches
  const open = (b: HubStatus['batches']): number => b.closed + b.sealed + b.uploaded + b.tx + b.accepted

  const acked = new Set<string>()
  let sending = true
  const clients = DEVICES.map((d) => {
    const c = mqtt.connect(`mqtt://127.0.0.1:${mqttPort}`, { username: d, password: secrets[d]!, clientId: d, reconnectPeriod: 100 })
    c.on('error', () => {})
    let seq = 0
    c.once('connect', () => {
      void (async () => {
        while (sending) {
          const s = seq++
          c.publish(readingsTopic(cfg.hubId, d), formatLine({ d, b: 1, s, t: 'hr', v: 60 + (s % 30), ts: s }).trimEnd(), { qos: 1 }, (err) => { if (err == null) acked.add(`${d}/${s}`) })
          await sleep(50)
        }
      })()
    })
    return c
  })
  t.teardown(async () => { sending = false; await Promise.all(clients.map(async (c) => await c.endAsync(true))) })

  // the path works: readings reach a confirmed tx_IoT with the storage node up
  await until(async () => acked.size >= 20, 60_000, 'readings acknowledged')
  await until(() => recorded > 0, 120_000, 'a tx_IoT in a Ublock with the storage node up')
  await store.stop()
  store = null
  const stoppedAt = acked.size

  // down: batches keep closing, are sealed, and wait there
  let waiting: HubStatus['batches'] | undefined
  await until(async () => {
    const b = await status()
    if (b.sealed >= 3) waiting = b
    return waiting !== undefined
  }, 120_000, 'batches waiting sealed while the storage node is down')
  t.ok(waiting!.sealed >= 3, `GET /v1/status while the storage node is down: ${JSON.stringify(waiting)}`)
  await sleep(3000)
  const still = await status()
  t.ok(still.sealed >= waiting!.sealed && still.uploaded + still.tx === 0, `they stay sealed, none uploaded (${JSON.stringify(still)})`)
  t.ok(acked.size > stoppedAt, `readings are still acknowledged while it is down (${acked.size - stoppedAt} more)`)
  sending = false
  await Promise.all(clients.map(async (c) => await c.endAsync()))

  // back: same data dir, peer and port
  store = await StorageNode.create(storeOpts)
  t.equal(addr(store), storeAddr, 'the storage node is back under the same address')
  await until(async () => { const b = await status(); return b.pendingReadings === 0 && open(b) === 0 }, 300_000, 'every batch uploaded and confirmed')
  t.pass(`after the storage node came back: ${JSON.stringify(await status())}`)
  api.close()
  stopped = true
  await hub.stop()

  const { count, batches } = await confirmedReadings(dataDir, user, async (cid) => await store!.ipfs.get(cid))
  const lost = [...acked].filter((r) => (count.get(r) ?? 0) === 0)
  const twice = [...count].filter(([, n]) => n > 1).map(([r]) => r)
  t.same(lost, [], `every one of the ${acked.size} acknowledged readings is in one of ${batches} confirmed tx_IoT`)
  t.same(twice, [], 'no reading is in two')
})
