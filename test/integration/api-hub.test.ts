/**
 * The hub's control API as a user meets it (README "grant a doctor while
 * the hub runs"): `healthchain hub --config` runs as its own process, and
 * `keys grant|revoke|doctors`, `devices add|list`, `coin pay|balance`,
 * `chain info|block`, `miner start|stop` — run without the passphrase, so
 * they cannot have opened the keystore — act on it through its Unix socket.
 * The page's grant/revoke and the CLI's leave the same tx_keys on
 * Userchain. Refusals (no cookie, wrong cookie, the cookie of the previous
 * start, another Unix user, malformed requests) are each answered with the
 * field at fault and counted; mutated requests from the fuzz engine do not
 * crash the hub; with the hub stopped, the CLI works on the data dir itself.
 */
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { chmod, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ApiClient } from '../../hub/src/api/client.ts'
import { apiSocketPath, cookiePath } from '../../hub/src/api/local.ts'
import { asNobody as nobodyGets, fuzzApi, NOBODY as nobody, NOBODY_ENV as nobodyEnv, raw as rawOn } from '../helpers/api-probe.ts'
import { Client } from '../helpers/http-client.ts'
import { cli, premine, startHubProcess, type HubProcess } from '../helpers/hub-process.ts'

t.setTimeout(1_500_000) // a bound, not a goal: two hub starts and ~100 CLI processes on a loaded 2-core machine

const dir = t.testdir()
const data = join(dir, 'data')
const env = { ...process.env, HEALTHCHAIN_PASSPHRASE: 'api hub test' }
// the commands against the running hub get no passphrase: they cannot open the keystore themselves
const noPass: NodeJS.ProcessEnv = { ...process.env }
delete noPass.HEALTHCHAIN_PASSPHRASE
const json = <T>(s: string): T => JSON.parse(s) as T
const CONSORTIUM = 'c0'.repeat(32)

interface Doctor { id: string, record: string }
interface Epoch { epoch: number, tx: string, doctors: string[], doctor?: string }

const raw = async (path: string, opts: Parameters<typeof rawOn>[2] = {}): ReturnType<typeof rawOn> => await rawOn(apiSocketPath(data), path, opts)

let hub: HubProcess
let user = ''
const doctors: Doctor[] = []

t.before(async () => {
  t.equal((await cli(['keys', 'new', '--data-dir', data], env)).code, 0, 'keys new')
  user = (await cli(['keys', 'show', '--no-unlock', '--data-dir', data], env)).stdout.trim()
  for (const name of ['a', 'b']) {
    const ks = join(dir, `doctor-${name}.json`)
    await cli(['keys', 'new', '--keystore', ks], env)
    doctors.push(json<Doctor>((await cli(['keys', 'export-public', '--keystore', ks, '--json'], env)).stdout))
  }
  await premine(data, user, 1)
  hub = await startHubProcess(dir, data, env)
})
t.teardown(async () => { await hub?.stop() })

