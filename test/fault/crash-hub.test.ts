/**
 * Crash consistency of the hub during ingest and mining (issue "Reliability
 * and security suite"): one process (hub-child.ts) runs ingest with its MQTT
 * broker and a mining core node, as the Pi does, and turns each closed batch
 * into a tx_IoT that it mines; it is SIGKILLed at seeded random moments
 * while ten devices publish QoS 1 readings and the node mines (with reorgs),
 * then restarted on the same data dir and port. After every kill both stores
 * reopen without repair and the chain's tip has at least the work of the
 * last acknowledged block; at the end every reading whose PUBACK a device
 * received is in exactly one place — pending or in a closed batch in the
 * ingest store, or in a batch whose tx_IoT is on the main chain — no batch
 * is on the chain twice, and the chain audit is clean.
 */
import t from 'tap'
import mqtt from 'mqtt'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { fromHex } from '../../hub/src/core/index.ts'
import { formatLine } from '../../hub/src/ingest/line.ts'
import { readingsTopic } from '../../hub/src/ingest/mqtt.ts'
import { ingestDbPath } from '../../hub/src/ingest/hub.ts'
import { Ingest } from '../../hub/src/ingest/pipeline.ts'
import { CoreNode } from '../../hub/src/roles/core/node.ts'
import { TESTNET } from '../helpers/userchain.ts'
import { freePort, sleep, storedReadings, tempDir } from '../integration/ingest-helpers.ts'
import { CrashLoop, faultRandom, faultTrials } from '../helpers/crash.ts'

const CHILD = fileURLToPath(new URL('./hub-child.ts', import.meta.url))
const TRIALS = faultTrials('hub')
const DEVICES = Array.from({ length: 10 }, (_, i) => `dev-${i}`)

t.setTimeout(360_000) // a bound, not a goal: the file took about 150 s (25–30 trials) on a loaded 2-core machine

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

  const { between } = faultRandom('crash-hub')
  const loop = new CrashLoop(CHILD, [dir, String(port)])
  t.teardown(async () => { await loop.close() })
  const problems: string[] = []
  const iots = new Map<string, { batch: string, readings: string[] }>() // txid → the batch its tx_IoT names
  const moments: number[] = []
  let blocksAcked = 0
  for (let trial = 0; trial < TRIALS; trial++) {
    moments.push(between(200, 1000))
    const run = await loop.trial(moments.at(-1)!)
    for (const l of run.lines.filter((x) => x.startsWith('iot '))) {
      const [, txid, batch, readings] = l.split(' ')
      iots.set(txid!, { batch: batch!, readings: readings === undefined || readings === '' ? [] : readings.split(',') })
    }
    const tips = run.lines.filter((l) => l.startsWith('tip '))
    blocksAcked += tips.length
    const last = tips.at(-1)
    const node = await CoreNode.open({ dir: join(dir, 'chain'), params: TESTNET, verifyThreads: 1, now: () => TESTNET.genesisTime + 1e7 })
    try {
      if (last !== undefined && node.store.tip.work < BigInt('0x' + last.split(' ')[2]!)) problems.push(`trial ${trial}: tip work below the acknowledged block`)
      if (await node.store.getBlock(node.store.tip.hash) === undefined) problems.push(`trial ${trial}: tip block missing`)
    } finally {
      await node.close()
    }
  }
  t.comment(`kill moments (ms after ready): ${moments.join(' ')}; ${loop.summary()}`)
  running = false
  await sleep(300)
  await Promise.all(clients.map(async (c) => await c.endAsync(true)))

  // where each reading is: pending or a batch in the ingest store, or a batch whose tx_IoT is on the main chain
  const places = new Map<string, Set<string>>()
  const place = (r: string, where: string): void => { const s = places.get(r) ?? new Set(); s.add(where); places.set(r, s) }
  const node = await CoreNode.open({ dir: join(dir, 'chain'), params: TESTNET, verifyThreads: 1, now: () => TESTNET.genesisTime + 1e7 })
  for (const p of await node.store.audit()) problems.push(p)
  const mined = new Map<string, string>() // batch → txid on the main chain
  for (const [txid, { batch, readings }] of iots) {
    const loc = node.store.txLocation(fromHex('txid', txid))
    if (loc === undefined || !node.store.isOnMainChain(loc.block)) continue
    if (mined.has(batch)) problems.push(`batch ${batch} on chain twice (${mined.get(batch)!}, ${txid})`)
    mined.set(batch, txid)
    for (const r of readings) place(r, batch)
  }
  await node.close()
  t.same(problems, [], `${TRIALS} reopens of the chain store, each without repair and with every acknowledged block's work (${blocksAcked} blocks acknowledged)`)

  const ing = await Ingest.open(ingestDbPath(dir))
  t.teardown(() => ing.close())
  const { seen, batches } = await storedReadings(ing)
  const inBatches = new Map<string, number>()
  for (const b of batches) for (const p of b.readings) { const r = `${p.w.d}/${p.w.s}`; place(r, b.id); inBatches.set(r, (inBatches.get(r) ?? 0) + 1) }
  for (const [r, n] of seen) if (n > (inBatches.get(r) ?? 0)) place(r, 'pending')
  let missing = 0
  let twice = 0
  let total = 0
  for (const [d, set] of acked) {
    for (const s of set) {
      total++
      const n = places.get(`${d}/${s}`)?.size ?? 0
      if (n === 0) missing++
      if (n > 1) twice++
    }
  }
  const onChain = [...places.values()].filter((p) => [...p].some((b) => mined.has(b))).length
  t.ok(total > TRIALS, `${total} readings acknowledged across the crashes`)
  t.ok(mined.size > 0, `${mined.size} closed batches became tx_IoT on the main chain (${onChain} readings)`)
  t.equal(missing, 0, `every acknowledged reading stored: in the ingest store or in a mined batch (${total})`)
  t.equal(twice, 0, 'no reading in two places (two batches, or pending and a batch)')
  t.equal([...seen.values()].filter((n) => n > 1).length, 0, 'no reading stored twice in the ingest store')
  console.log(`# hub: ${TRIALS} kill/restart trials, ${total} acknowledged readings (${onChain} in ${mined.size} mined tx_IoT), ${blocksAcked} acknowledged blocks, lost ${missing}`)
})
