/**
 * The ingest-and-mining process test/fault/power-loss.test.ts traces (the
 * production hub's crash test, crash-hub.test.ts, runs hub-flow-child.ts):
 * ingest with its embedded
 * MQTT broker (PUBACK only after the reading is durable) and a mining core
 * node on Userchain, in one process, as on the Pi. Each closed ingest batch
 * becomes a tx_IoT (paper Alg. 2: HEIoT names the batch; here its SHA-256,
 * the sealing and upload are another test's) that the node mines; the batch
 * leaves the ingest store only once its tx_IoT is 3 blocks deep (deeper than
 * the mining loop's reorgs). A durable outbox (`iot!<batch>` in the ingest
 * store, written before the tx is submitted) makes a restart resubmit the
 * same tx, never a second one for the same batch.
 *
 * Prints "ready"; "iot <txid> <batch> <device/seq,…>" when a batch's tx_IoT is
 * in the outbox; "tip <height> <work hex>" after each block is acknowledged.
 */
import { join } from 'node:path'
import { bodyTx, buildTxIoT, buildTxKey, decodeTx, encodeTx, fromHex, sha256, toHex, utf8Bytes, type Tx } from '../../hub/src/core/index.ts'
import { startIngestService } from '../../hub/src/ingest/hub.ts'
import type { BatchRecord } from '../../hub/src/ingest/store.ts'
import type { CoreNode } from '../../hub/src/roles/core/node.ts'
import { doctors, seed, who } from '../helpers/core.ts'
import { go, say } from '../helpers/crash-child.ts'
import { mineForever, openMiningNode } from '../helpers/mining-loop.ts'

/** Confirmations after which a batch may leave the ingest store. */
const DEPTH = 3

const [dir, port] = process.argv.slice(2) as [string, string]
await go()
const { ingest } = await startIngestService({ dataDir: dir, hubId: 'crash', mqttPort: Number(port), maxReadings: 40 })
const node = await openMiningNode(join(dir, 'chain'))

// each ingest user publishes its key epoch 1 once (tx_IoT names an epoch on chain)
for (const name of ['carol', 'dave']) {
  const u = who(name)
  if (node.store.latestEpoch(u.id) > 0) continue
  const r = await node.submitTx(buildTxKey(u, { ts: node.now(), epoch: 1, ik: seed(`${name}-ik`), epochSecret: seed(`${name}-s`), doctors: doctors.slice(0, 1).map((d) => ({ id: d.id, x25519: d.agreement.publicKey })), ikmE: seed(`${name}-e`) }))
  if (!r.accepted && node.mempool.size === 0) throw new Error(`tx_key: ${r.reason}`)
}

const outbox = new Map<string, { batch: BatchRecord, tx: Tx }>()
const taking = new Set<string>()
const outboxKey = (b: BatchRecord): string => `iot!${b.id}`

/** Puts a batch's tx_IoT in the outbox (the stored one after a restart, unless it expired unmined) and submits it. */
async function take (batch: BatchRecord, fresh = false): Promise<void> {
  if (!fresh) {
    if (taking.has(batch.id)) return // the batch event and the startup scan may both name it
    taking.add(batch.id)
  }
  const stored = fresh ? undefined : await ingest.store.get<string>(outboxKey(batch))
  let tx = stored === undefined ? undefined : decodeTx(fromHex('tx', stored))
  if (tx === undefined) {
    const heiot = sha256(utf8Bytes(JSON.stringify(batch.readings)))
    tx = buildTxIoT(who(batch.user), { ts: node.now(), heiot, epoch: 1 })
    await ingest.store.write([{ type: 'put', key: outboxKey(batch), value: JSON.stringify(toHex(encodeTx(tx))) }])
  }
  outbox.set(batch.id, { batch, tx })
  say(`iot ${toHex(bodyTx(tx).id)} ${batch.id} ${batch.readings.map((p) => `${p.w.d}/${p.w.s}`).join(',')}`)
  await node.submitTx(tx)
}

/** After each block: batches whose tx_IoT is DEPTH deep leave ingest; a tx neither mined nor pooled (expired) is rebuilt. */
async function settle (n: CoreNode): Promise<void> {
  for (const [id, { batch, tx }] of outbox) {
    const txid = bodyTx(tx).id
    const loc = n.store.txLocation(txid)
    if (loc !== undefined && n.store.isOnMainChain(loc.block)) {
      if (n.store.height - loc.height + 1 < DEPTH) continue
      await ingest.store.write([{ type: 'del', key: outboxKey(batch) }, { type: 'del', key: batch.id }])
      outbox.delete(id)
    } else if (n.mempool.get(txid) === undefined) {
      const again = await n.submitTx(tx)
      if (!again.accepted && n.mempool.get(txid) === undefined) await take(batch, true)
    }
  }
}

ingest.on('batch', (b) => { void take(b) })
for (const b of await ingest.batches()) await take(b)
say('ready')
await mineForever(node, async () => {
  say(`tip ${node.store.height} ${node.store.tip.work.toString(16)}`)
  await settle(node)
})