t.test('README step 5 while the hub runs: grant, devices, coin pay, chain info, revoke — through the control API', async (t) => {
  const A = doctors[0]!
  const g = await cli(['keys', 'grant', A.record, '--data-dir', data, '--json'], noPass)
  t.equal(g.code, 0, `keys grant exits 0 ${g.stderr}`)
  const ge = json<Epoch>(g.stdout)
  t.match(ge, { epoch: 2, doctor: A.id, doctors: [A.id] }, 'granted in key epoch 2 (epoch 1, the first, names no doctor), the doctor named')
  t.match(ge.tx, /^[0-9a-f]{64}$/, 'its tx_key id')
  const again = await cli(['keys', 'grant', A.id, '--data-dir', data], noPass)
  t.equal(again.code, 1, 'granting the same doctor again exits 1')
  t.match(again.stderr, /already/i, 'saying it is already granted')
  t.match(json((await cli(['keys', 'doctors', '--data-dir', data, '--json'], noPass)).stdout), { epoch: 2, doctors: [A.id], pending: Array }, 'keys doctors')
  t.match((await cli(['keys', 'doctors', '--data-dir', data], noPass)).stdout, new RegExp(`epoch 2: ${A.id}`), 'and as text')

  const d = await cli(['devices', 'add', 'ox-1', '--user', user, '--sensor', 'spo2', 'hr', '--data-dir', data, '--json'], noPass)
  t.equal(d.code, 0, `devices add exits 0 ${d.stderr}`)
  const dev = json<{ id: string, user: string, sensors: string[], secret: string }>(d.stdout)
  t.match(dev, { id: 'ox-1', user, sensors: ['spo2', 'hr'] }, 'paired')
  t.ok(dev.secret.length >= 24, 'its secret shown once')
  t.match(json((await cli(['devices', 'list', '--data-dir', data, '--json'], noPass)).stdout), [{ id: 'ox-1' }], 'devices list')
  const dup = await cli(['devices', 'add', 'ox-1', '--user', user, '--data-dir', data], noPass)
  t.equal(dup.code, 1, 'pairing the same device again exits 1')

  const p = await cli(['coin', 'pay', CONSORTIUM, '1000', '--data-dir', data, '--json'], noPass)
  t.equal(p.code, 0, `coin pay exits 0 ${p.stderr}`)
  t.match(json(p.stdout), { id: /^[0-9a-f]{64}$/, nonce: 0 }, 'a transfer queued, nonce 0')
  t.match(json((await cli(['coin', 'balance', '--data-dir', data, '--json'], noPass)).stdout), { id: user, pending: 1 }, 'coin balance sees it pending')
  const broke = await cli(['coin', 'pay', CONSORTIUM, '999999999999', '--data-dir', data], noPass)
  t.equal(broke.code, 1, 'paying more than the balance exits 1')
  t.match(broke.stderr, /rejected/, 'the node refused it, and says so')

  const info = await cli(['chain', 'info', '--data-dir', data, '--json'], noPass)
  t.equal(info.code, 0, 'chain info exits 0')
  t.match(json(info.stdout), { network: 'devnet', height: 1, mempool: 3 }, 'height 1, the two tx_keys and the transfer in the mempool')

  const r = await cli(['keys', 'revoke', A.id, '--data-dir', data, '--json'], noPass)
  t.equal(r.code, 0, `keys revoke exits 0 ${r.stderr}`)
  t.match(json(r.stdout), { epoch: 3, doctor: A.id, doctors: [] }, 'revoked: epoch 3 names no doctor')
})

t.test('the page\'s grant/revoke and the CLI\'s leave the same tx_keys on Userchain', async (t) => {
  const A = doctors[0]!
  const c = new Client(hub.page)
  const csrf = await c.login(hub.login!.username, hub.login!.password)
  const grant = await c.req('POST', '/patient/doctors/grant', { _csrf: csrf, doctor: A.id }, { accept: 'application/json' })
  t.match(grant.json(), { ok: true, epoch: 4 }, 'page grant: epoch 4')
  const revoke = await c.req('POST', '/patient/doctors/revoke', { _csrf: csrf, doctor: A.id }, { accept: 'application/json' })
  t.match(revoke.json(), { ok: true, epoch: 5 }, 'page revoke: epoch 5')

  t.match(json((await cli(['miner', 'start', '--data-dir', data, '--json'], noPass)).stdout), { mining: true }, 'miner start')
  let info = { height: 0, mempool: -1 }
  const t0 = Date.now()
  while (Date.now() - t0 < 120_000) {
    info = json((await cli(['chain', 'info', '--data-dir', data, '--json'], noPass)).stdout)
    if (info.mempool === 0 && info.height >= 2) break
    await new Promise((r) => setTimeout(r, 500))
  }
  t.match(json((await cli(['miner', 'stop', '--data-dir', data, '--json'], noPass)).stdout), { mining: false }, 'miner stop')
  t.equal(info.mempool, 0, `every tx mined (height ${info.height})`)

  const keyTxs = new Map<number, { doctors: string[], user: string }>()
  t.match(json((await cli(['chain', 'block', '2', '--data-dir', data, '--json'], noPass)).stdout), { mainChain: true, header: { index: 2 } }, 'chain block')
  // the blocks (there may be many: devnet blocks come fast) through the same API, without a process each
  const api = await ApiClient.forDataDir(data)
  t.teardown(() => { api.close() })
  for (let h = 2; h <= info.height; h++) {
    const b = await api.call<{ txs: Array<{ kind: string, epoch: number, user: string, envelopes: Array<{ doctor: string }> }> }>('GET', `/v1/chain/blocks/${h}`)
    for (const tx of b.txs) if (tx.kind === 'key') keyTxs.set(tx.epoch, { user: tx.user, doctors: tx.envelopes.map((e) => e.doctor) })
  }
  t.same([...keyTxs.keys()].sort(), [1, 2, 3, 4, 5], 'five tx_keys on Userchain')
  t.same(keyTxs.get(4), keyTxs.get(2), 'the page\'s grant names what the CLI\'s did (user, doctors)')
  t.same(keyTxs.get(5), keyTxs.get(3), 'the page\'s revoke names what the CLI\'s did')
  t.same(keyTxs.get(2)?.doctors, [A.id])
  t.same(keyTxs.get(3)?.doctors, [])
})

