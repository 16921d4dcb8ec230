/**
 * MQTT ingest through Debian's Mosquitto, started by the test with a
 * generated password file (mosquitto_passwd -b) and the ACL of
 * hub/src/ingest/mosquitto.ts: the hub's mqtt client subscribes with QoS 1;
 * a wrong password and a publish to another device's topic are refused by
 * the broker and counted by the hub from the broker's log.
 */
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { HubSubscriber, countMosquittoRefusal, readingsTopic } from '../../hub/src/ingest/mqtt.ts'
import { mosquittoAcl } from '../../hub/src/ingest/mosquitto.ts'
import { startMosquitto } from '../helpers/mosquitto.ts'
import { formatLine } from '../../hub/src/ingest/line.ts'
import type { Ingest } from '../../hub/src/ingest/pipeline.ts'
import { addDevices, killAndWait, openIngest, startHubProcess, tempDir, until } from './ingest-helpers.ts'
import { Ingest as IngestClass } from '../../hub/src/ingest/pipeline.ts'
import { ingestDbPath } from '../../hub/src/ingest/hub.ts'
import type { BatchRecord, PendingReading } from '../../hub/src/ingest/store.ts'
import { findTool, skipUnlessTools } from '../helpers/tools.ts'

const HUB = 'hub1'
const SKIP = skipUnlessTools('mosquitto', 'mosquitto_passwd')
const MOSQUITTO_PASSWD = findTool('mosquitto_passwd')

t.test('Mosquitto with password file and ACL', { skip: SKIP }, async (t) => {
  const dir = await tempDir(t, 'mosquitto')
  const ing: Ingest = await openIngest(t, dir)
  const secrets = await addDevices(ing, 'alice', [['ox-1', 'spo2'], ['hr-1', 'hr']])
  const hubUser = `hub-${HUB}`
  const hubPassword = randomBytes(18).toString('base64url')
  const passwordFile = join(dir, 'passwd')
  const aclFile = join(dir, 'acl')
  execFileSync(MOSQUITTO_PASSWD!, ['-b', '-c', passwordFile, hubUser, hubPassword])
  for (const [id, secret] of Object.entries(secrets)) execFileSync(MOSQUITTO_PASSWD!, ['-b', passwordFile, id, secret])
  await writeFile(aclFile, mosquittoAcl(HUB, hubUser))

  const { port } = await startMosquitto(t, dir, { passwordFile, aclFile }, (l) => { countMosquittoRefusal(ing, l) })
  const url = `mqtt://127.0.0.1:${port}`
  const sub = await HubSubscriber.connect(ing, { url, hubId: HUB, username: hubUser, password: hubPassword })
  t.teardown(() => sub.close())

  const device = async (username: string, password: string, protocolVersion: 4 | 5 = 4): Promise<mqtt.MqttClient> => {
    const c = mqtt.connect(url, { username, password, clientId: username, reconnectPeriod: 0, protocolVersion })
    t.teardown(() => c.end(true))
    await new Promise<void>((resolve, reject) => { c.once('connect', () => { resolve() }); c.once('error', reject) })
    return c
  }

  const ox = await device('ox-1', secrets['ox-1']!)
  for (let s = 0; s < 5; s++) await ox.publishAsync(readingsTopic(HUB, 'ox-1'), formatLine({ d: 'ox-1', b: 3, s, t: 'spo2', v: 96, ts: s }).trimEnd(), { qos: 1 })
  await until(() => ing.counters.accepted === 5, 20_000, '5 readings through mosquitto')
  t.equal(ing.pendingCount('alice'), 5, 'all five readings stored for the device\'s user')

  await t.rejects(device('ox-1', 'wrong'), /Not authorized/i, 'wrong secret refused by the broker')
  await until(() => (ing.counters.dropped.ERR_AUTH ?? 0) === 1, 20_000, 'auth refusal counted')
  t.equal(ing.counters.dropped.ERR_AUTH, 1, 'wrong credentials counted')

  const hr = await device('hr-1', secrets['hr-1']!, 5)
  await t.rejects(hr.publishAsync(readingsTopic(HUB, 'ox-1'), formatLine({ d: 'hr-1', b: 1, s: 0, t: 'hr', v: 70, ts: 0 }).trimEnd(), { qos: 1 }), /Not authorized/i,
    'publishing to another device\'s topic refused (PUBACK reason 135)')
  await until(() => (ing.counters.dropped.ERR_ACL ?? 0) === 1, 20_000, 'ACL refusal counted')
  t.equal(ing.registry.get('hr-1')!.dropped.ERR_ACL, 1, 'counted against the offending device')

  // its own topic works
  await hr.publishAsync(readingsTopic(HUB, 'hr-1'), formatLine({ d: 'hr-1', b: 1, s: 0, t: 'hr', v: 70, ts: 0 }).trimEnd(), { qos: 1 })
  await until(() => ing.counters.accepted === 6, 20_000, 'hr-1 reading')
  t.equal(ing.registry.get('hr-1')!.accepted, 1)
  t.equal(ing.registry.get('ox-1')!.accepted, 5, 'nothing of hr-1 landed on ox-1')
})

