/**
 * Crash consistency of the hub during ingest and mining (issue "Reliability
 * and security suite"): one process runs ingest with its MQTT broker and a
 * mining core node, as the Pi does; it is SIGKILLed at random moments while
 * ten devices publish QoS 1 readings and the node mines (with reorgs), then
 * restarted on the same data dir and port. After every kill both stores
 * reopen without repair and the chain's tip has at least the work of the
 * last acknowledged block; at the end every reading whose PUBACK a device
 * received is stored exactly once, and the chain audit is clean.
 */
import t from 'tap'
import mqtt from 'mqtt'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { formatLine } from '../../hub/src/ingest/line.ts'
import { readingsTopic } from '../../hub/src/ingest/mqtt.ts'
import { ingestDbPath } from '../../hub/src/ingest/hub.ts'
import { Ingest } from '../../hub/src/ingest/pipeline.ts'
import { CoreNode } from '../../hub/src/roles/core/node.ts'
import { TESTNET } from '../helpers/userchain.ts'
import { freePort, sleep, storedReadings, tempDir } from '../integration/ingest-helpers.ts'
import { crashOnce } from '../helpers/crash.ts'

const CHILD = fileURLToPath(new URL('./hub-child.ts', import.meta.url))
const TRIALS = Number(process.env.FAULT_HUB_TRIALS ?? 40)
const DEVICES = Array.from({ length: 10 }, (_, i) => `dev-${i}`)

t.setTimeout(480_000) // 40 kills and restarts on a busy 2-core machine

t.test(`hub SIGKILLed ${TRIALS} times during ingest and mining: no acknowledged reading or block lost`, async (t) => {
  const dir = await tempDir(t, 'crash-hub')
  const secrets: Record<string, string> = {}
  {
    const ing = await Ingest.open(ingestDbPath(dir))
    for (const d of DEVICES) secrets[d] = (await ing.registry.add(d, { user: d < 'dev-5' ? 'carol' : 'dave', sensors: ['hr'] })).secret
    await ing.close()
  }
  const port = await freePort()
  const acked = new Map<string, Set<number>>(DEVICES.map((d) => [d, new Set()]))
  let running = true
  const clients = DEVICES.map((d) => {
    const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, { username: d, password: secrets[d]!, clientId: d, reconnectPeriod: 100, connectTimeout: 5000 })
    c.on('error', () => {})
    let seq = 0
    const pump = async (): Promise<void> => {
      while (running) {
        if (!c.connected || c.queue.length > 20) { await sleep(10); continue }
        const s = seq++
        c.publish(readingsTopic('crash', d), formatLine({ d, b: 1, s, t: 'hr', v: 60 + (s % 30), ts: s }).trimEnd(), { qos: 1 }, (err) => {
          if (err == null) acked.get(d)!.add(s)
        })
        await sleep(5)
      }
    }
    c.once('connect', () => { void pump() })
    return c
  })

  const problems: string[] = []
  let blocksAcked = 0
  for (let trial = 0; trial < TRIALS; trial++) {
    const { lines } = await crashOnce(CHILD, [dir, String(port)], 200 + Math.floor(Math.random() * 800))
    const last = lines.filter((l) => l.startsWith('tip ')).at(-1)
    blocksAcked += lines.filter((l) => l.startsWith('tip ')).length
    const node = await CoreNode.open({ dir: join(dir, 'chain'), params: TESTNET, verifyThreads: 1, now: () => TESTNET.genesisTime + 1e7 })
    try {
      if (last !== undefined && node.store.tip.work < BigInt('0x' + last.split(' ')[2]!)) problems.push(`trial ${trial}: tip work below the acknowledged block`)
      if (await node.store.getBlock(node.store.tip.hash) === undefined) problems.push(`trial ${trial}: tip block missing`)
    } finally {
      await node.close()
    }
  }
  running = false
  await sleep(300)
  await Promise.all(clients.map(async (c) => await c.endAsync(true)))

  const node = await CoreNode.open({ dir: join(dir, 'chain'), params: TESTNET, verifyThreads: 1, now: () => TESTNET.genesisTime + 1e7 })
  for (const p of await node.store.audit()) problems.push(p)
  await node.close()
  t.same(problems, [], `${TRIALS} reopens of the chain store, each without repair and with every acknowledged block's work (${blocksAcked} blocks acknowledged)`)

  const ing = await Ingest.open(ingestDbPath(dir))
  t.teardown(() => ing.close())
  const { seen } = await storedReadings(ing)
  let missing = 0
  let total = 0
  for (const [d, set] of acked) for (const s of set) { total++; if (!seen.has(`${d}/${s}`)) missing++ }
  t.ok(total > TRIALS, `${total} readings acknowledged across the crashes`)
  t.equal(missing, 0, `every acknowledged reading stored (${total})`)
  t.equal([...seen.values()].filter((n) => n > 1).length, 0, 'no reading stored twice')
  console.log(`# hub: ${TRIALS} kill/restart trials, ${total} acknowledged readings, ${blocksAcked} acknowledged blocks, lost ${missing}`)
})
