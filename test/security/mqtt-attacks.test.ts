/**
 * Attacks on the hub's MQTT broker from the LAN, each against the real
 * broker: the embedded aedes behind its fixed-header guard and caps
 * (hub/src/ingest/mqtt.ts, mqtt-guard.ts), and Debian's Mosquitto with the
 * config hub/src/ingest/mosquitto.ts generates.
 */
import t from 'tap'
import { connect as netConnect, type Socket } from 'node:net'
import { randomBytes } from 'node:crypto'
import mqtt from 'mqtt'
import type { IClientOptions, MqttClient } from 'mqtt'
import { EmbeddedBroker, HubSubscriber, readingsTopic } from '../../hub/src/ingest/mqtt.ts'
import { formatLine } from '../../hub/src/ingest/line.ts'
import type { Ingest } from '../../hub/src/ingest/pipeline.ts'
import { addDevices, openIngest, sleep, tempDir, until } from '../integration/ingest-helpers.ts'
import { MOSQUITTO_SKIP, mosquittoFiles, startMosquitto } from '../helpers/mosquitto.ts'

const HUB = 'atk-hub'
const MIB = 1024 * 1024
const line = (d: string, s: number, t: 'spo2' | 'hr', v: number): string => formatLine({ d, b: 1, s, t, v, ts: s * 1000 }).trimEnd()
const dropped = (ing: Ingest, code: string): number => ing.counters.dropped[code] ?? 0

async function connect (t: { teardown: (fn: () => unknown) => void }, url: string, opts: IClientOptions): Promise<MqttClient> {
  const c = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, keepalive: 30, ...opts })
  t.teardown(() => c.end(true))
  await new Promise<void>((resolve, reject) => {
    c.once('connect', () => { resolve() })
    c.once('error', reject)
    c.once('close', () => { reject(new Error('closed by the broker before CONNACK')) })
  })
  return c
}

/** MQTT 3.1.1 §2.2.3 Remaining Length encoding. */
function remainingLength (n: number): number[] {
  const out: number[] = []
  do {
    let b = n % 128
    n = Math.floor(n / 128)
    if (n > 0) b |= 0x80
    out.push(b)
  } while (n > 0)
  return out
}

/**
 * Sends a CONNECT whose fixed header declares 200 MiB, then its "body" in
 * 16 KiB writes, each after the previous was accepted by the kernel, until the
 * peer closes (or 8 MiB went out). Returns the bytes written and whether the peer closed.
 */
async function oversizeConnect (port: number): Promise<{ sent: number, closed: boolean }> {
  const sock: Socket = netConnect(port, '127.0.0.1')
  await new Promise<void>((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject) })
  let closed = false
  sock.on('error', () => {})
  sock.on('close', () => { closed = true })
  // type 1 (CONNECT), then the start of a real variable header: "MQTT", level 4, flags, keep-alive
  const head = Buffer.from([0x10, ...remainingLength(200 * MIB), 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0xc2, 0, 30])
  let sent = 0
  const write = async (b: Buffer): Promise<boolean> => await new Promise((resolve) => { sock.write(b, (err) => { resolve(err == null) }) })
  if (await write(head)) sent += head.length
  const chunk = Buffer.alloc(16 * 1024, 0x61)
  while (!closed && sent < 8 * MIB) {
    if (!await write(chunk)) break
    sent += chunk.length
    await sleep(2)
  }
  await until(() => closed, 10_000, 'the socket closed')
  sock.destroy()
  return { sent, closed }
}

