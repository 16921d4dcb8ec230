/**
 * A real hub (startHub) feeds its patient page from its own parts (paper
 * §III-B, §IV-B4): a paired device's readings, published over MQTT with the
 * device's credentials, are listed as vitals (an abnormal SpO2 raises an
 * alert), and the user's Healthcoin prepayment to the consortium account
 * named in its config is listed from its Userchain — a transfer to anyone
 * else is not. Last, the patient withdraws consent from the page: the hub
 * answers, stops and destroys its keystore and batch keys.
 */
import t from 'tap'
import mqtt from 'mqtt'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildTxCoin, NETWORKS, solveUblockHeader, toHex, txId } from '../../hub/src/core/index.ts'
import { startHub, validateHubConfig } from '../../hub/src/hub.ts'
import { CoreNode } from '../../hub/src/roles/core/node.ts'
import { ingestDbPath } from '../../hub/src/ingest/hub.ts'
import { IngestStore } from '../../hub/src/ingest/store.ts'
import { DeviceRegistry } from '../../hub/src/ingest/registry.ts'
import { readingsTopic } from '../../hub/src/ingest/mqtt.ts'
import { formatLine } from '../../hub/src/ingest/line.ts'
import type { PatientPage } from '../../hub/src/web/model.ts'
import { Client, trustCa } from '../helpers/http-client.ts'
import { seed, who } from '../helpers/core.ts'
import { saveKeystore } from '../../hub/src/store/keystore.ts'
import { refuseWithdrawn } from '../../hub/src/app/erasure.ts'
import { ApiClient } from '../../hub/src/api/client.ts'

// Node-RED keeps a login-session expiry timer (one week) that RED.stop() does not clear
t.teardown(() => { setTimeout(() => { process.exit() }, 200).unref() })

const FAKE_STORAGE = '/ip4/127.0.0.1/tcp/1/p2p/12D3KooWNMghTXJunhDMmtDsALrNukYYKisBMyzrcDPfW6DeTino'

