/**
 * The hub's control API (v1): its service layer (startHub(…).service,
 * app/hub-service.ts) route by route, each request validated by the zod
 * schema beside it before the service is called.
 */
import type { ServerResponse } from 'node:http'
import { z } from '../config/schema.ts'
import { SENSOR_TYPES } from '../ingest/line.ts'
import type { HubService } from '../hub.ts'
import { asReading } from '../nodered/batcher.ts'
import { MAX_SEALED_BYTES, MAX_TX_BYTES, decodeTx, encodeTx, fromHex, toHex } from '../core/index.ts'
import { MalformedRequestError } from './errors.ts'
import { AlertsSettingsBody, CHANNELS } from '../alerts/settings.ts'
import { hex32, route, units, type Route } from './route.ts'

const DOCTOR = z.strictObject({
  doctor: z.string({ error: 'must be the doctor\'s identity record (hex, from `keys export-public`) or ID (64 hex digits)' })
    .regex(/^([0-9a-fA-F]{2}){32,512}$/, { error: 'must be the doctor\'s identity record (hex, from `keys export-public`) or ID (64 hex digits)' })
    .describe('identity record (hex) or doctor ID'),
  scope: z.enum(['from-now', 'history'], { error: 'must be from-now or history' }).default('from-now').describe('from-now: a fresh IoT key, the doctor reads from the grant on; history: the current IoT key, the doctor also reads what was sealed since the last fresh key')
}, { error: 'must be a JSON object {"doctor", "scope"}' })
const REVOKE = z.strictObject({ doctor: hex32().describe('doctor ID') }, { error: 'must be a JSON object {"doctor"}' })
const EMPTY = z.strictObject({}, { error: 'must be an empty JSON object' })
const DEVICE_ID = z.string({ error: 'must match [a-z0-9-]{1,32}' }).regex(/^[a-z0-9-]{1,32}$/, { error: 'must match [a-z0-9-]{1,32}' })
const EPOCH = z.int({ error: 'must be a key epoch ≥ 1' }).min(1, { error: 'must be a key epoch ≥ 1' }).max(0xffffffff, { error: 'must be a key epoch ≥ 1' })
const BATCH = z.strictObject({ id: z.string({ error: 'must be a batch id (batch!<user>!<16 hex digits>)' }).regex(/^batch![^!/]{1,128}![0-9a-f]{16}$/, { error: 'must be a batch id (batch!<user>!<16 hex digits>)' }) })
const SENSOR = z.enum(SENSOR_TYPES as [string, ...string[]], { error: `must be one of ${SENSOR_TYPES.join(', ')}` })

/** A newline-delimited JSON stream: one line per object `subscribe` hands over, until the client goes. */
function ndjson (res: ServerResponse, subscribe: (line: (j: unknown) => void) => () => void): void {
  res.writeHead(200, { 'Content-Type': 'application/x-ndjson', 'Cache-Control': 'no-store' })
  res.write('\n') // headers out at once: the client knows it is subscribed
  const off = subscribe((j) => { res.write(JSON.stringify(j) + '\n') })
  res.on('close', off)
}