t.test('mqtt-oversize-connect', async (t) => {
  t.test('aedes behind the fixed-header guard', async (t) => {
    const dir = await tempDir(t, 'atk-oversize')
    const ing = await openIngest(t, dir)
    const secrets = await addDevices(ing, 'alice', [['ox-1', 'spo2']])
    const broker = await EmbeddedBroker.start(ing, { hubId: HUB, port: 0 })
    t.teardown(() => broker.close())
    const rss0 = process.memoryUsage().rss
    const r = await oversizeConnect(broker.port)
    t.ok(r.closed, 'the broker closed the socket')
    t.ok(r.sent < MIB, `closed before 1 MiB was accepted (${r.sent} bytes written)`)
    t.equal(dropped(ing, 'ERR_MQTT_OVERSIZE'), 1, 'refused and counted as ERR_MQTT_OVERSIZE')
    t.equal(dropped(ing, 'ERR_AUTH'), 0, 'the login check never ran')
    t.ok(process.memoryUsage().rss - rss0 < 32 * MIB, 'nothing near the declared 200 MiB was allocated')
    // a PUBLISH over the limit from a logged-in device is refused the same way
    const ox = await connect(t, broker.url, { username: 'ox-1', password: secrets['ox-1']!, clientId: 'ox-1' })
    const closed = new Promise<void>((resolve) => { ox.once('close', () => { resolve() }) })
    ox.publish(readingsTopic(HUB, 'ox-1'), 'x'.repeat(64 * 1024), { qos: 0 })
    await closed
    t.equal(dropped(ing, 'ERR_MQTT_OVERSIZE'), 2, 'a 64 KiB PUBLISH: connection closed, counted')
    const ox2 = await connect(t, broker.url, { username: 'ox-1', password: secrets['ox-1']!, clientId: 'ox-1' })
    await ox2.publishAsync(readingsTopic(HUB, 'ox-1'), line('ox-1', 1, 'spo2', 97), { qos: 1 })
    t.equal(ing.registry.get('ox-1')!.accepted, 1, 'a reading of legitimate size is still accepted')
  })

  t.test('Mosquitto with the generated config', { skip: MOSQUITTO_SKIP }, async (t) => {
    const dir = await tempDir(t, 'atk-oversize-mosq')
    const files = await mosquittoFiles(dir, HUB, `hub-${HUB}`, { [`hub-${HUB}`]: randomBytes(12).toString('hex') })
    const log: string[] = []
    const { port, proc } = await startMosquitto(t, dir, files, (l) => { log.push(l) })
    const r = await oversizeConnect(port)
    t.ok(r.closed, 'Mosquitto closed the socket')
    t.ok(r.sent < MIB, `closed before 1 MiB was accepted (${r.sent} bytes written)`)
    t.equal(proc.exitCode, null, 'and keeps running')
  })
})

t.test('mqtt-connection-flood', async (t) => {
  const dir = await tempDir(t, 'atk-flood')
  const ing = await openIngest(t, dir)
  const secrets = await addDevices(ing, 'alice', [['ox-1', 'spo2'], ['hr-1', 'hr'], ['ox-9', 'spo2']])
  const limits = { maxConnections: 512, maxPending: 64, connectTimeoutMs: 1000 }
  const broker = await EmbeddedBroker.start(ing, { hubId: HUB, port: 0, ...limits })
  t.teardown(() => broker.close())
  const devs = await Promise.all(['ox-1', 'hr-1'].map(async (d) => await connect(t, broker.url, { username: d, password: secrets[d]!, clientId: d })))
  // the devices publish throughout the flood, each reading acknowledged after its durable write
  let publishing = true
  let seq = 0
  const publishers = devs.map(async (c, i) => {
    const d = i === 0 ? 'ox-1' : 'hr-1'
    while (publishing && !c.disconnected) {
      await c.publishAsync(readingsTopic(HUB, d), line(d, seq++, i === 0 ? 'spo2' : 'hr', 90 + i), { qos: 1 })
      await sleep(20)
    }
  })
  const heap0 = process.memoryUsage().heapUsed
  let maxOpen = 0
  let maxPending = 0
  const sampler = setInterval(() => { maxOpen = Math.max(maxOpen, broker.connections.open); maxPending = Math.max(maxPending, broker.connections.pending) }, 5)
  // 2,000 connections that never log in, opened 100 at a time (a bounded loop)
  const TOTAL = 2000
  const held: Socket[] = []
  let closedByBroker = 0
  for (let i = 0; i < TOTAL; i += 100) {
    await Promise.all(Array.from({ length: 100 }, async () => {
      const s = netConnect(broker.port, '127.0.0.1')
      s.on('error', () => {})
      s.once('close', () => { closedByBroker++ })
      held.push(s)
      await new Promise<void>((resolve) => { s.once('connect', resolve); s.once('close', () => { resolve() }) })
    }))
  }
  t.teardown(() => { for (const s of held) s.destroy() })
  const acceptedDuring = ing.counters.accepted
  // each is refused at once (over a cap) or closed at the connect timeout
  await until(() => closedByBroker === TOTAL, 20_000, 'every flood connection closed by the broker')
  clearInterval(sampler)
  t.equal(closedByBroker, TOTAL, 'every flood connection was closed by the broker')
  t.ok(maxPending <= limits.maxPending, `connections waiting to log in stayed within the cap (at most ${maxPending})`)
  t.ok(maxOpen <= limits.maxConnections, `open connections stayed within the cap (at most ${maxOpen})`)
  t.ok(dropped(ing, 'ERR_MQTT_CONN_CAP') > 0, `those over the cap refused and counted: ${dropped(ing, 'ERR_MQTT_CONN_CAP')}`)
  t.ok(process.memoryUsage().heapUsed - heap0 < 64 * MIB, `memory bounded (heap +${((process.memoryUsage().heapUsed - heap0) / MIB).toFixed(1)} MiB, test's own sockets included)`)
  const before = ing.counters.accepted
  await until(() => ing.counters.accepted >= before + 10, 20_000, 'the devices keep publishing')
  t.ok(acceptedDuring > 0 && ing.counters.accepted >= before + 10, 'the devices kept publishing through the flood')
  // idle sockets are closed at the connect timeout, after which a device can log in again
  const late = await connect(t, broker.url, { username: 'ox-9', password: secrets['ox-9']!, clientId: 'ox-9' })
  await late.publishAsync(readingsTopic(HUB, 'ox-9'), line('ox-9', 0, 'spo2', 95), { qos: 1 })
  t.equal(ing.registry.get('ox-9')!.accepted, 1, 'a device connecting after the flood is served')
  publishing = false
  await Promise.all(publishers)
})

