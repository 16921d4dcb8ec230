/**
 * Backup and restore as a user meets it (README "Backup and restore"): a hub
 * runs (`healthchain hub --config`, its own process) with a paired device that
 * publishes readings over MQTT; once they are acknowledged, `healthchain
 * backup` writes the archive through the running hub's control API, and the
 * hub's schedule has written one into its backup folder. The data dir is
 * deleted; `healthchain restore` refuses a wrong passphrase (damaged archives,
 * a non-empty data dir: test/unit/backup-archive.test.ts), then restores; the hub starts from the
 * restored dir with its device (its old secret still works), its page login,
 * and every reading acknowledged before the backup.
 */
import t from 'tap'
import mqtt from 'mqtt'
import { readdir, readFile, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { readingsTopic } from '../../hub/src/ingest/mqtt.ts'
import { formatLine } from '../../hub/src/ingest/line.ts'
import { ArchiveReader } from '../../hub/src/store/backup-archive.ts'
import { ApiClient } from '../../hub/src/api/client.ts'
import { Client } from '../helpers/http-client.ts'
import { cli, startHubProcess } from '../helpers/hub-process.ts'

t.setTimeout(300_000) // a bound, not a goal: two hub starts and a dozen CLI processes on a loaded 2-core machine

const PASS = 'restore me later please'
const env = { ...process.env, HEALTHCHAIN_PASSPHRASE: PASS }
const READINGS = 8

interface Status { devices: number, batches: { pendingReadings: number } }
interface Batches { batches: Array<{ readings: number }> }

/** Readings the hub on `data` holds, acknowledged and not yet confirmed: still open, or in a closed batch on its way to Userchain. */
async function heldReadings (data: string): Promise<number> {
  const c = await ApiClient.forDataDir(data)
  try {
    const st = await c.call<Status>('GET', '/v1/status')
    const b = await c.call<Batches>('GET', '/v1/batches')
    return st.batches.pendingReadings + b.batches.reduce((n, x) => n + x.readings, 0)
  } finally { c.close() }
}

t.test('delete the data dir, restore the archive: the hub resumes with its device, its login and every acknowledged reading', async (t) => {
  const dir = t.testdir()
  const data = join(dir, 'data')
  const scheduled = join(dir, 'scheduled')
  t.equal((await cli(['keys', 'new', '--data-dir', data], env)).code, 0, 'keys new')
  let hub = await startHubProcess(dir, data, env, { hubId: 'home', backup: { dir: scheduled } })
  t.teardown(async () => { await hub.stop() })
  const login = hub.login!
  const user = hub.user
  t.ok(login !== undefined, 'the first start made the page login')

  const add = await cli(['devices', 'add', 'ox-1', '--sensor', 'spo2', '--data-dir', data, '--json'], env)
  t.equal(add.code, 0, `devices add through the running hub ${add.stderr}`)
  const secret = (JSON.parse(add.stdout) as { secret: string }).secret
  const port = Number(/MQTT broker\s+port (\d+)/.exec(hub.out())![1])
  const ox = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { username: 'ox-1', password: secret, clientId: 'ox-1', reconnectPeriod: 0 })
  const ts = Date.now()
  // each publish resolves on its PUBACK: the hub has acknowledged the reading
  for (let s = 0; s < READINGS; s++) await ox.publishAsync(readingsTopic('home', 'ox-1'), formatLine({ d: 'ox-1', b: 1, s, t: 'spo2', v: 97, ts: ts + s * 1000 }).trimEnd(), { qos: 1 })
  await ox.endAsync()
  t.equal(await heldReadings(data), READINGS, `the hub holds the ${READINGS} acknowledged readings`)

  const archive = join(dir, 'home.hcb')
  const b = await cli(['backup', '--config', join(dir, 'hub.json'), '--out', archive], env)
  t.equal(b.code, 0, `backup while the hub runs (through its control API) ${b.stderr}`)
  t.match(b.stdout, /backup written: .*home\.hcb .*ingest \d+ entries/, b.stdout.trim())
  t.equal((await stat(archive)).mode & 0o777, 0o600, 'the archive is readable by its owner only')
  const plain = await readFile(archive)
  for (const s of [secret, login.password, '"keystore"', 'spo2']) t.notOk(plain.includes(s), `${s.slice(0, 12)}… does not appear in the archive's bytes`)

  // the schedule backed up at start (no archive in its folder yet), under the keystore passphrase
  const files = await readdir(scheduled)
  t.match(files, [/^healthchain-backup-.+\.hcb$/], `one scheduled archive in the backup folder (${files.join(', ')})`)
  const sr = await ArchiveReader.open(join(scheduled, files[0]!), PASS)
  t.match(sr.manifest, { kind: 'healthchain-backup', user: hub.user, dataDir: data }, 'it opens with the keystore passphrase')
  await sr.close()

  t.equal(await hub.stop(), 0, 'hub stopped')
  // with the hub stopped the CLI reads the data dir itself: the same stores, entry for entry
  const off = await cli(['backup', '--data-dir', data, '--out', join(dir, 'offline.hcb')], env)
  t.equal(off.code, 0, `backup of the stopped hub's data dir ${off.stderr}`)
  t.equal(/ingest (\d+) entries/.exec(off.stdout)?.[1], /ingest (\d+) entries/.exec(b.stdout)?.[1], `the same ingest entries as the running hub's archive (${off.stdout.split('\n')[0]!})`)
  await rm(data, { recursive: true, force: true })

  // refusals: nothing is written for any of them
  const wrong = await cli(['restore', archive], { ...env, HEALTHCHAIN_PASSPHRASE: 'not the right passphrase' })
  t.match({ code: wrong.code, err: wrong.stderr }, { code: 1, err: /wrong passphrase/ }, `wrong passphrase: ${wrong.stderr.trim()}`)
  t.notOk((await readdir(dir)).includes('data'), 'the refusal wrote nothing')

  const r = await cli(['restore', archive], env)
  t.equal(r.code, 0, `restore ${r.stderr}`)
  t.match(r.stdout, /restored .*data from the backup/, r.stdout.trim())

  hub = await startHubProcess(dir, data, env, { hubId: 'home', backup: { dir: scheduled } })
  t.equal(hub.user, user, 'the same identity')
  t.notOk(/logins +made on this start/.test(hub.out()), 'no new logins were made: the restored ones stand')
  t.equal(await heldReadings(data), READINGS, `all ${READINGS} readings acknowledged before the backup are back`)
  const c = await ApiClient.forDataDir(data)
  t.match(await c.call('GET', '/v1/devices'), [{ id: 'ox-1', sensors: ['spo2'] }], 'the paired device is back')
  c.close()
  const again = await mqtt.connectAsync(`mqtt://127.0.0.1:${Number(/MQTT broker\s+port (\d+)/.exec(hub.out())![1])}`, { username: 'ox-1', password: secret, clientId: 'ox-1', reconnectPeriod: 0 })
  await again.publishAsync(readingsTopic('home', 'ox-1'), formatLine({ d: 'ox-1', b: 1, s: READINGS, t: 'spo2', v: 96, ts: Date.now() }).trimEnd(), { qos: 1 })
  await again.endAsync()
  t.equal(await heldReadings(data), READINGS + 1, 'the device publishes with its old secret, and its next reading is accepted')
  const page = new Client(hub.page)
  const csrf = await page.login(login.username, login.password)
  t.equal((await page.req('GET', '/api/patient')).status, 200, 'the page login made before the backup works')
  // the page's backup section: the schedule, and a backup now into the folder
  t.match((await page.req('GET', '/patient')).text, /<h2 id="backup-h">Backups<\/h2>[^]*Every 24 h into/, 'the page shows the backup schedule')
  const now = await page.req('POST', '/patient/backup', { _csrf: csrf }, { accept: 'application/json' })
  t.match({ status: now.status, body: now.json() }, { status: 200, body: { file: new RegExp(`^${scheduled}/healthchain-backup-`) } }, 'the page\'s "Back up now" writes an archive into the folder')
  t.match((await page.req('GET', '/api/patient')).json(), { backup: { schedule: { dir: scheduled, everyHours: 24, keep: 7 }, lastError: null } }, 'and the page\'s data say so')
})
