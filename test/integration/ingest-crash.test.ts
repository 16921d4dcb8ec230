/**
 * Crash safety of the ingest path: 10 devices publish QoS 1 readings to the
 * hub's embedded broker; the hub is SIGKILLed mid-stream and restarted on
 * the same port; the devices reconnect and go on. Afterwards every reading
 * whose PUBACK a device received is in the store exactly once — either
 * still pending or in exactly one closed batch (batches close every 40
 * readings, so flushes race with the kill too).
 */
import t from 'tap'
import mqtt from 'mqtt'
import { formatLine } from '../../hub/src/ingest/line.ts'
import { readingsTopic } from '../../hub/src/ingest/mqtt.ts'
import { ingestDbPath } from '../../hub/src/ingest/hub.ts'
import { Ingest } from '../../hub/src/ingest/pipeline.ts'
import { freePort, killAndWait, sleep, startHubProcess, storedReadings, tempDir, until } from './ingest-helpers.ts'

const HUB = 'crash'
const DEVICES = Array.from({ length: 10 }, (_, i) => `dev-${i}`)

const startHub = (t: { teardown: (fn: () => unknown) => void }, dataDir: string, port: number): ReturnType<typeof startHubProcess> =>
  startHubProcess(t, ['--data-dir', dataDir, '--hub', HUB, '--port', String(port), '--max-readings', '40'])

t.test('SIGKILL while 10 devices publish: every acked reading stored exactly once', async (t) => {
  const dir = await tempDir(t, 'crash')
  const secrets: Record<string, string> = {}
  {
    const ing = await Ingest.open(ingestDbPath(dir))
    for (const d of DEVICES) secrets[d] = (await ing.registry.add(d, { user: d.endsWith('0') || d.endsWith('1') ? 'carol' : 'dave', sensors: ['hr'] })).secret
    await ing.close()
  }
  const port = await freePort()
  let hub = await startHub(t, dir, port)

  const acked = new Map<string, Set<number>>(DEVICES.map((d) => [d, new Set()]))
  let total = 0
  let running = true
  const clients = DEVICES.map((d) => {
    const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, { username: d, password: secrets[d]!, clientId: d, reconnectPeriod: 100, connectTimeout: 5000 })
    c.on('error', () => {})
    t.teardown(() => c.end(true))
    let seq = 0
    const pump = async (): Promise<void> => {
      while (running) {
        if (!c.connected || c.queue.length > 20) { await sleep(10); continue }
        const s = seq++
        c.publish(readingsTopic(HUB, d), formatLine({ d, b: 1, s, t: 'hr', v: 60 + (s % 30), ts: s }).trimEnd(), { qos: 1 }, (err) => {
          if (err == null) { acked.get(d)!.add(s); total++ }
        })
        await sleep(2)
      }
    }
    c.once('connect', () => { void pump() })
    return c
  })

  await until(() => total >= 400, 30_000, '400 acked readings before the crash')
  await killAndWait(hub)
  const beforeCrash = total
  t.ok(beforeCrash >= 400, `${beforeCrash} readings acked before SIGKILL`)

  hub = await startHub(t, dir, port)
  await until(() => total >= beforeCrash + 400, 30_000, '400 more acked readings after restart')
  running = false
  // let in-flight publishes finish (acked or not), then stop the hub cleanly
  await sleep(300)
  await Promise.all(clients.map((c) => c.endAsync()))
  await killAndWait(hub, 'SIGTERM')

  const ing = await Ingest.open(ingestDbPath(dir))
  t.teardown(() => ing.close())
  const { seen, batches } = await storedReadings(ing)
  t.ok(batches.length > 0, `${batches.length} batches closed`)

  let missing = 0
  let ackedTotal = 0
  for (const [d, set] of acked) {
    for (const s of set) {
      ackedTotal++
      if (!seen.has(`${d}/${s}`)) missing++
    }
  }
  const dupes = [...seen.values()].filter((n) => n > 1).length
  t.equal(missing, 0, `all ${ackedTotal} acked readings are in the store`)
  t.equal(dupes, 0, 'no reading stored twice')
  t.ok(batches.every((b) => b.readings.every((p) => (p.w.d === 'dev-0' || p.w.d === 'dev-1') === (b.user === 'carol'))), 'each batch holds only its user\'s devices')
})
