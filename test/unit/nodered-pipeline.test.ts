/**
 * The hub's data-path node types under node-red-node-test-helper (DESIGN §8;
 * paper Alg. 2): healthchain-runtime, sensor in, batch, encrypt, ipfs upload
 * and tx iot — each on its happy path, and each failure arriving at a Catch
 * node with the typed error's code.
 */
import t from 'tap'
import { cidStringFromDigest, contentDigest, decodeTx, encodeTx, fromHex, openBatch, toHex, txId, verifyTx, type TxIoT } from '../../hub/src/core/index.ts'
import { decodeBatch, encodeBatch } from '../../hub/src/nodered/batcher.ts'
import sensorIn from '../../flows/nodes/lib/sensor-in.ts'
import batch from '../../flows/nodes/lib/batch.ts'
import encrypt from '../../flows/nodes/lib/encrypt.ts'
import ipfsUpload from '../../flows/nodes/lib/ipfs-upload.ts'
import txIot from '../../flows/nodes/lib/tx-iot.ts'
import { CATCH, collect, helper, loadFlow, next, reading, userRuntime } from '../helpers/nodered.ts'
import { formatLine } from '../../hub/src/ingest/line.ts'
import type { BatchStore, IpfsStore } from '../../hub/src/nodered/runtime.ts'
import { until } from '../integration/ingest-helpers.ts'

type Caught = { error: { message: string, source: { id: string, type: string } } } & Record<string, unknown>

t.test('healthchain-runtime without an injected runtime: a node using it reports ERR_NO_RUNTIME to Catch', async (t) => {
  await loadFlow(t, [encrypt], [
    { id: 'n', type: 'healthchain-encrypt', z: 'f1', runtime: 'rt', wires: [['out']] }, { id: 'out', type: 'helper', z: 'f1' }, ...CATCH
  ], undefined)
  const caught = next('caught')
  helper.getNode('n').receive({ payload: [] })
  const c = await caught as Caught
  t.match(c.error.message, /healthchainRuntimes is not set/)
  t.equal(c.error.source.id, 'n')
})

t.test('a runtime without the part a node needs: ERR_MISSING_CAPABILITY reaches Catch', async (t) => {
  const u = await userRuntime()
  const { ipfs: _ipfs, ...noIpfs } = u.rt
  await loadFlow(t, [ipfsUpload], [
    { id: 'n', type: 'healthchain-ipfs-upload', z: 'f1', runtime: 'rt', wires: [['out']] }, { id: 'out', type: 'helper', z: 'f1' }, ...CATCH
  ], { hub: noIpfs })
  const caught = next('caught')
  helper.getNode('n').receive({ payload: Buffer.from('x') })
  const c = await caught as Caught
  t.match(c.error.message, /no ipfs/)
  t.equal(c.error.source.id, 'n')
})

t.test('sensor in: emits source readings (filtered), parses device lines, rejects bad lines to Catch', async (t) => {
  const u = await userRuntime()
  await loadFlow(t, [sensorIn], [
    { id: 'n', type: 'healthchain-sensor-in', z: 'f1', runtime: 'rt', types: 'spo2, hr', device: '', wires: [['out']] },
    { id: 'out', type: 'helper', z: 'f1' }, ...CATCH
  ], { hub: u.rt })
  const out = collect('out')
  const caught = collect('caught')
  t.equal(u.readings.subscribers, 1, 'subscribed to the runtime readings')
  u.readings.push(reading('spo2', 97, 1))
  u.readings.push(reading('temp', 36.9, 2))
  u.readings.push(reading('hr', 72, 3))
  const line = formatLine(reading('hr', 75, 4) as never)
  helper.getNode('n').receive({ payload: line })
  helper.getNode('n').receive({ payload: Buffer.from(formatLine(reading('temp', 37, 5) as never)) })
  const bad = line.replace('75', '76') // CRC no longer matches
  helper.getNode('n').receive({ payload: bad })
  u.readings.reject(new Error('replayed sequence 3'), 'raw-line')
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.same(out.map((m) => [m.topic, (m.payload as { s: number }).s]), [['ox-1/spo2', 1], ['ox-1/hr', 3], ['ox-1/hr', 4]], 'only spo2 and hr, in order')
  t.equal(caught.length, 2)
  const crc = caught.find((c) => /checksum/.test((c as Caught).error.message)) as Caught | undefined
  t.equal(crc?.payload, bad, 'the corrupt line itself reaches Catch')
  const replay = caught.find((c) => /replayed sequence 3/.test((c as Caught).error.message)) as Caught | undefined
  t.equal(replay?.payload, 'raw-line', 'a line the ingest layer rejected reaches Catch')
})

