/**
 * The doctor's and the accounting node's control APIs (the server the hub's
 * uses: socket, cookie, peer check, zod routes): `doctor-status` and
 * `accounting status|members|block` answer through them; refusals — no
 * cookie, a wrong cookie, a malformed parameter, an unknown route, another
 * Unix user (nobody, 65534: the daemon reads its SO_PEERCRED uid, even with
 * the right cookie in hand) — are answered with the field at fault and
 * counted in GET /v1/api; mutated requests from the fuzz engine make
 * neither daemon fail (HEALTHCHAIN_API_FUZZ sets how many; 300 each).
 */
import t, { type Test } from 'tap'
import { chmod, readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { toHex } from '../../hub/src/core/index.ts'
import { apiSocketPath, cookiePath } from '../../hub/src/api/local.ts'
import { doctorRoutes } from '../../hub/src/api/daemon-routes.ts'
import { startDaemonApi } from '../../hub/src/cli/_daemon.ts'
import { startDoctor } from '../../hub/src/app/doctor.ts'
import { validateDoctorConfig } from '../../hub/src/config/doctor.ts'
import { asNobody, counters, FUZZ_COUNT, fuzzApi, NOBODY, NOBODY_ENV, raw } from '../helpers/api-probe.ts'
import { cli } from '../helpers/hub-process.ts'
import { tempDir } from '../helpers/ipfs.ts'
import { aiDoctor, doctorWorld } from '../helpers/doctor-world.ts'
import { Cluster } from '../helpers/accounting-cluster.ts'

t.setTimeout(600_000) // a bound, not a goal: a doctor world, an accounting process and ~10 CLI processes on a loaded machine

const json = <T>(s: string): T => JSON.parse(s) as T

/** The refusals every daemon's API answers and counts, then the fuzz engine's requests. */
async function refusalsAndFuzz (t: Test, name: string, dataDir: string, bad: { method: string, path: string, field: string }, seeds: string[]): Promise<void> {
  // a data dir other users may look into (a 0700 one would stop them in the kernel, before the daemon sees them)
  for (const d of [dirname(dataDir), dataDir]) await chmod(d, 0o755)
  const socket = apiSocketPath(dataDir)
  const cookie = (await readFile(cookiePath(dataDir), 'utf8')).trim()
  const auth = { authorization: `Bearer ${cookie}` }
  const before = await counters(socket, cookie)
  t.equal(before.peerCheck, 'peercred', `the ${name} reads its clients' peer credentials`)
  t.match(await raw(socket, '/v1/status'), { status: 401, body: { error: 'ERR_API_NO_COOKIE', field: 'authorization' } }, 'no cookie')
  t.match(await raw(socket, '/v1/status', { headers: { authorization: `Bearer ${'0'.repeat(64)}` } }), { status: 401, body: { error: 'ERR_API_BAD_COOKIE' } }, 'a wrong cookie')
  t.match(await raw(socket, bad.path, { method: bad.method, headers: auth, ...(bad.method === 'POST' ? { body: '{}' } : {}) }), { status: 400, body: { error: 'ERR_API_MALFORMED', field: bad.field } }, `a malformed parameter is named (${bad.field})`)
  t.match(await raw(socket, '/v1/nope', { headers: auth }), { status: 404, body: { error: 'ERR_API_NO_ROUTE' } }, 'an unknown route')
  t.equal(await asNobody(socket, '/v1/status', cookie), '403 ERR_API_OTHER_USER', 'another Unix user, even with the cookie')
  const after = await counters(socket, cookie)
  const grew = (k: string): number => (after.refused[k] ?? 0) - (before.refused[k] ?? 0)
  t.same({ no_cookie: grew('no_cookie'), bad_cookie: grew('bad_cookie'), malformed: grew('malformed'), no_route: grew('no_route'), other_user: grew('other_user') }, { no_cookie: 1, bad_cookie: 1, malformed: 1, no_route: 1, other_user: 1 }, 'each refusal counted by its reason')

  const { statuses, failures } = await fuzzApi(socket, cookie, seeds, FUZZ_COUNT, name.length)
  t.notOk(statuses.has(500), `no mutated request failed inside the ${name} (statuses: ${JSON.stringify(Object.fromEntries(statuses))})`)
  t.same(failures.slice(0, 5), [], 'every request was answered')
  const end = await counters(socket, cookie)
  t.equal(end.errors, 0, 'no 500 counted')
  t.match((await raw(socket, '/v1/health', { headers: auth })).body, { daemon: name }, 'and it still answers')
}

t.test('the doctor\'s control API', async (t) => {
  const dir = await tempDir(t, 'api-doctor')
  const world = await doctorWorld(t, dir)
  await world.serve()
  const cfg = validateDoctorConfig({ ...world.cfgFile, dataDir: join(dir, 'doctor'), mode: 'human' })
  const daemon = await startDoctor(cfg, { identity: aiDoctor, log: () => {} })
  const api = await startDaemonApi(cfg.dataDir, 'doctor', doctorRoutes(daemon), daemon.stop)
  t.teardown(async () => { await api.close(); await daemon.stop() })

  const st = await cli(['doctor-status', '--data-dir', cfg.dataDir, '--json'], process.env)
  t.equal(st.code, 0, `doctor-status exits 0 ${st.stderr}`)
  t.ok(typeof json<Record<string, unknown>>(st.stdout) === 'object', 'its status as JSON')
  await refusalsAndFuzz(t, 'doctor', cfg.dataDir, { method: 'POST', path: '/v1/queue/nothex/sign', field: 'params.id' }, [
    'GET /v1/status\n', 'GET /v1/patients\n', 'GET /v1/queue\n', 'GET /v1/diagnoses\n',
    `POST /v1/queue/${'ab'.repeat(32)}/sign\n{"severity":"urgent","note":"seen"}`, `POST /v1/queue/${'cd'.repeat(32)}/sign\n{}`,
    'GET /v1/emergency\n', `POST /v1/emergency\n{"patient":"${'ab'.repeat(32)}","epochs":[1,3],"reason":"found unconscious"}`
  ])
  const other = await cli(['doctor-status', '--data-dir', cfg.dataDir], NOBODY_ENV, NOBODY)
  t.equal(other.code, 3, 'doctor-status run by another user exits 3')
  t.match(other.stderr, /permission denied.*run this command as that user/, `with the daemon's refusal: ${other.stderr.split('\n')[0]!}`)
  t.equal((await counters(apiSocketPath(cfg.dataDir), (await readFile(cookiePath(cfg.dataDir), 'utf8')).trim())).refused.other_user, 2, 'counted too')
})

t.test('the accounting node\'s control API and `healthchain accounting status|members|block`', async (t) => {
  const dir = await tempDir(t, 'api-accounting')
  const cluster = await Cluster.start({ dir, n: 1, causes: 2 })
  t.teardown(async () => { await cluster.close() })
  const data = join(dir, 'a0')
  const receipts = await cluster.submit(0, cluster.diags(2))
  t.ok(receipts.every((r) => r.ok), 'two tx_diag committed')

  const st = await cli(['accounting', 'status', '--data-dir', data, '--json'], process.env)
  t.equal(st.code, 0, `accounting status exits 0 ${st.stderr}`)
  const status = json<{ id: string, member: number, members: number, f: number, docchain: { height: number, tip: string } }>(st.stdout)
  t.match(status, { id: toHex(cluster.members[0]!.id), member: 0, members: 1, f: 0 }, 'this member, of one')
  t.ok(status.docchain.height >= 1, `its committed Docchain height (${status.docchain.height})`)
  t.match((await cli(['accounting', 'status', '--data-dir', data], process.env)).stdout, /member +0 of 1 \(f = 0\)/, 'and as text')
  t.match(json((await cli(['accounting', 'members', '--data-dir', data, '--json'], process.env)).stdout), { members: [{ index: 0, id: toHex(cluster.members[0]!.id), self: true, leader: true }] }, 'accounting members: the leader marked')
  const block = await cli(['accounting', 'block', '1', '--data-dir', data, '--json'], process.env)
  t.equal(block.code, 0, `accounting block 1 exits 0 ${block.stderr}`)
  const ids = json<{ txs: Array<{ id: string }> }>(block.stdout).txs.map((x) => x.id)
  t.ok(receipts.some((r) => r.ok && r.height === 1 && ids.includes(toHex(r.id))), 'Dblock 1 holds a committed tx_diag')
  const above = await cli(['accounting', 'block', '999', '--data-dir', data], process.env)
  t.equal(above.code, 1, 'a Dblock above the committed height exits 1')
  t.match(above.stderr, /above the committed height/, 'saying so')
  const stopped = await cli(['accounting', 'status', '--data-dir', join(dir, 'nowhere')], process.env)
  t.equal(stopped.code, 3, 'no node running there: exit 3')
  await refusalsAndFuzz(t, 'accounting', data, { method: 'GET', path: '/v1/dblocks/x1', field: 'params.height' }, ['GET /v1/status\n', 'GET /v1/members\n', 'GET /v1/dblocks/1\n', 'GET /v1/dblocks/4294967295\n'])
})