t.test('emergency access: the control API\'s GET/POST /v1/emergency and the page\'s toggle (login, CSRF)', async (t) => {
  const api = await ApiClient.forDataDir(data)
  t.teardown(() => { api.close() })
  const auth = { authorization: `Bearer ${(await readFile(cookiePath(data), 'utf8')).trim()}` }
  const epoch = async (): Promise<number> => json<{ epoch: number }>((await cli(['keys', 'doctors', '--data-dir', data, '--json'], noPass)).stdout).epoch
  t.match(await api.call('GET', '/v1/emergency'), { optIn: false, threshold: 0, members: 0, accesses: [] }, 'not opted in; this hub follows no Docchain, so it names no accounting node to escrow to')
  const before = await epoch()
  const on = await api.call<{ optIn: boolean, epoch?: number, tx?: string }>('POST', '/v1/emergency', { optIn: true })
  t.match(on, { optIn: true, epoch: before + 1, tx: /^[0-9a-f]{64}$/ }, 'opted in: the IoT key renewed at once, its epoch and tx_key answered')
  t.match(await api.call('GET', '/v1/emergency'), { optIn: true, accesses: [] }, 'the choice is kept')
  t.match(await raw('/v1/emergency', { method: 'POST', headers: auth, body: '{"optIn": "yes"}' }), { status: 400, body: { error: 'ERR_API_MALFORMED', field: 'body.optIn', message: /true or false/ } }, 'a malformed choice names the field')
  t.match(await raw('/v1/emergency', { method: 'POST', headers: auth, body: '{"optIn": true, "epochs": [1]}' }), { status: 400, body: { field: 'body.epochs', message: /unknown field/ } }, 'an unknown field is named')

  const c = new Client(hub.page)
  const csrf = await c.login(hub.login!.username, hub.login!.password)
  const forged = await c.req('POST', '/patient/emergency', { optIn: 'false' }, { accept: 'application/json' })
  t.match({ status: forged.status, body: forged.json() }, { status: 403, body: { error: 'ERR_CSRF' } }, 'the page refuses a form without its CSRF token')
  t.match(await api.call('GET', '/v1/emergency'), { optIn: true }, 'and nothing changed')
  const off = await c.req('POST', '/patient/emergency', { _csrf: csrf, optIn: 'false' }, { accept: 'application/json' })
  t.match(off.json(), { ok: true, optIn: false, epoch: before + 2 }, 'the page\'s toggle opts out, renewing the key again')
  t.match(await api.call('GET', '/v1/emergency'), { optIn: false }, 'the API sees the page\'s choice')
  t.match((await c.req('GET', '/patient')).text, /Emergency access/, 'the page shows its section')
  const anonymous = await new Client(hub.page).req('POST', '/patient/emergency', { _csrf: csrf, optIn: 'true' }, { accept: 'application/json' })
  t.equal(anonymous.status, 403, 'without a login the toggle is refused')
  t.match(await api.call('GET', '/v1/emergency'), { optIn: false }, 'still opted out')
})

