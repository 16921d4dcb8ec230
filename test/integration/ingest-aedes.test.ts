/**
 * MQTT ingest through the embedded aedes broker (paper §III-B): per-device
 * credentials, topic ACL, QoS 1 acks that follow the durable write, replays
 * and corrupt lines dropped and counted, event-triggered batch flush.
 */
import t from 'tap'
import mqtt from 'mqtt'
import type { MqttClient } from 'mqtt'
import { EmbeddedBroker, readingsTopic } from '../../hub/src/ingest/mqtt.ts'
import { formatLine } from '../../hub/src/ingest/line.ts'
import { keys } from '../../hub/src/ingest/store.ts'
import { addDevices, openIngest, tempDir, until } from './ingest-helpers.ts'

const HUB = 'hub1'
const line = (d: string, s: number, t: 'spo2' | 'hr', v: number): string => formatLine({ d, b: 1, s, t, v, ts: s * 1000 }).trimEnd()

t.test('embedded broker: auth, ACL, durable QoS 1, replay, event flush', async (t) => {
  const dir = await tempDir(t, 'aedes')
  const ing = await openIngest(t, dir)
  const secrets = await addDevices(ing, 'alice', [['ox-1', 'spo2'], ['hr-1', 'hr']])
  const broker = await EmbeddedBroker.start(ing, { hubId: HUB, port: 0 })
  t.teardown(() => broker.close())

  const connect = async (username: string, password: string): Promise<MqttClient> => {
    const c = mqtt.connect(broker.url, { username, password, clientId: username, reconnectPeriod: 0 })
    t.teardown(() => c.end(true))
    await new Promise<void>((resolve, reject) => { c.once('connect', () => { resolve() }); c.once('error', reject) })
    return c
  }

  // good credentials: each PUBACK comes after the reading is in LevelDB
  const ox = await connect('ox-1', secrets['ox-1']!)
  for (let s = 0; s < 3; s++) {
    await ox.publishAsync(readingsTopic(HUB, 'ox-1'), line('ox-1', s, 'spo2', 97), { qos: 1 })
    t.ok(await ing.store.get(keys.pending('alice', 'ox-1', 1, s)), `reading ${s} is durable when its PUBACK arrives`)
  }
  t.equal(ing.counters.accepted, 3)

  // wrong secret and unknown device are refused and counted
  await t.rejects(connect('ox-1', 'not-the-secret'), /Bad username or password/i)
  await t.rejects(connect('ghost', 'x'), /Bad username or password/i)
  t.equal(ing.counters.dropped.ERR_AUTH, 2, 'both refusals counted')
  t.equal(ing.registry.get('ox-1')!.dropped.ERR_AUTH, 1, 'counted on the known device too')

  // a replayed line is acked (QoS 1 redelivery is legal) but not stored twice
  await ox.publishAsync(readingsTopic(HUB, 'ox-1'), line('ox-1', 1, 'spo2', 97), { qos: 1 })
  t.equal(ing.counters.dropped.ERR_REPLAY, 1)
  t.equal(ing.pendingCount('alice'), 3)

  // corrupt line (checksum) and another device's line on its own topic: dropped, counted
  await ox.publishAsync(readingsTopic(HUB, 'ox-1'), line('ox-1', 3, 'spo2', 97).replace('"v":97', '"v":98'), { qos: 1 })
  t.equal(ing.counters.dropped.ERR_LINE_CHECKSUM, 1)
  await ox.publishAsync(readingsTopic(HUB, 'ox-1'), line('hr-1', 0, 'hr', 70), { qos: 1 })
  t.equal(ing.counters.dropped.ERR_LINE_FIELD, 1, 'a device cannot inject readings of another device')
  t.equal(ing.registry.get('hr-1')!.accepted, 0)

  // publishing to another device's topic: refused (connection closed, no ack), counted
  const hr = await connect('hr-1', secrets['hr-1']!)
  const closed = new Promise<void>((resolve) => hr.once('close', () => { resolve() }))
  let acked = false
  hr.publish(readingsTopic(HUB, 'ox-1'), line('hr-1', 0, 'hr', 70), { qos: 1 }, (err) => { if (err == null) acked = true })
  await closed
  t.equal(acked, false, 'no PUBACK for a foreign topic')
  t.equal(ing.counters.dropped.ERR_ACL, 1)
  t.equal(ing.registry.get('hr-1')!.dropped.ERR_ACL, 1)
  t.equal(ing.registry.get('hr-1')!.accepted, 0)

  // SpO2 < 90 closes alice's batch at once with everything pending
  const batch = new Promise<import('../../hub/src/ingest/store.ts').BatchRecord>((resolve) => ing.once('batch', resolve))
  await ox.publishAsync(readingsTopic(HUB, 'ox-1'), line('ox-1', 4, 'spo2', 86), { qos: 1 })
  const b = await batch
  t.equal(b.reason, 'event')
  t.same(b.readings.map((r) => r.w.s), [0, 1, 2, 4])
  t.equal(ing.pendingCount('alice'), 0)
  const stored = await ing.batches('alice')
  t.equal(stored.length, 1, 'the batch is in LevelDB')
  t.equal(await ing.store.get(keys.pending('alice', 'ox-1', 1, 0)), undefined, 'its readings left the pending set')
  await until(() => ing.registry.get('ox-1')!.accepted === 4, 5000, 'counters')
  t.ok(ing.registry.get('ox-1')!.lastSeen !== null, 'last seen recorded')
})
