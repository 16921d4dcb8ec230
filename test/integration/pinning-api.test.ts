/**
 * The IPFS Pinning Service API of the storage node (DESIGN §6), against the
 * spec's own OpenAPI document, ../shared/specs/ipfs-pinning-service.yaml
 * (v1.0.0): every request the client sends and every response the storage
 * node gives is validated with openapi-request-validator and
 * openapi-response-validator (test/helpers/openapi-contract.ts), across
 * every operation of the document and its refusals (400, 401, 404, 409).
 *
 * The storage node is the storage daemon's service (real libp2p, Helia,
 * LevelDB, HTTP), following Userchain from a devnet core node that runs
 * like a hub; the hub's upload (uploadBatch, as its Node-RED flow calls it)
 * goes through the API alone: the storage node fetches the batch from the
 * hub's addresses given as `origins` and holds it for the hub's user, who
 * signed the bearer token, until a tx_IoT names it.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { buildTxIoT, buildTxKey, sha256, toHex, utf8Bytes } from '../../hub/src/core/index.ts'
import { cidOfBytes, identityToken, PinningClient, PinningServiceError, uploadBatch, type PinStatus } from '../../hub/src/ipfs/index.ts'
import { startStorage, type StorageDaemon } from '../../hub/src/app/storage.ts'
import { validateStorageConfig } from '../../hub/src/config/storage.ts'
import { who } from '../helpers/core.ts'
import { tempDir } from '../helpers/ipfs.ts'
import { OpenApiContract } from '../helpers/openapi-contract.ts'
import { startUploader } from '../helpers/storage-daemon.ts'
import { sharedSpec, skipUnlessSpec } from '../helpers/tools.ts'
import { until } from './net-helpers.ts'

t.setTimeout(120_000) // a bound, not a goal: a storage daemon, a few devnet blocks, some fetches

const SPEC = 'ipfs-pinning-service.yaml'
const OPERATOR_TOKEN = 'cluster-peer-secret-token'

t.test('Pinning Service API: every request and response matches the spec; the hub pins through it', { skip: skipUnlessSpec(SPEC) }, async (t) => {
  const contract = await OpenApiContract.load(sharedSpec(SPEC))
  t.same(contract.info, { title: 'IPFS Pinning Service API', version: '1.0.0', openapi: '3.0.3' }, 'the spec document, v1.0.0')

  const dir = await tempDir(t, 'pinning-api')
  const alice = who('pinning-alice')
  const mallory = who('pinning-mallory')
  const doctor = who('pinning-doctor')
  const hub = await startUploader(t, join(dir, 'hub'), alice.id)
  const ts = (): number => Math.floor(Date.now() / 1000) - 5
  const h = (s: string): Uint8Array => sha256(utf8Bytes(`pinning ${s}`))
  await hub.mine()
  await hub.submit(buildTxKey(alice, { ts: ts(), epoch: 1, ik: h('ik'), epochSecret: h('s'), doctors: [{ id: doctor.id, x25519: doctor.agreement.publicKey }], ikmE: h('e') }))
  await hub.mine()

  const storage: StorageDaemon = await startStorage(validateStorageConfig({
    dataDir: 'storage',
    userchain: { bootstrap: [hub.addr] },
    uploads: { quotaUploads: 4 },
    pinningApi: { host: '127.0.0.1', port: 0, tokens: [{ name: 'cluster-1', sha256: toHex(sha256(utf8Bytes(OPERATOR_TOKEN))) }] }
  }, dir))
  t.teardown(async () => { await storage.stop() })
  const url = (await storage.status()).pinningApi!
  t.match(url, /^http:\/\/127\.0\.0\.1:\d+$/, 'the API listens on loopback, port 0')
  await until('the storage node synced Userchain', async () => (await storage.status()).userchainHeight === hub.core.store.height, 30_000)

  const checked = contract.fetchFor(url)
  const client = new PinningClient({ endpoint: url, identity: alice, fetch: checked })
  const operator = new PinningClient({ endpoint: url, token: OPERATOR_TOKEN, fetch: checked })
  const failure = async (p: Promise<unknown>): Promise<PinningServiceError> => {
    try { await p } catch (err) { if (err instanceof PinningServiceError) return err; throw err }
    throw new Error('the request succeeded')
  }

  // 1. the hub's upload through the API alone: the storage node fetches from the hub (origins) and pins
  const batch = new Uint8Array(randomBytes(3000))
  const up = await uploadBatch(hub.ipfs, batch, { storageNodes: [], pinningServices: [client], replication: 1 })
  t.same(up.acked, [url], 'the pinning service\'s `pinned` is the upload\'s acknowledgement')
  t.equal((await storage.cid(up.cid.toString()))?.state, 'unconfirmed', 'the storage node holds it for alice until a transaction names it')
  t.same(storage.usage(toHex(alice.id)), { bytes: 3000, uploads: 1 }, 'under alice\'s quota')

  // 2. getPins and its filters
  const listed = await client.list()
  t.equal(listed.count, 1, 'getPins: the one pinned request (the default status filter is pinned)')
  const first = listed.results[0]!
  t.equal(first.pin.cid, up.cid.toString())
  t.ok(first.delegates.length >= 1 && first.delegates.every((d) => d.includes('/p2p/')), 'delegates: the storage node\'s multiaddrs')
  t.match(first.info?.status_details, /held unconfirmed/, 'info says it is held unconfirmed')
  t.equal((await client.list({ status: ['queued', 'pinning', 'failed'] })).count, 0, 'status filter')
  t.equal((await client.list({ cid: [up.cid.toString(), cidOfBytes(h('other')).toString()] })).count, 1, 'cid filter')
  t.equal((await client.list({ before: new Date(Date.parse(first.created) - 1000).toISOString() })).count, 0, 'before')
  t.equal((await client.list({ after: new Date(Date.parse(first.created) - 1000).toISOString() })).count, 1, 'after')

  // 3. addPin with a name and meta, getPinByRequestId until pinned, name/meta filters
  const second = new Uint8Array(randomBytes(2000))
  const secondCid = await hub.ipfs.put(second, { pin: { test: 'hub copy' } })
  const origins = hub.ipfs.multiaddrs.map(String)
  let st: PinStatus = await client.add({ cid: secondCid.toString(), name: 'Batch-7', origins, meta: { device: 'ox-1' } })
  t.ok(['queued', 'pinning', 'pinned'].includes(st.status), `addPin: 202 with status ${st.status}`)
  const secondId = st.requestid
  await until('the second pin', async () => (await client.status(secondId)).status === 'pinned')
  st = await client.status(secondId)
  t.equal(st.status, 'pinned', 'getPinByRequestId: pinned')
  t.equal((await client.list({ name: 'Batch-7' })).count, 1, 'name, exact')
  t.equal((await client.list({ name: 'batch-7' })).count, 0, 'exact is case-sensitive')
  t.equal((await client.list({ name: 'batch-7', match: 'iexact' })).count, 1, 'iexact')
  t.equal((await client.list({ name: 'atch', match: 'partial' })).count, 1, 'partial')
  t.equal((await client.list({ name: 'ATCH', match: 'ipartial' })).count, 1, 'ipartial')
  t.equal((await client.list({ meta: { device: 'ox-1' } })).count, 1, 'meta')
  t.equal((await client.list({ limit: 1 })).results.length, 1, 'limit')
  t.equal((await client.list({ limit: 1 })).count, 2, 'count is every match, beyond the limit')

  // 4. replacePinByRequestId, deletePinByRequestId
  const third = new Uint8Array(randomBytes(1000))
  const thirdCid = await hub.ipfs.put(third, { pin: { test: 'hub copy' } })
  const replaced = await client.replace(st.requestid, { cid: thirdCid.toString(), name: 'Batch-7b', origins })
  t.not(replaced.requestid, st.requestid, 'replace: a new request id')
  t.equal((await failure(client.status(st.requestid))).status, 404, 'the replaced request is gone (404)')
  await until('the replacement pin', async () => (await client.status(replaced.requestid)).status === 'pinned')
  t.equal((await storage.cid(secondCid.toString())), null, 'the replaced CID was given up')
  await client.remove(replaced.requestid)
  t.equal((await failure(client.status(replaced.requestid))).status, 404, 'deletePinByRequestId: 202, then 404')
  t.same(storage.usage(toHex(alice.id)), { bytes: 3000, uploads: 1 }, 'and its quota returned')

  // 5. refusals, each a Failure the spec describes
  const raw = async (init: RequestInit & { path?: string }): Promise<Response> => await checked(url + (init.path ?? '/pins'), init)
  t.equal((await raw({ method: 'GET' })).status, 401, 'no token: 401')
  t.equal((await raw({ method: 'GET', headers: { authorization: 'Bearer not-a-token' } })).status, 401, 'an unknown token: 401')
  t.equal((await raw({ method: 'GET', headers: { authorization: `Bearer ${identityToken(mallory, ts())}` } })).status, 401, 'an identity with no confirmed tx_key: 401')
  t.equal((await raw({ method: 'GET', headers: { authorization: `Bearer ${identityToken(alice, ts() - 3600)}` } })).status, 401, 'a stale identity token: 401')
  const auth = { authorization: `Bearer ${identityToken(alice, ts())}`, 'content-type': 'application/json' }
  contract.invalidOnPurpose = true
  t.equal((await raw({ method: 'POST', headers: auth, body: JSON.stringify({ name: 'no cid' }) })).status, 400, 'a Pin without cid: 400')
  t.equal((await raw({ method: 'GET', path: '/pins?limit=0', headers: auth })).status, 400, 'limit 0: 400')
  t.equal((await raw({ method: 'GET', path: '/pins?status=lost', headers: auth })).status, 400, 'an unknown status: 400')
  contract.invalidOnPurpose = false
  t.equal((await failure(client.add({ cid: 'QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG' }))).status, 400, 'a CIDv0 (not stored here): 400')
  t.equal((await failure(client.status('no-such-request'))).status, 404, 'an unknown request id: 404')
  t.equal((await failure(operator.status(first.requestid))).status, 404, 'another principal\'s request: 404')
  for (let i = 0; i < 3; i++) {
    const b = new Uint8Array(randomBytes(100))
    await hub.ipfs.put(b, { pin: { test: 'hub copy' } })
    await client.pinAndWait({ cid: cidOfBytes(b).toString(), origins })
  }
  const over = await failure(client.add({ cid: cidOfBytes(h('one too many')).toString(), origins }))
  t.equal(over.status, 409, 'over alice\'s quota (4 unconfirmed uploads): 409')
  t.equal(over.reason, 'INSUFFICIENT_FUNDS')

  // 6. an operator's pin is kept for good
  const kept = new Uint8Array(randomBytes(500))
  await hub.ipfs.put(kept, { pin: { test: 'hub copy' } })
  await operator.pinAndWait({ cid: cidOfBytes(kept).toString(), origins })
  const keptSt = await storage.cid(cidOfBytes(kept).toString())
  t.equal(keptSt?.state, 'pinned', 'an operator\'s pin (static token) is pinned, not held unconfirmed')
  t.same(keptSt?.sources, ['pinning'])

  // 7. a tx_IoT names the hub's batch: kept for good, off the quota
  await hub.submit(buildTxIoT(alice, { ts: ts(), heiot: up.cid.multihash.digest, epoch: 1 }))
  await hub.mine()
  await until('the batch confirmed on the storage node', async () => (await storage.cid(up.cid.toString()))?.state === 'pinned', 30_000)
  t.notMatch((await client.status(first.requestid)).info?.status_details ?? '', /unconfirmed/, 'its pin request no longer says unconfirmed')

  // the contract: every exchange
  for (const e of contract.exchanges) {
    t.same(e.responseErrors, [], `${e.operationId} ${e.status}: the response matches the spec`)
    if (e.invalidOnPurpose) t.not(e.requestErrors.length, 0, `${e.operationId}: this request breaks the spec on purpose`)
    else if (e.status !== 401) t.same(e.requestErrors, [], `${e.operationId}: the request matches the spec`)
  }
  t.same([...new Set(contract.exchanges.map((e) => e.operationId))].sort(), [...contract.operationIds].sort(), 'every operation of the spec was exercised')
  t.same([...new Set(contract.exchanges.map((e) => e.status))].sort(), [200, 202, 400, 401, 404, 409], 'and every status the service answers')
})
