/**
 * `npm start` as a person runs it: the devnet command in a child process
 * spawns every role as its own daemon process (hub, a second core node, two
 * storage nodes, an AI and a human doctor, four accounting nodes) and the
 * virtual boards. One devnet is shared by the tests below, in order:
 * 1. the hub does not mine (`--hub-mining off`): the patient's first
 *    Healthcoin is a payment from another wallet (core 2's miner), which the
 *    patient prepays the consortium with (README "Healthcoin to start
 *    with"); the oximeter's desaturation episode gives a preliminary finding on the
 *    hub's patient page — and out as an alert to a Mosquitto subscriber on
 *    Home Assistant's discovery topics, an SMTP server and a webhook
 *    receiver (`--alerts`) — then a certified diagnosis read from Docchain; a
 *    review signed on the human doctor's page shows as submitted there and
 *    committed; one daemon of each kind is SIGKILLed and the supervisor
 *    restarts it; afterwards no acknowledged reading, no Ublock 6 deep and no
 *    committed diagnosis is missing.
 * 2. Ctrl-C stops every process (exit 0, no orphan); two starts without
 *    --fresh resume: grants, Docchain height and diagnoses keep moving.
 * The waits are bounds that turn a hang into a failure with the output, not
 * timing claims (bench/e2e.ts measures the latencies).
 */
import t from 'tap'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ApiClient } from '../../hub/src/api/client.ts'
import { LOGINS_FILE, parseLoginsFile } from '../../hub/src/web/logins.ts'
import { Client, trustCa } from '../helpers/http-client.ts'
import { tempDir } from '../helpers/ipfs.ts'
import { alive, DevnetRun as Run, sleep } from '../helpers/devnet-run.ts'
import { startAlertReceivers, type AlertReceivers } from '../helpers/alert-receivers.ts'
import { MOSQUITTO_SKIP } from '../helpers/mosquitto.ts'

// three devnet starts, eleven processes each, on a loaded 2-core machine: a bound, not a goal
t.setTimeout(2_400_000)

interface PatientJson {
  readings: Array<{ device: string, type: string, at: number }>
  diagnoses: Array<{ id: string, dblock: number, doctor: string, findings: Array<{ code: string }> }>
  preliminary: Array<{ id: string, dblock: number }>
  granted: Array<{ id: string }>
}

let dir = ''
let run: Run | undefined
const hubApi = async (): Promise<ApiClient> => await ApiClient.forDataDir(join(dir, 'hub'))

async function patientClient (page: string): Promise<() => Promise<PatientJson>> {
  trustCa(await readFile(join(dir, 'hub', 'tls', 'ca.pem'), 'utf8'))
  const { web } = parseLoginsFile(await readFile(join(dir, 'hub', LOGINS_FILE), 'utf8'))
  const c = new Client(page)
  await c.login(web!.username, web!.password)
  return async () => {
    const r = await c.req('GET', '/api/patient', undefined, { accept: 'application/json' })
    if (r.status !== 200) throw new Error(`/api/patient: ${r.status} ${r.text.slice(0, 200)}`)
    return r.json() as PatientJson
  }
}

async function until<T> (what: string, fn: () => Promise<T | undefined>, ms: number): Promise<T> {
  const t0 = Date.now()
  for (;;) {
    const v = await fn().catch(() => undefined)
    if (v !== undefined) return v
    if (Date.now() - t0 > ms) throw new Error(`no ${what} within ${ms / 1000} s:\n${run?.tail() ?? ''}`)
    await sleep(250)
  }
}

t.before(async () => { dir = await tempDir(t, 'devnet-processes') })
t.teardown(async () => {
  if (run !== undefined && run.exit === undefined) { run.child.kill('SIGKILL'); for (const p of run.pids()) if (alive(p)) process.kill(p, 'SIGKILL') }
})