t.test('mqtt-clientid-takeover', async (t) => {
  t.test('aedes', async (t) => {
    const dir = await tempDir(t, 'atk-takeover')
    const ing = await openIngest(t, dir)
    const secrets = await addDevices(ing, 'alice', [['ox-1', 'spo2'], ['hr-1', 'hr']])
    const broker = await EmbeddedBroker.start(ing, { hubId: HUB, port: 0 })
    t.teardown(() => broker.close())
    const hub = await connect(t, broker.url, { ...broker.hubCredentials, clientId: broker.hubCredentials.username })
    const hr = await connect(t, broker.url, { username: 'hr-1', password: secrets['hr-1']!, clientId: 'hr-1' })
    let kicked = 0
    for (const c of [hub, hr]) c.on('close', () => { kicked++ })
    for (const victim of [`hub-${HUB}`, 'hr-1']) {
      const before = dropped(ing, 'ERR_CLIENT_ID')
      await t.rejects(connect(t, broker.url, { username: 'ox-1', password: secrets['ox-1']!, clientId: victim }), /identifier rejected|closed/i, `ox-1 connecting as client id ${victim}: refused`)
      t.equal(dropped(ing, 'ERR_CLIENT_ID'), before + 1, 'and counted')
    }
    t.equal(ing.registry.get('ox-1')!.dropped.ERR_CLIENT_ID, 2, 'against the device that tried')
    await sleep(100)
    t.equal(kicked, 0, 'neither the hub\'s nor hr-1\'s session was kicked')
    await hr.publishAsync(readingsTopic(HUB, 'hr-1'), line('hr-1', 0, 'hr', 70), { qos: 1 })
    t.equal(ing.registry.get('hr-1')!.accepted, 1, 'hr-1 keeps publishing')
    // any other client id is replaced by the device id: ox-1 is served, and can only replace its own session
    const ox = await connect(t, broker.url, { username: 'ox-1', password: secrets['ox-1']!, clientId: 'anything' })
    await ox.publishAsync(readingsTopic(HUB, 'ox-1'), line('ox-1', 0, 'spo2', 96), { qos: 1 })
    t.equal(ing.registry.get('ox-1')!.accepted, 1, 'ox-1 with a client id of its own choosing is served as ox-1')
  })

  t.test('Mosquitto with the generated config', { skip: MOSQUITTO_SKIP }, async (t) => {
    const dir = await tempDir(t, 'atk-takeover-mosq')
    const ing = await openIngest(t, dir)
    const secrets = await addDevices(ing, 'alice', [['ox-1', 'spo2']])
    const hubUser = `hub-${HUB}`
    const hubPassword = randomBytes(12).toString('hex')
    const files = await mosquittoFiles(dir, HUB, hubUser, { [hubUser]: hubPassword, ...secrets })
    const { port } = await startMosquitto(t, dir, files, () => {})
    const url = `mqtt://127.0.0.1:${port}`
    const sub = await HubSubscriber.connect(ing, { url, hubId: HUB, username: hubUser, password: hubPassword })
    t.teardown(() => sub.close())
    let hubKicked = 0
    sub.client.on('offline', () => { hubKicked++ })
    const ox = await connect(t, url, { username: 'ox-1', password: secrets['ox-1']!, clientId: hubUser })
    for (let s = 0; s < 3; s++) await ox.publishAsync(readingsTopic(HUB, 'ox-1'), line('ox-1', s, 'spo2', 96), { qos: 1 })
    await until(() => ing.counters.accepted === 3, 20_000, 'the readings through Mosquitto')
    t.equal(hubKicked, 0, 'the device asking for the hub\'s client id did not kick the hub\'s session (use_username_as_clientid)')
    t.equal(ing.registry.get('ox-1')!.accepted, 3, 'and was served as ox-1')
  })
})

