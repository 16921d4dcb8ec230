/**
 * The keys and diagnosis in nodes in a stock Node-RED (its own process and
 * user dir, the palette installed from the repository) against a running
 * hub (`healthchain hub`) that follows Docchain: a grant and a revoke sent
 * through the keys node are the hub's key service's (the tx_keys on
 * Userchain name the doctor, then none; the API's doctors list agrees), and
 * a diagnosis the doctor commits on Docchain about the user's tx_IoT reaches
 * the diagnosis in node opened — in the hub, whose dk_ij never leaves it.
 * The nodes' status dots say what happened; a refused revoke reaches a
 * Catch node with the hub's reason.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { buildIdentityRecord, buildTxDiag, encodeIdentityRecord, fromHex, openAsDoctor, sealDiagnosis, sha256, toHex, txId, utf8Bytes, type TxKey } from '../../hub/src/core/index.ts'
import { openAdmission, StorageNode } from '../../hub/src/roles/storage/index.ts'
import { digestOfCid } from '../../hub/src/ipfs/index.ts'
import { ApiClient } from '../../hub/src/api/client.ts'
import { apiSocketPath, cookiePath } from '../../hub/src/api/local.ts'
import { cli, startHubProcess } from '../helpers/hub-process.ts'
import { GTIME, startDocchainMembers } from '../helpers/docchain-members.ts'
import { until } from '../helpers/doctor-world.ts'
import { startStockNodeRed } from '../helpers/stock-nodered.ts'

t.setTimeout(900_000) // a bound, not a goal: a hub, four accounting nodes and a Node-RED on a loaded machine

const lines = async (file: string): Promise<Array<Record<string, unknown>>> =>
  (await readFile(file, 'utf8').catch(() => '')).split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>)

/** A tx_key as GET /v1/chain/txs answers it (bytes in hex) back into its fields. */
function txKeyOf (j: Record<string, unknown>): TxKey {
  const b = (k: string, h: unknown): Uint8Array => fromHex(k, h as string)
  const env = j.envelopes as Array<{ doctor: string, ct: string }>
  return { kind: 'key', user: b('user', j.user), ts: j.ts as number, epoch: j.epoch as number, ikFrom: j.ikFrom as number, ikCommit: j.ikCommit === null ? null : b('ikCommit', j.ikCommit), enc: b('enc', j.enc), envelopes: env.map((e) => ({ doctor: b('doctor', e.doctor), ct: b('ct', e.ct) })), userEnv: b('userEnv', j.userEnv), sig: b('sig', j.sig) }
}