t.test('desaturation → preliminary finding → certified diagnosis; every daemon kind killed and restarted, nothing acknowledged lost', async (t) => {
  // what the home runs, to receive the hub's alerts (skipped with the alert checks where Mosquitto is not installed)
  const rx: AlertReceivers | null = MOSQUITTO_SKIP === false ? await startAlertReceivers(t, await tempDir(t, 'devnet-alerts')) : null
  run = new Run(dir, ['--episode', '5', '--hub-mining', 'off', ...(rx === null ? [] : ['--alerts', await rx.configFile()])])
  const r = run
  const { page, human } = await r.up()
  t.equal(new Set(r.pids()).size, 10, 'ten daemon processes: hub, core node, 2 storage, 2 doctors, 4 accounting')
  const patient = await patientClient(page)

  // Healthcoin to start with: the hub does not mine; another wallet pays the patient, who prepays the consortium
  const gift = await r.line(/^\[devnet\] another wallet \(core 2's miner\) paid the patient (\d+) Healthcoin/, 'the payment from another wallet', 300_000)
  const prepaid = await r.line(/^\[devnet\] the patient prepaid/, 'the prepayment', 300_000)
  t.ok(prepaid.at > gift.at, `the patient prepaid the consortium from the ${gift[1]!} Healthcoin another wallet paid`)
  const statusApi = await hubApi()
  t.equal((await statusApi.call<{ mining: boolean }>('GET', '/v1/status')).mining, false, 'the hub does not mine')
  statusApi.close()

  // two speeds: the AI doctor's finding reaches the page as soon as it has analysed the batch in the mempool …
  const pre = await r.line(/^\[hub\] \S+ preliminary finding: tx_diag ([0-9a-f]{64}) \((\w+)\)/, 'a preliminary finding at the hub', 300_000)
  const htxd = pre[1]!
  t.not(pre[2], 'routine', `the preliminary finding is ${pre[2]!}`)
  if (rx !== null) {
    // the same finding out to the home: Home Assistant's sensors (discovery configs retained), e-mail, webhook
    const state = await rx.waitFor(rx.mqtt, (m) => m.topic === 'healthchain/hub/alert/state' && m.text.includes(htxd), 'the alert on MQTT', 60_000)
    t.equal((JSON.parse(state.text) as { kind: string }).kind, 'preliminary', 'Home Assistant\'s alert sensor gets the preliminary finding')
    t.ok(rx.mqtt.some((m) => m.topic === 'homeassistant/sensor/hub/alert/config'), 'the alert sensor was announced on the discovery topic')
    await rx.waitFor(rx.mqtt, (m) => m.topic === 'homeassistant/sensor/hub/spo2/config', 'the SpO2 sensor announced', 60_000)
    t.ok(rx.mqtt.some((m) => m.topic === 'healthchain/hub/spo2/state'), 'the oximeter\'s SpO2 readings reach Home Assistant')
    t.match((await rx.waitFor(rx.mail, (m) => m.text.includes(htxd), 'the alert e-mail', 60_000)).text, /Subject: \[Healthchain\]/, 'the e-mail reached the SMTP server')
    t.ok(await rx.waitFor(rx.webhook, (w) => w.text.includes(htxd), 'the alert webhook', 60_000), 'the webhook received it')
  }
  const seen = await until('the preliminary finding on the patient page', async () => {
    const p = await patient()
    if (p.preliminary.some((d) => d.id === htxd)) return 'preliminary'
    if (p.diagnoses.some((d) => d.id === htxd)) return 'already certified'
    return undefined
  }, 60_000)
  t.equal(seen, 'preliminary', 'the patient page lists it as preliminary (not certified yet)')
  // … and the certified diagnosis once Docchain commits it, the cause being confirmed on Userchain
  const cert = await r.line(new RegExp(`^\\[hub\\] \\S+ certified diagnosis: tx_diag ${htxd} \\((\\w+)\\) by doctor \\w+… in Dblock (\\d+), certificate verified`), 'the certified diagnosis', 300_000)
  t.ok(cert.at > pre.at, 'certified after the preliminary finding')
  const shown = await until('the certified diagnosis on the patient page', async () => {
    const p = await patient()
    const d = p.diagnoses.find((x) => x.id === htxd)
    return d !== undefined && !p.preliminary.some((x) => x.id === htxd) ? d : undefined
  }, 60_000)
  t.ok(shown.dblock >= 1, `the page shows it from certified Dblock ${shown.dblock}, no longer preliminary`)
  t.match(JSON.stringify(shown.findings), /hypoxaemia/, 'hypoxaemia found')

  // the human doctor's page: the queued review, signed there, shows as submitted
  const login = await r.line(/^\[doctor-human\] {3}page login +(\S+) \/ (\S+)/, 'the human doctor\'s page login', 1000)
  const doc = new Client(human)
  const lp = await doc.req('GET', '/login')
  const lr = await doc.req('POST', '/login', { _csrf: Client.token(lp.text), username: login[1]!, password: login[2]! })
  t.equal(lr.status, 303, 'the doctor logs in')
  const review = await until('a review in the human doctor\'s queue', async () => {
    const p = (await doc.req('GET', '/api/doctor', undefined, { accept: 'application/json' })).json() as { queue: Array<{ id: string, severity: string }> }
    return p.queue.find((q) => q.severity !== 'routine')
  }, 120_000)
  const form = await doc.req('GET', '/doctor')
  const signed = await doc.req('POST', `/doctor/reviews/${review.id}/sign`, { _csrf: Client.token(form.text) }, { accept: 'application/json' })
  t.equal(signed.status, 200, `the doctor signs the ${review.severity} review on the page`)
  const humanHtxd = (signed.json() as { htxd: string }).htxd
  const docPage = (await doc.req('GET', '/api/doctor', undefined, { accept: 'application/json' })).json() as { signed: Array<{ id: string }> }
  t.ok(docPage.signed.some((s) => s.id === humanHtxd), 'the doctor page lists it as submitted')

  // what must survive: acknowledged readings, Ublocks 6 deep, committed diagnoses
  const api = await hubApi()
  const info = await api.call<{ height: number }>('GET', '/v1/chain/info')
  const deep = info.height - 6
  const deepBlock = await api.call<{ hash: string }>('GET', `/v1/chain/blocks/${deep}`)
  api.close()
  const before = await patient()
  const readingKey = (x: { device: string, type: string, at: number }): string => `${x.device}/${x.type}/${x.at}`
  const readingsBefore = before.readings.map(readingKey)
  const diagnosesBefore = before.diagnoses.map((d) => d.id)
  const aiApi = await ApiClient.forDataDir(join(dir, 'doctor-ai'))
  const committedBefore = (await aiApi.call<Array<{ htxd: string, status: string }>>('GET', '/v1/diagnoses')).filter((d) => d.status === 'committed').map((d) => d.htxd)
  aiApi.close()

  // one daemon of each kind SIGKILLed at once (one accounting node: f = 1 keeps Docchain live)
  const victims = ['hub', 'core2', 'storage-1', 'doctor-ai', 'accounting-3']
  const mark = r.lines.length
  for (const v of victims) { const pid = r.pid(v); t.ok(alive(pid), `${v} runs (pid ${pid})`); process.kill(pid, 'SIGKILL') }
  for (const v of victims) await r.line(new RegExp(`^\\[devnet\\] ${v} restarted \\(pid \\d+\\)`), `${v} restarted by the supervisor`, 60_000, mark)
  t.pass('the supervisor reported and restarted each of them')
  await r.line(/^\[hub\] {3}control API/, 'the hub ready again', 300_000, mark)
  await r.line(/^\[doctor-ai\] {3}doctor page/, 'the AI doctor ready again', 300_000, mark)
  const after = await patientClient(page)

  // Docchain moves on: the human doctor's diagnosis and the next AI ones commit after the restarts
  await r.line(new RegExp(`^\\[hub\\] \\S+ certified diagnosis: tx_diag ${humanHtxd}`), 'the human doctor\'s diagnosis certified', 300_000)
  await r.line(/^\[hub\] \S+ certified diagnosis: /, 'a diagnosis certified after the restarts', 300_000, mark)
  const p = await after()
  const readingsAfter = new Set(p.readings.map(readingKey))
  const oldest = Math.min(...p.readings.map((x) => x.at))
  const lostReadings = readingsBefore.filter((k) => !readingsAfter.has(k) && Number(k.split('/')[2]) >= oldest)
  t.equal(lostReadings.length, 0, `no acknowledged reading missing (${readingsBefore.length} listed before the kills)`)
  const lostDiagnoses = diagnosesBefore.filter((id) => !p.diagnoses.some((d) => d.id === id))
  t.equal(lostDiagnoses.length, 0, `no certified diagnosis missing on the patient page (${diagnosesBefore.length} before, ${p.diagnoses.length} after)`)
  const api2 = await hubApi()
  const again = await api2.call<{ hash: string }>('GET', `/v1/chain/blocks/${deep}`)
  api2.close()
  t.equal(again.hash, deepBlock.hash, `Ublock ${deep} (6 deep before the kills) is still on the best chain`)
  const aiApi2 = await ApiClient.forDataDir(join(dir, 'doctor-ai'))
  const committedAfter = new Set((await aiApi2.call<Array<{ htxd: string, status: string }>>('GET', '/v1/diagnoses')).filter((d) => d.status === 'committed').map((d) => d.htxd))
  aiApi2.close()
  t.equal(committedBefore.filter((h) => !committedAfter.has(h)).length, 0, `no committed diagnosis missing in the AI doctor's journal (${committedBefore.length} before, ${committedAfter.size} after)`)
})

t.test('Ctrl-C stops every process; two starts without --fresh resume: grants, Docchain height and diagnoses keep moving', async (t) => {
  if (run === undefined) { t.fail('no devnet from the first test'); return }
  const status = async (): Promise<{ height: number, diagnoses: number }> => {
    const api = await hubApi()
    try { const s = await api.call<{ docchain: { height: number, diagnoses: number } }>('GET', '/v1/status'); return s.docchain } finally { api.close() }
  }
  let last = await status()
  for (let round = 1; round <= 2; round++) {
    const pids = run.pids()
    const stopped = await run.interrupt()
    t.equal(stopped.code, 0, `Ctrl-C: exit 0 (in ${stopped.ms} ms)`)
    t.same(pids.filter(alive), [], `no daemon left running (${pids.length} PIDs checked)`)
    run = new Run(dir)
    const { page } = await run.up()
    t.notOk(run.lines.some((l) => /logins +made on this start|page login/.test(l)), `start ${round + 1}: no new logins`)
    const patient = await patientClient(page)
    const p = await patient()
    t.equal(p.granted.length, 2, 'the patient page still lists both doctors granted')
    const humanApi = await ApiClient.forDataDir(join(dir, 'doctor-human'))
    const patients = await until('the human doctor to know its patient again', async () => {
      const ps = await humanApi.call<Array<{ user: string, granted: boolean }>>('GET', '/v1/patients')
      return ps.some((x) => x.granted) ? ps : undefined
    }, 120_000)
    humanApi.close()
    t.ok(patients.some((x) => x.granted), 'the human doctor has its patient\'s grant')
    const mark = run.lines.length
    await run.line(/^\[hub\] \S+ certified diagnosis: /, `a new certified diagnosis after start ${round + 1}`, 400_000, mark)
    const now = await until('the hub\'s Docchain status', async () => { const s = await status(); return s.height > last.height ? s : undefined }, 60_000)
    t.ok(now.height > last.height, `Docchain height moved: ${last.height} → ${now.height}`)
    t.ok(now.diagnoses > last.diagnoses, `diagnoses moved: ${last.diagnoses} → ${now.diagnoses}`)
    last = now
  }
  const pids = run.pids()
  const stopped = await run.interrupt()
  t.equal(stopped.code, 0, `Ctrl-C: exit 0 (in ${stopped.ms} ms)`)
  t.same(pids.filter(alive), [], 'no daemon left running')
})