export function hubRoutes (s: HubService): Route[] {
  return [
    route({ method: 'GET', path: '/v1/status', summary: 'Userchain tip and peers, the miner, Docchain, paired devices, API counters', handler: async () => await s.status() }),

    route({ method: 'GET', path: '/v1/chain/info', summary: 'Userchain tip, height, work, stored blocks, mempool; check=true audits every index', query: z.strictObject({ check: z.enum(['true', 'false'], { error: 'must be true or false' }).optional() }), handler: async ({ query }) => await s.chain.info({ check: query.check === 'true' }) }),
    route({ method: 'GET', path: '/v1/chain/blocks/{ref}', summary: 'a Ublock by hash or best-chain height', params: z.strictObject({ ref: z.string().regex(/^(\d{1,10}|[0-9a-fA-F]{64})$/, { error: 'must be a height or a block hash (64 hex digits)' }) }), handler: async ({ params }) => await s.chain.block(params.ref) }),
    route({ method: 'GET', path: '/v1/chain/txs/{id}', summary: 'a confirmed transaction and where it is', params: z.strictObject({ id: hex32('transaction id') }), handler: async ({ params }) => await s.chain.tx(params.id) }),
    route({ method: 'GET', path: '/v1/chain/balances/{id}', summary: 'Healthcoin balance, nonce and key epoch of an ID', params: z.strictObject({ id: hex32() }), handler: async ({ params }) => await s.chain.balance(params.id) }),

    route({
      method: 'POST',
      path: '/v1/chain/txs',
      summary: 'a transaction signed elsewhere (its encoding, hex), e.g. another wallet\'s Healthcoin transfer to this user: checked and queued in the mempool as gossip would bring it; answers {id, accepted, code, reason}',
      body: z.strictObject({ tx: z.string({ error: 'must be a transaction\'s encoding (hex)' }).regex(/^([0-9a-fA-F]{2})+$/, { error: 'must be a transaction\'s encoding (hex)' }).max(MAX_TX_BYTES * 2, { error: `at most ${MAX_TX_BYTES} bytes` }) }, { error: 'must be a JSON object {"tx"}' }),
      handler: async ({ body }) => await s.txs.submit(decodeTx(fromHex('tx', body.tx)))
    }),

    route({ method: 'GET', path: '/v1/keys/doctors', summary: 'the doctors the key epoch in use grants, and the tx_keys not yet mined (pending: accepted by the node, or waiting to be)', handler: async () => await s.keys.doctors() }),
    route({ method: 'POST', path: '/v1/keys/grant', summary: 'grant a doctor: a tx_key sealing the IoT key and its diagnosis key to it (paper Alg. 3); answers once the mempool accepted it', body: DOCTOR, handler: async ({ body }) => await s.keys.grant(body.doctor, body.scope) }),
    route({ method: 'POST', path: '/v1/keys/revoke', summary: 'revoke a doctor: a tx_key with a fresh IoT key for the remaining doctors', body: REVOKE, handler: async ({ body }) => await s.keys.revoke(body.doctor) }),
    route({ method: 'POST', path: '/v1/keys/rotate', summary: 'renew the IoT key for the same doctors (paper §IV-B5 periodic update)', body: EMPTY, handler: async () => await s.keys.rotate() }),

    route({ method: 'GET', path: '/v1/emergency', summary: 'emergency access (README "Emergency access"): whether the patient opted in, t of n accounting nodes each new key epoch is escrowed to, and every emergency access Docchain audited for this patient — who (doctor ID), when, why, which epochs, which accounting nodes released their shares', handler: async () => await s.emergency.status() }),
    route({ method: 'POST', path: '/v1/emergency', summary: 'opt in to (or out of) emergency access; a change renews the IoT key at once (a rotation: its epoch is answered), so data sealed from then on is escrowed, or no longer is', body: z.strictObject({ optIn: z.boolean({ error: 'must be true or false' }) }, { error: 'must be a JSON object {"optIn"}' }), handler: async ({ body }) => await s.emergency.setOptIn(body.optIn) }),

    route({ method: 'GET', path: '/v1/backup', summary: 'scheduled backups (config backup): folder, period, the last archive written and when the next is due', handler: async () => await s.backup.status() }),
    route({
      method: 'POST',
      path: '/v1/backup',
      summary: 'write an encrypted archive of the data dir now (README "Backup and restore"): to out (absolute path; default the backup folder), under passphrase (default the keystore\'s, kept as its scrypt key since start)',
      body: z.strictObject({ out: z.string({ error: 'must be an absolute file path' }).min(1).max(4096).optional(), passphrase: z.string({ error: 'must be a string' }).min(1, { error: 'must not be empty' }).max(1024).optional() }, { error: 'must be a JSON object {"out", "passphrase"}' }),
      handler: async ({ body }) => await s.backup.now({ ...(body.out === undefined ? {} : { out: body.out }), ...(body.passphrase === undefined ? {} : { passphrase: body.passphrase }) })
    }),
    route({ method: 'GET', path: '/v1/alerts', summary: 'alerts out (README "Alerts out"): the settings in force (secrets only as set or not) and where they come from, and each channel (mqtt, email, webhook) with its counters: sent, failed attempts, given up, queued, last error', handler: async () => await s.alerts.status() }),
    route({ method: 'POST', path: '/v1/alerts', summary: 'save the alert settings (minimum severity, silent-sensor minutes, the mqtt, email and webhook channels; secrets inline, kept encrypted at rest) and use them at once; they then win over the config file\'s', body: AlertsSettingsBody, handler: async ({ body }) => await s.alerts.configure(body) }),
    route({ method: 'POST', path: '/v1/alerts/test', summary: 'send a test alert on one channel now, once (no retry): answers once it was delivered, or the channel\'s error', body: z.strictObject({ channel: z.enum(CHANNELS, { error: 'must be mqtt, email or webhook' }) }, { error: 'must be a JSON object {"channel"}' }), handler: async ({ body }) => await s.alerts.test(body.channel) }),

    route({ method: 'GET', path: '/v1/erasure', summary: 'whether this data dir\'s patient withdrew consent (withdrawn: its time, else null)', handler: async () => await s.erasure.status() }),
    route({ method: 'POST', path: '/v1/erasure', summary: 'withdraw consent (README "Withdrawing consent (erasure)"): signs a withdrawal, commits it on Docchain, asks every storage node to drop the patient\'s batches, deletes the hub\'s copies, then stops the hub, which destroys its keystore and batch keys; cannot be undone, so confirm must be true', body: z.strictObject({ confirm: z.boolean({ error: 'must be true or false' }) }, { error: 'must be a JSON object {"confirm"}' }), handler: async ({ body }) => await s.erasure.withdraw({ confirm: body.confirm }) }),

    route({ method: 'GET', path: '/v1/devices', summary: 'paired devices with their counters', handler: async () => await s.devices.list() }),
    route({
      method: 'POST',
      path: '/v1/devices',
      summary: 'pair a device; the answer holds its secret (MQTT password), shown once',
      body: z.strictObject({ id: DEVICE_ID, user: z.string({ error: 'must be the user (its hex ID)' }).regex(/^[^!]{1,128}$/, { error: 'must be the user (its hex ID)' }), sensors: z.array(SENSOR, { error: 'must be a list of sensor types' }).max(16, { error: 'at most 16 sensor types' }).default([]) }, { error: 'must be a JSON object {"id", "user", "sensors"}' }),
      handler: async ({ body }) => await s.devices.add({ id: body.id, user: body.user, sensors: body.sensors as never })
    }),
    route({ method: 'DELETE', path: '/v1/devices/{id}', summary: 'unpair a device: its credentials stop working at once', params: z.strictObject({ id: DEVICE_ID }), handler: async ({ params }) => await s.devices.remove(params.id) }),

    route({ method: 'GET', path: '/v1/coin/balances/{id}', summary: 'confirmed balance plus transfers pending in the mempool', params: z.strictObject({ id: hex32() }), handler: async ({ params }) => await s.coin.balance(params.id) }),
    route({ method: 'POST', path: '/v1/coin/pay', summary: 'a transfer from the hub user\'s ID (e.g. prepaying the consortium), queued in the mempool', body: z.strictObject({ to: hex32('recipient ID'), amount: units(), fee: units().default(0) }, { error: 'must be a JSON object {"to", "amount", "fee"}' }), handler: async ({ body }) => await s.coin.pay(body) }),

    route({ method: 'GET', path: '/v1/miner', summary: 'is the PoW miner running', handler: async () => await s.miner.status() }),
    route({ method: 'POST', path: '/v1/miner/start', summary: 'start mining on the tip (paper Alg. 1)', body: EMPTY, handler: async () => await s.miner.start() }),
    route({ method: 'POST', path: '/v1/miner/stop', summary: 'stop mining', body: EMPTY, handler: async () => await s.miner.stop() }),

    route({ method: 'GET', path: '/v1/batches', summary: 'the durable batches not yet confirmed, oldest first, with their stage (closed, sealed, uploaded, tx, accepted), key epoch, CID and tx_IoT ids', handler: async () => await s.batches.list() }),
    route({
      method: 'GET',
      path: '/v1/batches/lease',
      summary: 'a lease stream for a batch node (newline-delimited JSON): first {"open": [every open batch id]}, then {"batch": {id, reason, readings, sealed?, epoch?, cid?}} for each batch leased to this connection — it holds the batch until its tx_IoT is accepted (POST …/record), until it makes no step for a while, or until the connection closes (then the batch goes to another lease, or to the next one opened, with what was done for it: a sealed batch is never sealed again) — and {"confirmed": {id, txid}} for each batch confirmed',
      stream: (_in, res) => { ndjson(res, (line) => s.batches.lease(line)) }
    }),
    route({ method: 'POST', path: '/v1/batches/close', summary: 'close the readings acknowledged so far into batches now (they are handed out on the lease streams)', body: EMPTY, handler: async () => await s.batches.close() }),
    route({
      method: 'POST',
      path: '/v1/batches/{id}/sealed',
      summary: 'record a batch\'s sealed bytes before they are uploaded; a batch sealed before keeps its first bytes, which are answered (same CID, no AES-GCM nonce used twice)',
      params: BATCH,
      body: z.strictObject({ sealed: z.base64({ error: 'must be base64' }).min(1, { error: 'must not be empty' }).max(Math.ceil(MAX_SEALED_BYTES / 3) * 4, { error: `at most ${MAX_SEALED_BYTES} bytes` }), epoch: EPOCH }, { error: 'must be a JSON object {"sealed", "epoch"}' }),
      maxBody: (Math.ceil(MAX_SEALED_BYTES / 3) * 4) + 1024,
      handler: async ({ params, body }) => await s.batches.sealed(params.id, new Uint8Array(Buffer.from(body.sealed, 'base64')), body.epoch)
    }),
    route({ method: 'POST', path: '/v1/batches/{id}/uploaded', summary: 'record the CID the storage nodes acknowledged for a sealed batch', params: BATCH, body: z.strictObject({ cid: z.string({ error: 'must be a CIDv1 (base32)' }).regex(/^b[a-z2-7]{8,120}$/, { error: 'must be a CIDv1 (base32)' }) }, { error: 'must be a JSON object {"cid"}' }), handler: async ({ params, body }) => await s.batches.uploaded(params.id, body.cid) }),
    route({
      method: 'POST',
      path: '/v1/batches/{id}/record',
      summary: 'the acknowledgement: build, persist and submit an uploaded batch\'s tx_IoT (paper Alg. 2 lines 4–7; a batch recorded before resubmits its stored tx_IoT); answers once the mempool accepted it, and the hub then carries the batch to its confirmation',
      params: BATCH,
      body: z.strictObject({ heiot: hex32('HEIoT digest'), epoch: EPOCH }, { error: 'must be a JSON object {"heiot", "epoch"}' }),
      handler: async ({ params, body }) => await s.batches.record(params.id, fromHex('heiot', body.heiot), body.epoch)
    }),
    route({ method: 'GET', path: '/v1/batches/{id}/confirmed', summary: 'answers once the batch\'s tx_IoT is deep enough for it to leave the store (long poll; 404 for a batch not open)', params: BATCH, handler: async ({ params }) => await s.batches.confirmed(params.id) }),
    route({
      method: 'GET',
      path: '/v1/readings',
      summary: 'verified device readings as they arrive (newline-delimited JSON: one reading, or {"error", "raw"} for a line ingest dropped, per line)',
      stream: (_in, res) => { ndjson(res, (line) => s.pipeline.readings(line, (err, raw) => { line({ error: err.message, ...(raw === undefined ? {} : { raw }) }) })) }
    }),
    route({
      method: 'POST',
      path: '/v1/pipeline/seal',
      summary: 'seal a batch of readings under the current key epoch (AES-256-GCM, paper Alg. 2 line 2); answers the sealed bytes (base64) and the epoch',
      body: z.strictObject({ readings: z.array(z.record(z.string(), z.unknown()), { error: 'must be a list of readings' }).min(1, { error: 'must hold at least one reading' }).max(65_536, { error: 'at most 65536 readings' }) }, { error: 'must be a JSON object {"readings"}' }),
      maxBody: 4 << 20,
      handler: async ({ body }) => await s.pipeline.seal(body.readings.map((r, i) => asReading(r, `body.readings[${i}]`)))
    }),
    route({
      method: 'POST',
      path: '/v1/ipfs/upload',
      summary: 'store sealed bytes on IPFS; answers once the storage nodes acknowledged (replication)',
      body: z.strictObject({ bytes: z.base64({ error: 'must be base64' }).max(Math.ceil(MAX_SEALED_BYTES / 3) * 4, { error: `at most ${MAX_SEALED_BYTES} bytes` }) }, { error: 'must be a JSON object {"bytes"}' }),
      maxBody: (Math.ceil(MAX_SEALED_BYTES / 3) * 4) + 1024,
      handler: async ({ body }) => await s.pipeline.upload(new Uint8Array(Buffer.from(body.bytes, 'base64')))
    }),
    route({
      method: 'POST',
      path: '/v1/pipeline/tx-iot',
      summary: 'build, sign and submit the tx_IoT naming sealed data (paper Alg. 2 lines 4–7); answers once the mempool accepted it',
      body: z.strictObject({ heiot: hex32('HEIoT digest'), epoch: z.int({ error: 'must be a key epoch ≥ 1' }).min(1, { error: 'must be a key epoch ≥ 1' }).max(0xffffffff, { error: 'must be a key epoch ≥ 1' }) }, { error: 'must be a JSON object {"heiot", "epoch"}' }),
      handler: async ({ body }) => await s.pipeline.record(fromHex('heiot', body.heiot), body.epoch)
    }),
    route({ method: 'GET', path: '/v1/txs/{id}/confirmed', summary: 'answers once the transaction is in a block of the best chain (long poll)', params: z.strictObject({ id: hex32('transaction id') }), handler: async ({ params }) => await s.pipeline.confirmed(params.id) }),
    route({
      method: 'GET',
      path: '/v1/diagnoses/events',
      summary: 'each tx_diag about the user\'s data as the hub\'s Docchain follower verifies it (newline-delimited JSON: {"tx" (its encoding, hex), "epoch" (the key epoch of its first cause)})',
      stream: (_in, res) => { ndjson(res, (line) => s.diagnoses.events((e) => { line({ tx: toHex(encodeTx(e.tx)), epoch: e.epoch }) })) }
    }),
    route({
      method: 'POST',
      path: '/v1/diagnoses/open',
      summary: 'open a tx_diag about the user\'s data with dk_ij (paper §IV-B5): fetches HEdm from IPFS; answers the diagnosis, doctor, causes and id (htxd)',
      body: z.strictObject({ tx: z.string({ error: 'must be a tx_diag\'s encoding (hex)' }).regex(/^([0-9a-fA-F]{2}){1,65536}$/, { error: 'must be a tx_diag\'s encoding (hex)' }), epoch: z.int({ error: 'must be a key epoch ≥ 1' }).min(1, { error: 'must be a key epoch ≥ 1' }).max(0xffffffff, { error: 'must be a key epoch ≥ 1' }) }, { error: 'must be a JSON object {"tx", "epoch"}' }),
      maxBody: 256 * 1024,
      handler: async ({ body }) => {
        const tx = decodeTx(fromHex('body.tx', body.tx))
        if (tx.kind !== 'diag') throw new MalformedRequestError('body.tx', `must be a tx_diag, got a tx_${tx.kind}`)
        return await s.diagnoses.open({ tx, epoch: body.epoch })
      }
    })
  ]
}
