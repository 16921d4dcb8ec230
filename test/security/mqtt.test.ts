/**
 * Bad devices and people on the LAN against the hub's embedded MQTT broker
 * (threat model in test/README.md: devices authenticate and publish only
 * their own topic). What test/integration/ingest-aedes.test.ts and
 * ingest-mosquitto.test.ts already pin (a wrong secret, an unknown device,
 * publishing on another device's topic, a replayed reading) is not repeated;
 * this file adds: every form of wrong credentials and a bounded flood of
 * them; subscribing to another device's (or another user's) readings, with
 * wildcards, shared subscriptions or $SYS; a last-will message aimed at
 * another device's topic. Each is refused and counted, nothing reaches the
 * eavesdropper or the victim's readings, and the devices keep being served.
 */
import t from 'tap'
import mqtt from 'mqtt'
import type { IClientOptions, MqttClient } from 'mqtt'
import { EmbeddedBroker, readingsTopic } from '../../hub/src/ingest/mqtt.ts'
import { formatLine } from '../../hub/src/ingest/line.ts'
import { addDevices, openIngest, sleep, tempDir, until } from '../integration/ingest-helpers.ts'

const HUB = 'sec-hub'
const line = (d: string, s: number, t: 'spo2' | 'hr', v: number): string => formatLine({ d, b: 1, s, t, v, ts: s * 1000 }).trimEnd()

t.test('MQTT: wrong credentials, foreign subscriptions and wills are refused and counted; devices keep being served', async (t) => {
  const dir = await tempDir(t, 'sec-mqtt')
  const ing = await openIngest(t, dir)
  const alice = await addDevices(ing, 'alice', [['ox-1', 'spo2']])
  const bob = await addDevices(ing, 'bob', [['hr-1', 'hr']])
  const broker = await EmbeddedBroker.start(ing, { hubId: HUB, port: 0 })
  t.teardown(() => broker.close())
  const auth = (): number => ing.counters.dropped.ERR_AUTH ?? 0
  const acl = (): number => ing.counters.dropped.ERR_ACL ?? 0

  const connect = async (opts: IClientOptions): Promise<MqttClient> => {
    const c = mqtt.connect(broker.url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts })
    t.teardown(() => c.end(true))
    await new Promise<void>((resolve, reject) => {
      c.once('connect', () => { resolve() })
      c.once('error', reject)
      c.once('close', () => { reject(new Error('closed by the broker before CONNACK (not authorized)')) })
    })
    return c
  }
  const ox = await connect({ username: 'ox-1', password: alice['ox-1']!, clientId: 'ox-1' })
  let seq = 0
  const served = async (what: string): Promise<void> => {
    const before = ing.registry.get('ox-1')!.accepted
    await ox.publishAsync(readingsTopic(HUB, 'ox-1'), line('ox-1', seq++, 'spo2', 97), { qos: 1 })
    t.equal(ing.registry.get('ox-1')!.accepted, before + 1, `${what}: ox-1's next reading is stored`)
  }
  await served('before')

  // 1. wrong credentials in every form: all refused with "bad username or password", each counted
  const bad: Array<[string, IClientOptions, number?]> = [
    ['a wrong secret', { username: 'ox-1', password: 'x'.repeat(32) }],
    ['another device\'s secret', { username: 'ox-1', password: bob['hr-1']! }],
    ['an unknown device', { username: 'ghost', password: alice['ox-1']! }],
    ['no password', { username: 'ox-1' }],
    ['a password without a user name (a protocol error: closed before authentication, not counted)', { password: alice['ox-1']! }, 0],
    ['nothing at all', {}],
    ['the hub\'s own user name with a guess', { username: `hub-${HUB}`, password: 'guess' }],
    ['an empty secret', { username: 'ox-1', password: '' }]
  ]
  for (const [what, opts, counted = 1] of bad) {
    const before = auth()
    await t.rejects(connect({ ...opts, clientId: `bad-${before}` }), /bad username or password|not authorized|closed by the broker/i, `${what}: refused`)
    t.equal(auth(), before + counted, `${what}: counted`)
  }
  // a bounded flood of wrong logins from one client
  const before = auth()
  const flood = await Promise.allSettled(Array.from({ length: 50 }, async (_, i) => await connect({ username: 'ox-1', password: `guess-${i}`, clientId: `flood-${i}` })))
  t.equal(flood.filter((r) => r.status === 'rejected').length, 50, 'a flood of 50 wrong logins: every one refused')
  t.equal(auth(), before + 50, 'and every one counted')
  await served('after the wrong logins')

  // 2. bob's device tries to read alice's readings: exact topic, wildcards, shared subscription, $SYS
  const hr = await connect({ username: 'hr-1', password: bob['hr-1']!, clientId: 'hr-1' })
  const overheard: string[] = []
  hr.on('message', (topic) => { overheard.push(topic) })
  const foreign = [readingsTopic(HUB, 'ox-1'), `healthchain/${HUB}/devices/+/readings`, `healthchain/${HUB}/#`, '#', '+/+/+/+/+', `$share/eve/healthchain/${HUB}/devices/ox-1/readings`, '$SYS/#', `healthchain/other-hub/devices/ox-1/readings`]
  const aclBefore = acl()
  for (const topic of foreign) {
    await t.rejects(hr.subscribeAsync(topic, { qos: 1 }), /Subscribe error/, `subscribing to ${topic}: refused (SUBACK 0x80)`)
  }
  t.equal(acl(), aclBefore + foreign.length, 'each refusal counted')
  t.equal(ing.registry.get('hr-1')!.dropped.ERR_ACL, foreign.length, 'against the device that tried')
  t.equal((await hr.subscribeAsync(`healthchain/${HUB}/devices/hr-1/config`, { qos: 1 }))[0]?.qos, 1, 'its own subtree may be subscribed')
  await served('while hr-1 listens')
  await sleep(200)
  t.same(overheard, [], 'hr-1 received none of ox-1\'s readings')

  // 3. a last will on another device's topic, fired by an abrupt disconnect: refused when it would be published
  const victimBefore = ing.registry.get('ox-1')!.accepted
  const willBefore = acl()
  const willer = await connect({ username: 'hr-1', password: bob['hr-1']!, clientId: 'hr-1-will', will: { topic: readingsTopic(HUB, 'ox-1'), payload: Buffer.from(line('ox-1', 900, 'spo2', 60)), qos: 1, retain: false } })
  willer.stream.destroy()
  await until(() => acl() === willBefore + 1, 10_000, 'the will refused')
  t.equal(acl(), willBefore + 1, 'the will on ox-1\'s topic was refused and counted')
  t.equal(ing.registry.get('ox-1')!.accepted, victimBefore, 'no reading was injected into ox-1')

  // the devices keep being served
  await served('after it all')
  // the client id is the device id: the will's connection replaced hr-1's first session, so hr-1 logs in again
  const hr2 = await connect({ username: 'hr-1', password: bob['hr-1']!, clientId: 'hr-1' })
  await hr2.publishAsync(readingsTopic(HUB, 'hr-1'), line('hr-1', 0, 'hr', 70), { qos: 1 })
  t.equal(ing.registry.get('hr-1')!.accepted, 1, 'hr-1\'s own reading is stored')
  t.equal(ing.pendingCount('bob'), 1, 'and filed under its own user')
})