t.test('hub SIGKILLed behind Mosquitto: its persistent QoS 1 session redelivers, nothing lost or doubled', { skip: SKIP }, async (t) => {
  const dir = await tempDir(t, 'mosquitto-crash')
  const secrets: Record<string, string> = {}
  {
    const ing = await IngestClass.open(ingestDbPath(dir))
    for (const d of ['ox-1', 'ox-2', 'ox-3']) secrets[d] = (await ing.registry.add(d, { user: 'frank', sensors: ['spo2'] })).secret
    await ing.close()
  }
  const hubUser = `hub-${HUB}`
  const passwordFile = join(dir, 'passwd')
  const hubPasswordFile = join(dir, 'hub-password')
  const hubPassword = randomBytes(18).toString('base64url')
  await writeFile(hubPasswordFile, hubPassword + '\n', { mode: 0o600 })
  execFileSync(MOSQUITTO_PASSWD!, ['-b', '-c', passwordFile, hubUser, hubPassword])
  for (const [id, secret] of Object.entries(secrets)) execFileSync(MOSQUITTO_PASSWD!, ['-b', passwordFile, id, secret])
  await writeFile(join(dir, 'acl'), mosquittoAcl(HUB, hubUser))
  const { port } = await startMosquitto(t, dir, { passwordFile, aclFile: join(dir, 'acl') }, () => {})
  const hubArgs = ['--data-dir', dir, '--hub', HUB, '--broker-url', `mqtt://127.0.0.1:${port}`, '--broker-user', hubUser, '--broker-password-file', hubPasswordFile]
  let hub = await startHubProcess(t, hubArgs)

  const PER = 150
  const clients = await Promise.all(Object.keys(secrets).map(async (d) => {
    const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, { username: d, password: secrets[d]!, clientId: d, reconnectPeriod: 0 })
    t.teardown(() => c.end(true))
    await new Promise<void>((resolve, reject) => { c.once('connect', () => { resolve() }); c.once('error', reject) })
    return { c, d }
  }))
  const publishAll = async (from: number, to: number): Promise<void> => {
    await Promise.all(clients.map(async ({ c, d }) => {
      for (let s = from; s < to; s++) await c.publishAsync(readingsTopic(HUB, d), formatLine({ d, b: 1, s, t: 'spo2', v: 95, ts: s }).trimEnd(), { qos: 1 })
    }))
  }
  await publishAll(0, PER / 2)
  await killAndWait(hub) // SIGKILL, wherever the hub was
  await publishAll(PER / 2, PER) // Mosquitto acks and queues for the hub's session
  hub = await startHubProcess(t, hubArgs)
  // stop the hub once Mosquitto has nothing left for it: poll the store after a clean stop
  let stored = new Map<string, number>()
  const readStore = async (): Promise<void> => {
    const ing = await IngestClass.open(ingestDbPath(dir))
    stored = new Map()
    const count = (p: PendingReading): void => { const k = `${p.w.d}/${p.w.s}`; stored.set(k, (stored.get(k) ?? 0) + 1) }
    for await (const [, p] of ing.store.scan<PendingReading>('pend!')) count(p)
    for (const b of await ing.batches() as BatchRecord[]) for (const p of b.readings) count(p)
    await ing.close()
  }
  for (let round = 0; round < 40; round++) {
    await new Promise((resolve) => setTimeout(resolve, 250))
    await killAndWait(hub, 'SIGTERM')
    await readStore()
    if (stored.size >= 3 * PER) break
    hub = await startHubProcess(t, hubArgs)
  }
  t.equal(stored.size, 3 * PER, `all ${3 * PER} readings acked by Mosquitto reached the hub's store`)
  t.equal([...stored.values()].filter((n) => n > 1).length, 0, 'none stored twice')
})
