// HIL (issue #10): the Wi-Fi oximeter sketch publishes over MQTT (QoS 1)
// with its own credentials to the hub's broker (aedes, hub/src/ingest/mqtt.ts):
// 1. flashed with the real espruino CLI into a virtual board over a pty,
//    the hub receives its readings;
// 2. the device MQTT client (device/lib/mqtt.ts) rides out a broker restart:
//    readings made while the broker was down are buffered, delivered after
//    the reconnect, and the hub holds every sequence number exactly once.
import t from 'tap'
import type { Test } from 'tap'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { openPtyPair } from '../../hardware/pty.ts'
import { skipUnlessTools } from '../helpers/tools.ts'
import { boardOnPty } from '../../hardware/virtual-espruino/serve.ts'
import { VirtualEspruino } from '../../hardware/virtual-espruino/board.ts'
import { PatientModel } from '../../hardware/sensors/models.ts'
import { configPrelude, flash } from '../../device/flash.ts'
import { buildSketch } from '../../device/build.ts'
import { Ingest } from '../../hub/src/ingest/pipeline.ts'
import { EmbeddedBroker } from '../../hub/src/ingest/mqtt.ts'
import type { Reading } from '../../hub/src/ingest/line.ts'

const HUB = 'hub1'

async function hub (t: Test, device: string): Promise<{ ingest: Ingest, secret: string, readings: Reading[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'hc-hil-mqtt-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const ingest = await Ingest.open(join(dir, 'ingest'))
  t.teardown(() => ingest.close())
  const { secret } = await ingest.registry.add(device, { user: 'bob', sensors: ['hr', 'spo2'] })
  const readings: Reading[] = []
  ingest.on('reading', r => { if (r.device === device) readings.push(r) })
  return { ingest, secret, readings }
}

async function until (what: string, cond: () => boolean, ms = 25_000): Promise<void> {
  for (let waited = 0; !cond(); waited += 50) {
    if (waited > ms) throw new Error(`timed out waiting for ${what}`)
    await sleep(50)
  }
}

// socat makes the pty pair for the virtual board
const skip = skipUnlessTools('socat')

t.test('flashed with the espruino CLI, the Wi-Fi sketch publishes with its credentials', { skip }, async t => {
  const { ingest, secret, readings } = await hub(t, 'ox-8')
  const broker = await EmbeddedBroker.start(ingest, { hubId: HUB, port: 0 })
  t.teardown(() => broker.close())
  const pair = await openPtyPair()
  t.teardown(() => pair.close())
  const board = await boardOnPty(pair.board, new PatientModel('desaturation'))
  t.teardown(() => board.close())

  const r = await flash({
    sketch: 'oximeter-wifi',
    port: pair.host,
    board: 'VIRTUAL',
    listen: 0,
    settings: { device: 'ox-8', hub: HUB, secret, mqttHost: '127.0.0.1', mqttPort: String(broker.port), keepalive: '5' }
  })
  t.match(r.output, /Upload Complete/)
  await until('6 readings over MQTT', () => readings.length >= 6)
  t.equal(ingest.counters.dropped.ERR_AUTH ?? 0, 0, 'no refused connection')
  for (const x of readings) {
    if (x.type === 'spo2') t.ok(Math.abs((x.value as number) - 86) <= 1, `spo2 ${String(x.value)} follows the desaturation model (86)`)
    if (x.type === 'hr') t.ok(Math.abs((x.value as number) - 95) <= 5, `hr ${String(x.value)} follows the model (95)`)
  }
  t.same(readings.map(x => x.seq), readings.map((_, i) => readings[0]!.seq + i), 'in sequence')
})

t.test('a wrong secret is refused by the broker and nothing is ingested', async t => {
  const { ingest, readings } = await hub(t, 'ox-6')
  const broker = await EmbeddedBroker.start(ingest, { hubId: HUB, port: 0 })
  t.teardown(() => broker.close())
  const board = new VirtualEspruino({ model: new PatientModel('normal'), write: () => {} })
  t.teardown(() => board.close())
  board.run(configPrelude({ device: 'ox-6', hub: HUB, secret: 'not-the-secret', mqttHost: '127.0.0.1', mqttPort: String(broker.port) }) +
    readFileSync(buildSketch('oximeter-wifi').outFile, 'utf8'))
  await until('a refused connection', () => Object.keys(ingest.counters.dropped).length > 0)
  t.same(Object.keys(ingest.counters.dropped), ['ERR_AUTH'])
  t.equal(readings.length, 0)
})

t.test('the device MQTT client reconnects after a broker restart and delivers its buffer once', async t => {
  const { ingest, secret, readings } = await hub(t, 'ox-5')
  let broker = await EmbeddedBroker.start(ingest, { hubId: HUB, port: 0 })
  const port = broker.port
  t.teardown(() => broker.close())
  const board = new VirtualEspruino({ model: new PatientModel('normal'), write: () => {} })
  t.teardown(() => board.close())
  board.run(configPrelude({ device: 'ox-5', hub: HUB, secret, mqttHost: '127.0.0.1', mqttPort: String(port), keepalive: '5' }) +
    readFileSync(buildSketch('oximeter-wifi').outFile, 'utf8'))

  await until('4 readings before the restart', () => readings.length >= 4)
  await broker.close()
  const downAt = board.env.clock() * 1000
  const before = readings.length
  await sleep(3000) // about 6 readings are made while the broker is down
  const upAt = board.env.clock() * 1000
  t.equal(readings.length, before, 'nothing arrives while the broker is down')
  broker = await EmbeddedBroker.start(ingest, { hubId: HUB, port })

  const made = (upAt - downAt) / 500 // two readings a second
  await until('the buffered readings', () => readings.some(r => r.ts > upAt + 1500))
  const seqs = readings.map(r => r.seq)
  t.equal(new Set(seqs).size, seqs.length, 'no sequence number twice at the hub')
  const sorted = [...seqs].sort((a, b) => a - b)
  t.same(sorted, sorted.map((_, i) => sorted[0]! + i), `no gap: ${sorted[0]}..${sorted[sorted.length - 1]}`)
  t.equal(sorted[0], 0, 'from the first reading of the boot')
  const offline = readings.filter(r => r.ts > downAt && r.ts < upAt)
  t.ok(offline.length >= Math.floor(made) - 2, `${offline.length} readings made while offline were delivered after the reconnect`)
})