t.test('batch: size, event and flush triggers; malformed reading to Catch', async (t) => {
  await loadFlow(t, [batch], [
    { id: 'n', type: 'healthchain-batch', z: 'f1', window: 0, size: 3, events: 'fall', wires: [['out']] },
    { id: 'out', type: 'helper', z: 'f1' }, ...CATCH
  ], undefined)
  const out = collect('out')
  const n = helper.getNode('n')
  for (let s = 1; s <= 4; s++) n.receive({ payload: reading('hr', 70 + s, s) })
  n.receive({ payload: reading('fall', 1, 5) })
  n.receive({ payload: reading('hr', 80, 6) })
  n.receive({ topic: 'flush' })
  n.receive({ flush: true }) // nothing open: no batch
  const caught = next('caught')
  n.receive({ payload: { d: 'ox-1', b: 7, s: 9, t: 'hr', v: 'fast', u: '/min', ts: 1 } })
  const c = await caught as Caught
  t.match(c.error.message, /msg\.payload\.v/)
  t.same(out.map((m) => [(m.batch as { trigger: string }).trigger, (m.payload as Array<{ s: number }>).map((r) => r.s)]),
    [['size', [1, 2, 3]], ['event', [4, 5]], ['flush', [6]]])
  const first = out[0]!
  t.equal((first.batch as { bytes: number }).bytes, encodeBatch(first.payload as never).length, 'bytes = plaintext size')
})

t.test('batch: the window closes a batch counted from its first reading', async (t) => {
  await loadFlow(t, [batch], [
    { id: 'n', type: 'healthchain-batch', z: 'f1', window: 0.05, size: 0, events: '', wires: [['out']] }, { id: 'out', type: 'helper', z: 'f1' }
  ], undefined)
  const got = next('out')
  helper.getNode('n').receive({ payload: reading('spo2', 95, 1) })
  helper.getNode('n').receive({ payload: reading('spo2', 96, 2) })
  const m = await got
  t.equal((m.batch as { trigger: string }).trigger, 'window')
  t.equal((m.payload as unknown[]).length, 2)
})

t.test('encrypt: seals under the current epoch so openBatch returns the readings; no epoch goes to Catch', async (t) => {
  const u = await userRuntime()
  const noKey = await userRuntime({ label: 'nr-no-epoch', epoch: false })
  await loadFlow(t, [encrypt], [
    { id: 'rt2', type: 'healthchain-runtime', key: 'fresh' },
    { id: 'n', type: 'healthchain-encrypt', z: 'f1', runtime: 'rt', wires: [['out']] },
    { id: 'n2', type: 'healthchain-encrypt', z: 'f1', runtime: 'rt2', wires: [['out']] },
    { id: 'out', type: 'helper', z: 'f1' }, ...CATCH
  ], { hub: u.rt, fresh: noKey.rt })
  const readings = [reading('spo2', 97, 1), reading('bp', [120, 80], 2)]
  const got = next('out')
  helper.getNode('n').receive({ payload: readings })
  const m = await got
  t.ok(Buffer.isBuffer(m.payload))
  t.equal(m.epoch, 1)
  t.equal(m.readings, 2)
  const e = u.keys.current!
  t.same(decodeBatch(openBatch(e.ik, u.rt.identity.id, 1, m.payload as Buffer)), readings)
  t.throws(() => openBatch(e.ik, u.rt.identity.id, 2, m.payload as Buffer), 'bound to its epoch')
  const caught = next('caught')
  helper.getNode('n2').receive({ payload: readings })
  t.match((await caught as Caught).error.message, /no key epoch yet/)
  const caught2 = next('caught')
  helper.getNode('n').receive({ payload: 'not readings' })
  t.match((await caught2 as Caught).error.message, /array of readings/)
})

t.test('ipfs upload: stores, names the CID and HEIoT, passes on after the acks; too few acks to Catch', async (t) => {
  const u = await userRuntime()
  await loadFlow(t, [ipfsUpload], [
    { id: 'n', type: 'healthchain-ipfs-upload', z: 'f1', runtime: 'rt', wires: [['out']] }, { id: 'out', type: 'helper', z: 'f1' }, ...CATCH
  ], { hub: u.rt })
  const bytes = Buffer.from('sealed batch bytes')
  const got = next('out')
  helper.getNode('n').receive({ payload: bytes })
  const m = await got
  const digest = contentDigest(bytes)
  t.equal(m.cid, cidStringFromDigest(digest))
  t.equal(m.heiot, toHex(digest))
  t.same(m.acked, ['storage-1', 'storage-2'])
  t.same(await u.ipfs.get(m.cid as string), new Uint8Array(bytes))
  u.ipfs.down.add('storage-2')
  const caught = next('caught')
  helper.getNode('n').receive({ payload: Buffer.from('another batch') })
  const c = await caught as Caught
  t.match(c.error.message, /1 of 2 required acknowledgement/)
})