t.test('mqtt-retained-other-topic', async (t) => {
  t.test('aedes', async (t) => {
    const dir = await tempDir(t, 'atk-retain')
    const ing = await openIngest(t, dir)
    const secrets = await addDevices(ing, 'alice', [['ox-1', 'spo2'], ['hr-1', 'hr']])
    const broker = await EmbeddedBroker.start(ing, { hubId: HUB, port: 0 })
    t.teardown(() => broker.close())
    const attempts: Array<[string, string, boolean, string]> = [
      ['a retained reading on its own topic', readingsTopic(HUB, 'ox-1'), true, 'ERR_RETAIN'],
      ['a message on another topic of its own subtree', `healthchain/${HUB}/devices/ox-1/config`, false, 'ERR_ACL'],
      ['a retained message there', `healthchain/${HUB}/devices/ox-1/status`, true, 'ERR_ACL'],
      ['a retained message on another device\'s topic', readingsTopic(HUB, 'hr-1'), true, 'ERR_ACL'],
      ['a message outside the hub\'s tree', 'elsewhere/x', true, 'ERR_ACL']
    ]
    let s = 0
    for (const [what, topic, retain, code] of attempts) {
      const ox = await connect(t, broker.url, { username: 'ox-1', password: secrets['ox-1']!, clientId: 'ox-1' })
      const before = dropped(ing, code)
      const closed = new Promise<void>((resolve) => { ox.once('close', () => { resolve() }) })
      ox.publish(topic, line('ox-1', s++, 'spo2', 60), { qos: 1, retain })
      await closed
      t.equal(dropped(ing, code), before + 1, `${what}: refused (connection closed) and counted as ${code}`)
    }
    t.equal(ing.registry.get('ox-1')!.accepted, 0, 'none of them was stored as a reading')
    // a later subscriber gets nothing retained
    const hr = await connect(t, broker.url, { username: 'hr-1', password: secrets['hr-1']!, clientId: 'hr-1' })
    const got: string[] = []
    hr.on('message', (topic) => { got.push(topic) })
    await hr.subscribeAsync(`healthchain/${HUB}/devices/hr-1/#`, { qos: 1 })
    await sleep(200)
    t.same(got, [], 'nothing was retained for a later subscriber')
    const ox = await connect(t, broker.url, { username: 'ox-1', password: secrets['ox-1']!, clientId: 'ox-1' })
    await ox.publishAsync(readingsTopic(HUB, 'ox-1'), line('ox-1', s++, 'spo2', 97), { qos: 1 })
    t.equal(ing.registry.get('ox-1')!.accepted, 1, 'its plain readings are still accepted')
  })

  t.test('Mosquitto with the generated config', { skip: MOSQUITTO_SKIP }, async (t) => {
    const dir = await tempDir(t, 'atk-retain-mosq')
    const ing = await openIngest(t, dir)
    const secrets = await addDevices(ing, 'alice', [['ox-1', 'spo2'], ['hr-1', 'hr']])
    const hubUser = `hub-${HUB}`
    const hubPassword = randomBytes(12).toString('hex')
    const files = await mosquittoFiles(dir, HUB, hubUser, { [hubUser]: hubPassword, ...secrets })
    const { port } = await startMosquitto(t, dir, files, () => {})
    const url = `mqtt://127.0.0.1:${port}`
    const sub = await HubSubscriber.connect(ing, { url, hubId: HUB, username: hubUser, password: hubPassword })
    t.teardown(() => sub.close())
    const ox = await connect(t, url, { username: 'ox-1', password: secrets['ox-1']!, clientId: 'ox-1' })
    const closed = new Promise<void>((resolve) => { ox.once('close', () => { resolve() }) })
    ox.publish(readingsTopic(HUB, 'ox-1'), line('ox-1', 0, 'spo2', 60), { qos: 1, retain: true })
    await closed
    t.pass('a retained publish: Mosquitto closed the connection (retain_available false)')
    const hr = await connect(t, url, { username: 'hr-1', password: secrets['hr-1']!, clientId: 'hr-1' })
    await hr.publishAsync(`healthchain/${HUB}/devices/hr-1/config`, 'x', { qos: 1 })
    await hr.publishAsync(readingsTopic(HUB, 'hr-1'), line('hr-1', 0, 'hr', 70), { qos: 1 })
    await until(() => ing.counters.accepted >= 1, 20_000, 'hr-1\'s reading')
    await sleep(200)
    t.equal(ing.counters.accepted, 1, 'only hr-1\'s reading on its readings topic reached the hub')
    t.equal(ing.registry.get('ox-1')!.accepted, 0, 'the retained one never did')
  })
})