t.test('a real hub\'s patient page shows its device\'s vitals and the user\'s prepayment', { timeout: 110_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hub-page-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const hubDir = join(dir, 'hub')
  const user = who('hub-page-user')
  const consortium = who('hub-page-consortium')
  const someone = who('hub-page-someone')

  // the user's Userchain as the hub finds it: a mined reward, then a prepayment to the consortium and a transfer to someone else
  const core = await CoreNode.open({ dir: join(hubDir, 'userchain', 'devnet'), params: NETWORKS.devnet })
  const mine = async (): Promise<void> => {
    const tpl = core.template(user.id)
    const r = await core.submitBlock({ header: solveUblockHeader(tpl.header, 100_000_000)!, txs: tpl.txs })
    t.ok(r.accepted, 'a Ublock mined')
  }
  await mine()
  const prepay = buildTxCoin(user, { to: consortium.id, amount: 300_000, fee: 0, nonce: 0 })
  const other = buildTxCoin(user, { to: someone.id, amount: 5, fee: 0, nonce: 1 })
  for (const tx of [prepay, other]) { const r = await core.submitTx(tx); t.ok(r.accepted, `coin admitted${r.accepted ? '' : `: ${r.reason}`}`) }
  await mine()
  await core.close()

  // a device paired as `healthchain devices add` does
  const store = await IngestStore.open(ingestDbPath(hubDir))
  const { secret } = await (await DeviceRegistry.load(store)).add('ox-1', { user: toHex(user.id), sensors: ['spo2', 'hr'] })
  await store.close()

  const cfg = validateHubConfig({
    dataDir: hubDir, network: 'devnet', listen: ['/ip4/127.0.0.1/tcp/0'], mine: false, hubId: 'hub-page',
    storageNodes: [FAKE_STORAGE], replication: 1, broker: { embedded: { host: '127.0.0.1', port: 0 } }, http: { host: '127.0.0.1', port: 0 }, editor: { host: '127.0.0.1', port: 0 },
    consortium: toHex(consortium.id)
  }, dir)
  // the keystore `keys new` leaves in the data dir (a withdrawal destroys it)
  await saveKeystore(join(hubDir, 'keystore.json'), seed('hub-page-user'), 'hub page passphrase', { scrypt: { N: 2 ** 10, r: 8, p: 1 } })
  let withdrawn!: () => void
  const stoppedByWithdrawal = new Promise<void>((resolve) => { withdrawn = resolve })
  const hub = await startHub(cfg, user, () => undefined, { log: () => {}, onWithdrawn: () => { withdrawn() } })
  t.teardown(hub.stop)
  trustCa(hub.tls!.ca!) // over HTTPS, as a browser that imported the hub's CA
  const c = new Client(hub.urls.patient.replace(/\/$/, ''))
  const csrf = await c.login(hub.logins.web!.username, hub.logins.web!.password)
  const page = async (): Promise<PatientPage> => {
    const r = await c.req('GET', '/api/patient')
    t.equal(r.status, 200)
    return r.json() as PatientPage
  }
  const before = await page()
  t.same(before.readings, [], 'no vitals before the device publishes')

  const ox = await mqtt.connectAsync(`mqtt://127.0.0.1:${hub.mqttPort}`, { username: 'ox-1', password: secret, clientId: 'ox-1', reconnectPeriod: 0 })
  t.teardown(async () => { await ox.endAsync() })
  const ts = Date.now()
  for (let s = 0; s < 6; s++) await ox.publishAsync(readingsTopic('hub-page', 'ox-1'), formatLine({ d: 'ox-1', b: 1, s, t: 'spo2', v: 85, ts: ts + s * 1000 }).trimEnd(), { qos: 1 })

  const p = await page()
  t.equal(p.readings.length, 6, 'the six readings acknowledged over MQTT are listed')
  t.match(p.readings[0], { device: 'ox-1', type: 'spo2', value: 85, unit: '%' }, 'as the device sent them')
  t.ok(p.alerts.some((a) => a.severity !== 'routine'), `an SpO2 of 85 % raises an alert (${JSON.stringify(p.alerts)})`)
  t.same(p.payments, [{ id: toHex(txId(prepay)), to: toHex(consortium.id), amount: 300_000, fee: 0, confirmed: true }], 'the prepayment to the consortium, confirmed; not the other transfer')
  t.same(p.available, [], 'no registered doctors without a Docchain to fold them from')

  // the FHIR API beside the page, over the same HTTPS listener and behind the same login (here its session cookie)
  const cap = await c.req('GET', '/fhir/metadata')
  t.match(cap.json(), { resourceType: 'CapabilityStatement', fhirVersion: '4.0.1' }, 'the hub serves FHIR at /fhir')
  const fhirPatient = await c.req('GET', `/fhir/Patient/${toHex(user.id)}`)
  t.match({ status: fhirPatient.status, body: fhirPatient.json() }, { status: 200, body: { resourceType: 'Patient', id: toHex(user.id) } }, 'its user as a FHIR Patient, with the page\'s session')
  t.equal((await fetch(`${hub.urls.patient}fhir/Patient/${toHex(user.id)}`)).status, 401, 'and nothing without a login')

  // the service layer the page is built on (and a control API exposes as it is)
  const st = await hub.service.status()
  t.match(st, { user: toHex(user.id), network: 'devnet', mining: false, docchain: null, devices: 1, userchain: { height: 2 } }, 'the hub\'s status from its service layer')
  t.same((await hub.service.patient.page()).payments, p.payments, 'the page shows what the service answers')

  // withdrawing consent from the page: refused unless confirmed; then the storage nodes are asked, the hub stops and destroys its keys
  t.match(await c.req('GET', '/patient'), { text: /Withdraw consent and erase[\s\S]*cannot be undone/ }, 'the page warns')
  // the control API's view of the same service
  const api = await ApiClient.forDataDir(hubDir)
  t.teardown(() => { api.close() })
  t.same(await api.call('GET', '/v1/erasure'), { withdrawn: null }, 'GET /v1/erasure: not withdrawn')
  await t.rejects(api.call('POST', '/v1/erasure', { confirm: false }), { code: 'ERR_WITHDRAWAL_UNCONFIRMED' }, 'POST /v1/erasure refuses without confirm')
  const json = { accept: 'application/json' }
  t.match((await c.req('POST', '/patient/erasure', { _csrf: csrf, confirm: 'on', words: 'yes' }, json)).json(), { error: 'ERR_WITHDRAWAL_UNCONFIRMED' }, 'not without the words typed')
  t.ok(existsSync(join(hubDir, 'keystore.json')), 'and nothing destroyed')
  const w = await c.req('POST', '/patient/erasure', { _csrf: csrf, confirm: 'on', words: 'destroy my data' }, json)
  t.match(w.json(), { ok: true, docchain: null, storage: [{ node: FAKE_STORAGE, error: /./ }] }, 'withdrawn; the unreachable storage node is named')
  await stoppedByWithdrawal
  t.notOk(existsSync(join(hubDir, 'keystore.json')), 'the keystore is destroyed')
  t.notOk(existsSync(join(hubDir, 'batch-keys')), 'and the batch keys')
  await t.rejects(refuseWithdrawn(hubDir), { code: 'ERR_WITHDRAWN_DATA_DIR' }, 'the data dir is refused at the next start')

  // regression hub-mines-with-mine-false: the shipped flow's boot-time "start mining" inject started the
  // miner whatever the config said; a hub configured not to mine must leave Userchain where it found it
  await hub.stop()
  const after = await CoreNode.open({ dir: join(hubDir, 'userchain', 'devnet'), params: NETWORKS.devnet })
  t.equal(after.store.height, 2, 'a hub with "mine": false mined no block')
  await after.close()
})