t.test('tx iot: a signed tx_IoT naming HEIoT and the epoch reaches the mempool; confirmation on output 2; bad input to Catch', async (t) => {
  const u = await userRuntime()
  await loadFlow(t, [txIot], [
    { id: 'n', type: 'healthchain-tx-iot', z: 'f1', runtime: 'rt', wires: [['sub'], ['conf']] },
    { id: 'sub', type: 'helper', z: 'f1' }, { id: 'conf', type: 'helper', z: 'f1' }, ...CATCH
  ], { hub: u.rt })
  const heiot = toHex(contentDigest(Buffer.from('x')))
  const sub = next('sub')
  const conf = next('conf')
  helper.getNode('n').receive({ heiot, epoch: 1 })
  const m = await sub
  const tx = m.tx as TxIoT
  t.equal(tx.kind, 'iot')
  t.ok(verifyTx(tx))
  t.same(tx.heiot, fromHex('heiot', heiot))
  t.equal(tx.epoch, 1)
  t.same(tx.user, u.rt.identity.id)
  t.equal((m.payload as { id: string }).id, toHex(txId(tx)))
  t.ok(u.chain.pending.some((p) => toHex(txId(p)) === toHex(txId(tx))), 'in the pool')
  t.same(decodeTx(encodeTx(tx)), tx)
  u.chain.mine()
  const c = await conf
  t.equal((c.payload as { height: number }).height, 1)
  const caught = next('caught')
  helper.getNode('n').receive({ epoch: 1 })
  t.match((await caught as Caught).error.message, /msg\.heiot/)
  const caught2 = next('caught')
  helper.getNode('n').receive({ heiot, epoch: 0 })
  t.match((await caught2 as Caught).error.message, /msg\.epoch/)
})

t.test('each palette .js file re-exports its .ts implementation (Node-RED registers only .js files)', async (t) => {
  const { readdir } = await import('node:fs/promises')
  const dir = new URL('../../flows/nodes/', import.meta.url)
  const js = (await readdir(dir)).filter((f) => f.endsWith('.js')).sort()
  const html = (await readdir(dir)).filter((f) => f.endsWith('.html')).map((f) => f.replace(/\.html$/, '.js')).sort()
  t.same(js, html, 'every node file has its editor panel')
  t.same(js, ['batch.js', 'diagnose.js', 'diagnosis-in.js', 'encrypt.js', 'ipfs-upload.js', 'keys.js', 'miner.js', 'pbft-submit.js', 'runtime.js', 'sensor-in.js', 'tx-iot.js'])
  for (const f of js) {
    const viaJs = (await import(new URL(f, dir).href) as { default: unknown }).default
    const impl = (await import(new URL(`lib/${f.replace(/\.js$/, '.ts')}`, dir).href) as { default: unknown }).default
    t.equal(typeof viaJs, 'function', f)
    t.equal(viaJs, impl, `${f} is the .ts implementation`)
  }
})

t.test('ipfs upload: durable batches go side by side (a stalled upload holds up no other batch); messages without a batch id keep their order', async (t) => {
  const u = await userRuntime()
  // uploads of the bytes "slow…" wait until released; the others answer at once (MemoryIpfs underneath)
  const gates: Array<() => void> = []
  const ipfs: IpfsStore = {
    upload: async (bytes) => { if (Buffer.from(bytes).toString().startsWith('slow')) await new Promise<void>((resolve) => { gates.push(resolve) }); return await u.ipfs.upload(bytes) },
    get: async (cid) => await u.ipfs.get(cid)
  }
  const uploaded: string[] = []
  const batches = { uploaded: async (id: string) => { uploaded.push(id) } } as unknown as BatchStore
  await loadFlow(t, [ipfsUpload], [
    { id: 'n', type: 'healthchain-ipfs-upload', z: 'f1', runtime: 'rt', wires: [['out']] }, { id: 'out', type: 'helper', z: 'f1' }, ...CATCH
  ], { hub: { ...u.rt, ipfs, batches } })
  const out = collect('out')
  const n = helper.getNode('n')
  n.receive({ payload: Buffer.from('slow-1'), batch: { id: 'batch!u!0000000000000001' } })
  n.receive({ payload: Buffer.from('fast-2'), batch: { id: 'batch!u!0000000000000002' } })
  await until(() => out.length === 1)
  t.same(out.map((m) => (m.batch as { id: string }).id), ['batch!u!0000000000000002'], 'the second batch is out while the first one\'s upload hangs')
  gates.shift()!()
  await until(() => out.length === 2)
  t.same(uploaded, ['batch!u!0000000000000002', 'batch!u!0000000000000001'], 'each recorded as uploaded in the store')
  // in memory (no batch id): one after another, in arrival order
  n.receive({ payload: Buffer.from('slow-3') })
  n.receive({ payload: Buffer.from('fast-4') })
  await until(() => gates.length === 1)
  t.equal(out.length, 2, 'the message behind a hanging upload waits for it')
  gates.shift()!()
  await until(() => out.length === 4)
  t.same(out.slice(2).map((m) => Buffer.from(u.ipfs.blocks.get(m.cid as string) ?? []).toString()), ['slow-3', 'fast-4'], 'in arrival order')
})