t.test('a stock Node-RED grants and revokes through the keys node and receives diagnoses through diagnosis in', async (t) => {
  const dir = t.testdir()
  const data = join(dir, 'data')
  const env = { ...process.env, HEALTHCHAIN_PASSPHRASE: 'palette keys test' }
  const m = await startDocchainMembers(dir, 'nrk')
  t.teardown(m.stop)
  const storage = await StorageNode.create({ dataDir: join(dir, 'storage'), admission: openAdmission })
  t.teardown(async () => { await storage.stop() })
  const doctorRecord = toHex(encodeIdentityRecord(buildIdentityRecord(m.doctor, 1)))
  const doctorId = toHex(m.doctor.id)

  t.equal((await cli(['keys', 'new', '--data-dir', data], env)).code, 0, 'keys new')
  // the hub's own Node-RED runs no flow: the stock one below carries the nodes
  await mkdir(join(data, 'node-red'), { recursive: true })
  await writeFile(join(data, 'node-red', 'flows.json'), '[]')
  const hub = await startHubProcess(dir, data, env, {
    storageNodes: [storage.ipfs.multiaddrs[0]!.toString()],
    replication: 1,
    docchain: { members: m.replicas.map((r, i) => ({ id: toHex(r.id), addr: m.addrs[i] })), genesisTime: GTIME, registry: { members: [toHex(m.replicas[0]!.id)], threshold: 1, doctors: [doctorRecord] }, pollSeconds: 1 }
  })
  t.teardown(async () => { await hub.stop() })
  const api = await ApiClient.forDataDir(data)
  t.teardown(() => { api.close() })

  // the keys node behind an HTTP-in endpoint (refusals through a Catch node); diagnosis in and both nodes' status dots written to files
  const diagFile = join(dir, 'diagnoses.ndjson')
  const statusFile = join(dir, 'status.ndjson')
  const file = (id: string, filename: string): object => ({ id, type: 'file', z: 'f1', filename, filenameType: 'str', appendNewline: true, createDir: true, overwriteFile: 'false', encoding: 'none', wires: [] })
  const fn = (id: string, func: string, to: string): object => ({ id, type: 'function', z: 'f1', func, outputs: 1, wires: [[to]] })
  let y = 0
  // (a node without x and y is a config node to Node-RED)
  const at = (n: Record<string, unknown>): object => n.type === 'tab' || n.type === 'healthchain-runtime' ? n : { x: 200, y: (y += 40), ...n }
  const red = await startStockNodeRed(join(dir, 'red'), ([
    { id: 'f1', type: 'tab', label: 'keys and diagnoses' },
    { id: 'rt', type: 'healthchain-runtime', key: 'hub', socket: apiSocketPath(data), cookie: cookiePath(data) },
    { id: 'in', type: 'http in', z: 'f1', url: '/keys', method: 'post', wires: [['keys']] },
    { id: 'keys', type: 'healthchain-keys', z: 'f1', runtime: 'rt', action: 'grant', wires: [['res']] },
    { id: 'res', type: 'http response', z: 'f1', wires: [] },
    { id: 'catch', type: 'catch', z: 'f1', scope: ['keys'], uncaught: false, wires: [['refused']] },
    fn('refused', 'msg.statusCode = 409; msg.payload = { error: msg.error.message }; return msg', 'res'),
    { id: 'din', type: 'healthchain-diagnosis-in', z: 'f1', runtime: 'rt', wires: [['dout']] },
    fn('dout', 'msg.payload = { diagnosis: msg.payload, doctor: msg.doctor, causes: msg.causes, id: msg.id }; return msg', 'dfile'),
    file('dfile', diagFile),
    { id: 'st', type: 'status', z: 'f1', scope: ['keys', 'din'], wires: [['sout']] },
    fn('sout', 'msg.payload = { node: msg.status.source.id, fill: msg.status.fill, text: msg.status.text }; return msg', 'sfile'),
    file('sfile', statusFile)
  ] as Array<Record<string, unknown>>).map(at), env)
  t.teardown(red.stop)
  t.ok(Object.keys(red.installed['node-red']?.nodes ?? {}).includes('healthchain-keys'), 'the palette is installed with its node-red section')
  t.notMatch(red.log(), /MissingCapability|has no keys|has no ipfs|Error:/, 'no node lacks a capability, the flow started without error')

  const keysNode = async (body: object): Promise<{ status: number, body: Record<string, unknown> }> => {
    try {
      const r = await fetch(`${red.url}/keys`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(120_000) })
      return { status: r.status, body: await r.json() as Record<string, unknown> }
    } catch (err) { throw new Error(`the keys node did not answer (${(err as Error).message})\n--- Node-RED:\n${red.log()}`) }
  }

  // grant, by the doctor's identity record
  const grant = await keysNode({ action: 'grant', doctor: doctorRecord })
  t.equal(grant.status, 200, `the keys node granted ${JSON.stringify(grant.body)}`)
  t.match(grant.body, { action: 'grant', epoch: 2, id: /^[0-9a-f]{64}$/, doctors: [doctorId] }, 'key epoch 2 names the doctor')
  const held = await api.call<{ epoch: number, doctors: string[] }>('GET', '/v1/keys/doctors')
  t.same([held.epoch, held.doctors], [2, [doctorId]], 'the hub\'s key service holds the grant')

  // a batch of the user's recorded in that epoch, and both mined
  const heiot = sha256(utf8Bytes('a sealed batch'))
  const iot = await api.call<{ id: string }>('POST', '/v1/pipeline/tx-iot', { heiot: toHex(heiot), epoch: 2 })
  await api.call('POST', '/v1/miner/start', {})
  await api.call('GET', `/v1/txs/${grant.body.id as string}/confirmed`)
  await api.call('GET', `/v1/txs/${iot.id}/confirmed`)
  await api.call('POST', '/v1/miner/stop', {})
  const onChain = await api.call<{ tx: Record<string, unknown> }>('GET', `/v1/chain/txs/${grant.body.id as string}`)
  const grantTx = txKeyOf(onChain.tx)
  t.match(onChain.tx, { kind: 'key', user: hub.user, epoch: 2 }, 'the grant\'s tx_key is on Userchain')
  t.same(grantTx.envelopes.map((e) => toHex(e.doctor)), [doctorId], 'naming the doctor')

  // the doctor reads its envelope, seals a diagnosis of that batch, and the accounting nodes commit it
  const dk = openAsDoctor(grantTx, m.doctor)!.dk
  const htxI = fromHex('id', iot.id)
  const diagnosis = { severity: 'urgent', findings: [{ code: 'hypoxaemia' }] }
  const sealed = sealDiagnosis(dk, new Uint8Array(randomBytes(12)), m.doctor.id, htxI, utf8Bytes(JSON.stringify(diagnosis)))
  const hedm = digestOfCid(await storage.ipfs.put(sealed))
  const diag = buildTxDiag(m.doctor, { ts: Math.floor(Date.now() / 1000), causes: [htxI], hedm })
  m.accept(htxI)
  t.ok((await m.nodes[0]!.submit(diag)).ok, 'the tx_diag is committed on Docchain')

  const got = await until('the diagnosis in the stock Node-RED', async () => (await lines(diagFile))[0], 120_000).catch((err: Error) => { t.fail(`${err.message}\n--- Node-RED:\n${red.log()}\n--- hub:\n${hub.out()}`); return undefined })
  if (got === undefined) return
  t.same(got, { diagnosis, doctor: doctorId, causes: [iot.id], id: toHex(txId(diag)) }, 'diagnosis in emitted it, opened, with its doctor, cause and htxd')
  t.match(await api.call('GET', '/v1/status'), { docchain: { diagnoses: 1 } }, 'the hub read the same diagnosis')

  // revoke, by ID; then revoking again is refused by the hub and caught
  const revoke = await keysNode({ action: 'revoke', doctor: doctorId })
  t.match(revoke, { status: 200, body: { action: 'revoke', epoch: 3, doctors: [] } }, 'the keys node revoked: epoch 3 names no doctor')
  const again = await keysNode({ action: 'revoke', doctor: doctorId })
  t.equal(again.status, 409, 'revoking again is refused')
  t.match(again.body.error, /holds no keys/, `with the hub's reason, through a Catch node (${String(again.body.error)})`)
  await api.call('POST', '/v1/miner/start', {})
  await api.call('GET', `/v1/txs/${revoke.body.id as string}/confirmed`)
  await api.call('POST', '/v1/miner/stop', {})
  t.match(await api.call('GET', `/v1/chain/txs/${revoke.body.id as string}`), { tx: { kind: 'key', epoch: 3, envelopes: [] } }, 'the revoke\'s tx_key is on Userchain, naming no doctor')
  const after = await api.call<{ epoch: number, doctors: string[] }>('GET', '/v1/keys/doctors')
  t.same([after.epoch, after.doctors], [3, []], 'the hub\'s key service agrees')

  const statuses = await lines(statusFile)
  t.ok(statuses.some((s) => s.node === 'keys' && s.fill === 'green' && s.text === 'epoch 3 · 0 doctor(s)'), 'the keys node\'s dot: green, epoch 3, no doctor')
  t.ok(statuses.some((s) => s.node === 'keys' && s.fill === 'red'), 'and red for the refused revoke')
  t.ok(statuses.some((s) => s.node === 'din' && s.fill === 'green' && s.text === '1 received'), 'the diagnosis in node\'s dot: green, 1 received')
})