t.test('refusals are answered with the field at fault, and counted', async (t) => {
  const cookie = (await readFile(cookiePath(data), 'utf8')).trim()
  const auth = { authorization: `Bearer ${cookie}` }
  const before = (await raw('/v1/status', { headers: auth })).body.api as { refused: Record<string, number> }

  t.match((await raw('/v1/chain/info')).body, { error: 'ERR_API_NO_COOKIE', field: 'authorization' }, 'no cookie')
  t.equal((await raw('/v1/chain/info')).status, 401)
  t.match(await raw('/v1/chain/info', { headers: { authorization: `Bearer ${'0'.repeat(64)}` } }), { status: 401, body: { error: 'ERR_API_BAD_COOKIE' } }, 'a wrong cookie')
  t.match(await raw('/v1/keys/grant', { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{"doctor": ' }), { status: 400, body: { error: 'ERR_API_MALFORMED', field: 'body', message: /not JSON/ } }, 'a body that is no JSON')
  t.match(await raw('/v1/keys/grant', { method: 'POST', headers: auth, body: '{"doctor": "xyz"}' }), { status: 400, body: { field: 'body.doctor', message: /identity record/ } }, 'a bad field is named')
  t.match(await raw('/v1/keys/grant', { method: 'POST', headers: auth, body: `{"doctor": "${doctors[1]!.id}", "scopes": 1}` }), { status: 400, body: { field: 'body.scopes', message: /unknown field/ } }, 'an unknown field is named')
  t.match(await raw('/v1/coin/pay', { method: 'POST', headers: auth, body: `{"to": "${CONSORTIUM}", "amount": -5}` }), { status: 400, body: { field: 'body.amount' } }, 'a negative amount')
  t.match(await raw('/v1/chain/txs/nothex', { headers: auth }), { status: 400, body: { field: 'params.id' } }, 'a bad path parameter')
  t.match(await raw('/v1/nope', { headers: auth }), { status: 404, body: { error: 'ERR_API_NO_ROUTE' } }, 'an unknown route')
  t.match(await raw('/v1/keys/grant', { method: 'POST', headers: auth, body: Buffer.alloc(200_000, 0x20) }), { status: 413, body: { field: 'body' } }, 'an oversize body')
  t.match(await raw('/v1/keys/grant', { method: 'POST', headers: auth, body: `{"doctor": "${doctors[1]!.id}"}` }), { status: 400, body: { message: /is not a registered doctor/ } }, 'a doctor the hub does not know')

  const after = (await raw('/v1/status', { headers: auth })).body.api as { refused: Record<string, number>, errors: number, peerCheck: string }
  const grew = (k: string, n: number): void => { t.equal((after.refused[k] ?? 0) - (before.refused[k] ?? 0), n, `${n} refusal(s) counted as ${k}`) }
  grew('no_cookie', 2); grew('bad_cookie', 1); grew('malformed', 5); grew('no_route', 1); grew('too_large', 1)
  t.equal(after.errors, 0, 'no request made the hub fail (500)')

  // another Unix user: nobody (65534) — as root the file modes would not stop us, so the daemon does: it reads the
  // peer's uid (SO_PEERCRED, the addon `npm ci` builds) before a byte of the request, refuses it and counts it
  t.equal(after.peerCheck, 'peercred', 'the hub reads its clients\' peer credentials')
  // `keys new` made the data dir 0700, which stops other users in the kernel before the socket: open it to them
  await chmod(data, 0o755)
  t.equal(await nobodyGets(apiSocketPath(data), '/v1/status', cookie), '403 ERR_API_OTHER_USER', 'another user is refused even with the right cookie')
  const asNobody = await cli(['chain', 'info', '--data-dir', data], nobodyEnv, nobody)
  t.equal(asNobody.code, 3, 'the CLI run by another user exits 3')
  t.match(asNobody.stderr, /permission denied.*run this command as that user/, `with a clear error: ${asNobody.stderr.split('\n')[0]!}`)
  const counted = (await raw('/v1/status', { headers: auth })).body.api as { refused: Record<string, number> }
  t.equal(counted.refused.other_user! - after.refused.other_user!, 2, 'both counted as other_user')
  // loopback TCP is open to every local user: without the cookie (unreadable to them) they are refused and counted
  const tcp = spawnSync(process.execPath, ['-e', `fetch(${JSON.stringify(`${hub.apiUrl!}/v1/status`)}).then(async (r) => console.log(r.status, (await r.json()).error))`], { ...nobody, env: nobodyEnv, encoding: 'utf8' })
  t.equal(tcp.stdout.trim(), '401 ERR_API_NO_COOKIE', 'another user on loopback TCP is refused')
  const last = (await raw('/v1/status', { headers: auth })).body.api as { refused: Record<string, number> }
  t.equal(last.refused.no_cookie! - counted.refused.no_cookie!, 1, 'and counted')
})

t.test('mutated requests (the fuzz engine) do not crash the hub', async (t) => {
  const cookie = (await readFile(cookiePath(data), 'utf8')).trim()
  const seeds = [
    `POST /v1/keys/grant\n{"doctor":"${doctors[1]!.record}"}`,
    `POST /v1/keys/revoke\n{"doctor":"${doctors[0]!.id}"}`,
    'POST /v1/devices\n{"id":"ox-9","user":"00ff","sensors":["spo2"]}',
    `POST /v1/coin/pay\n{"to":"${CONSORTIUM}","amount":1,"fee":0}`,
    'POST /v1/batches/close\n{}',
    `POST /v1/batches/batch!${'ab'.repeat(32)}!0000000000000000/sealed\n{"sealed":"AAAA","epoch":1}`,
    `POST /v1/batches/batch!${'ab'.repeat(32)}!0000000000000000/record\n{"heiot":"${'cd'.repeat(32)}","epoch":1}`,
    'GET /v1/batches\n',
    'GET /v1/chain/blocks/0\n',
    `GET /v1/chain/txs/${'ab'.repeat(32)}\n`,
    'GET /v1/chain/info?check=false\n',
    'DELETE /v1/devices/ox-9\n'
  ]
  const { statuses, failures } = await fuzzApi(apiSocketPath(data), cookie, seeds, 1000, 25)
  t.notOk(statuses.has(500), `no request failed inside the hub (statuses: ${JSON.stringify(Object.fromEntries(statuses))})`)
  t.same(failures.slice(0, 5), [], 'every request was answered')
  t.equal(hub.child.exitCode, null, 'the hub still runs')
  t.match((await raw('/v1/health', { headers: { authorization: `Bearer ${cookie}` } })).body, { daemon: 'hub' }, 'and answers')
})

t.test('stopped: the CLI works on the data dir; restarted: the old cookie is refused', async (t) => {
  const old = (await readFile(cookiePath(data), 'utf8')).trim()
  t.equal(await hub.stop(), 0, 'the hub stops on SIGTERM')
  const direct = await cli(['chain', 'info', '--data-dir', data, '--json'], noPass)
  t.equal(direct.code, 0, 'chain info on the stopped data dir')
  t.ok(json<{ height: number }>(direct.stdout).height >= 2, 'reads the chain the hub left')
  const needs = await cli(['miner', 'status', '--data-dir', data], noPass)
  t.equal(needs.code, 3, 'a command that needs the running hub exits 3')
  t.match(needs.stderr, /no daemon answers/, 'saying no hub runs')
  const devs = await cli(['devices', 'list', '--data-dir', data, '--json'], noPass)
  t.ok(json<Array<{ id: string }>>(devs.stdout).some((d) => d.id === 'ox-1'), 'devices list on the stopped data dir: the device paired through the API')

  hub = await startHubProcess(dir, data, env)
  const stale = new ApiClient({ socket: apiSocketPath(data), cookie: old })
  t.teardown(() => { stale.close() })
  await t.rejects(stale.call('GET', '/v1/chain/info'), { code: 'ERR_API_BAD_COOKIE', status: 401 }, 'the cookie of the previous start is refused')
  const fresh = await ApiClient.forDataDir(data)
  t.teardown(() => { fresh.close() })
  t.match(await fresh.call('GET', '/v1/chain/info'), { network: 'devnet' }, 'the new one works')
  const doc = await fresh.call<{ openapi: string, paths: Record<string, Record<string, { requestBody?: { content: { 'application/json': { schema: { properties: Record<string, unknown> } } } } }>> }>('GET', '/v1/openapi.json')
  t.equal(doc.openapi, '3.1.0', 'the OpenAPI description')
  t.ok(doc.paths['/v1/keys/grant']?.post?.requestBody?.content['application/json'].schema.properties.doctor, 'generated from the request schemas')
})
