/**
 * The device registry and the pipeline's restart on real LevelDB, and the
 * `healthchain devices` CLI: pairing, authentication, counters that survive
 * a restart, replay marks and pending readings reloaded on open, the window
 * flush.
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { formatLine } from '../../hub/src/ingest/line.ts'
import { Ingest } from '../../hub/src/ingest/pipeline.ts'
import { DeviceExistsError, UnknownDeviceError } from '../../hub/src/ingest/errors.ts'
import { ingestDbPath } from '../../hub/src/ingest/hub.ts'
import { tempDir, until } from '../integration/ingest-helpers.ts'

const run = promisify(execFile)
const CLI = fileURLToPath(new URL('../../hub/src/cli.ts', import.meta.url))
const line = (s: number, v = 97, b = 1): string => formatLine({ d: 'ox-1', b, s, t: 'spo2', v, ts: s })

t.test('registry: pairing, secrets, counters, restart', async (t) => {
  const dir = await tempDir(t, 'registry')
  let ing = await Ingest.open(join(dir, 'db'), { sync: false })
  const { secret, device } = await ing.registry.add('ox-1', { user: 'alice', sensors: ['spo2'] })
  t.equal(device.accepted, 0)
  t.notOk('secretHash' in device, 'the public view hides the hash')
  t.ok(ing.registry.authenticate('ox-1', secret))
  t.ok(ing.registry.authenticate('ox-1', Buffer.from(secret)), 'MQTT passwords arrive as bytes')
  t.notOk(ing.registry.authenticate('ox-1', secret + 'x'))
  t.notOk(ing.registry.authenticate('ox-1', undefined))
  t.notOk(ing.registry.authenticate('nobody', secret))
  await t.rejects(ing.registry.add('ox-1', { user: 'alice', sensors: [] }), DeviceExistsError)

  t.match(await ing.submit(line(0), { source: 'api' }), { ok: true, user: 'alice' })
  t.match(await ing.submit(line(1), { source: 'api' }), { ok: true })
  t.match(await ing.submit(formatLine({ d: 'zz-9', b: 1, s: 0, t: 'hr', v: 60, ts: 0 }), { source: 'api' }), { ok: false, error: { code: 'ERR_UNKNOWN_DEVICE' } }, 'unregistered device dropped')
  await ing.close()

  ing = await Ingest.open(join(dir, 'db'), { sync: false })
  t.equal(ing.registry.get('ox-1')!.accepted, 2, 'counters persisted on close')
  t.ok(ing.registry.authenticate('ox-1', secret), 'secret still valid after restart')
  t.equal(ing.pendingCount('alice'), 2, 'pending readings reloaded')
  t.match(await ing.submit(line(1), { source: 'api' }), { ok: false, error: { code: 'ERR_REPLAY' } }, 'replay marks reloaded')
  t.match(await ing.submit(line(0, 97, 2), { source: 'api' }), { ok: true }, 'a new boot id is accepted')
  const b = await ing.flush('alice')
  t.equal(b!.readings.length, 3)
  t.equal(b!.reason, 'manual')
  await ing.registry.remove('ox-1')
  t.notOk(ing.registry.authenticate('ox-1', secret), 'removed device cannot log in')
  await t.rejects(ing.registry.remove('ox-1'), UnknownDeviceError)
  await ing.close()
})

t.test('restart: a pending reading that crosses a threshold closes its batch on open', async (t) => {
  const dir = await tempDir(t, 'reopen-event')
  let ing = await Ingest.open(join(dir, 'db'), { sync: false, thresholds: [] })
  await ing.registry.add('ox-1', { user: 'alice', sensors: ['spo2'] })
  await ing.submit(line(0, 96), { source: 'api' })
  await ing.submit(line(1, 85), { source: 'api' })
  t.equal(ing.pendingCount('alice'), 2, 'no threshold configured: still pending')
  await ing.close()
  ing = await Ingest.open(join(dir, 'db'), { sync: false })
  t.teardown(() => ing.close())
  const batches = await ing.batches('alice')
  t.equal(batches.length, 1, 'with the default SpO2 < 90 threshold the batch closed on open')
  t.equal(batches[0]!.reason, 'event')
  t.equal(batches[0]!.readings.length, 2)
  t.equal(ing.pendingCount('alice'), 0)
})

t.test('window flush: the batch closes when its window elapses', async (t) => {
  const dir = await tempDir(t, 'window')
  const ing = await Ingest.open(join(dir, 'db'), { sync: false, windowMs: 150 })
  t.teardown(() => ing.close())
  await ing.registry.add('ox-1', { user: 'alice', sensors: ['spo2'] })
  const batch = new Promise<{ reason: string, readings: unknown[] }>((resolve) => ing.once('batch', resolve))
  await ing.submit(line(0), { source: 'api' })
  await ing.submit(line(1), { source: 'api' })
  const b = await batch
  t.equal(b.reason, 'window')
  t.equal(b.readings.length, 2)
  t.equal((await ing.batches('alice')).length, 1)
  await ing.deleteBatch((await ing.batches('alice'))[0]!.id)
  t.equal((await ing.batches('alice')).length, 0, 'taken batches are forgotten')
})

t.test('healthchain devices add|list|remove', async (t) => {
  const dir = await tempDir(t, 'cli')
  const env = { ...process.env, HEALTHCHAIN_DATA: dir }
  const cli = async (...args: string[]): Promise<{ stdout: string, stderr: string, code: number }> => {
    try {
      const r = await run(process.execPath, ['--no-warnings', CLI, 'devices', ...args], { env })
      return { ...r, code: 0 }
    } catch (e) {
      const err = e as { stdout: string, stderr: string, code: number }
      return { stdout: err.stdout, stderr: err.stderr, code: err.code }
    }
  }
  const added = await cli('add', 'ox-1', '--user', 'alice', '--sensor', 'spo2', 'hr', '--json')
  t.equal(added.code, 0, added.stderr)
  const rec = JSON.parse(added.stdout) as { id: string, secret: string, sensors: string[] }
  t.match(rec, { id: 'ox-1', sensors: ['spo2', 'hr'] })
  t.ok(rec.secret.length >= 32, 'a secret is printed once')
  const dup = await cli('add', 'ox-1', '--user', 'alice')
  t.equal(dup.code, 1)
  t.match(dup.stderr, /already registered/)
  t.match((await cli('add', 'Bad_Id', '--user', 'alice')).stderr, /\[a-z0-9-\]/)
  t.match((await cli('add', 'x-1', '--user', 'alice', '--sensor', 'glucose')).stderr, /unknown sensor type/)
  t.match((await cli('list')).stdout, /ox-1\s+alice\s+spo2,hr\s+0\s+never/)
  const listed = JSON.parse((await cli('list', '--json')).stdout) as Array<{ id: string }>
  t.same(listed.map((d) => d.id), ['ox-1'])

  // the secret printed by the CLI authenticates in the hub
  const ing = await Ingest.open(ingestDbPath(dir), { sync: false })
  t.ok(ing.registry.authenticate('ox-1', rec.secret))
  t.match((await cli('list')).stderr, /is in use by a process whose control API does not answer; stop it first/, 'clear error while another process holds the database')
  await ing.close()

  t.equal((await cli('remove', 'ox-1')).code, 0)
  t.match((await cli('remove', 'ox-1')).stderr, /not registered/)
  t.match((await cli('list')).stdout, /no devices paired/)
  t.match((await cli('add', '--help')).stdout, /--sensor/, '--help text')
})

void until
