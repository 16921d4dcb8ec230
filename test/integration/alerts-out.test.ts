/**
 * Alerts out (README "Alerts out") against what a home runs: Debian's
 * Mosquitto with a Home Assistant-style subscriber, an SMTP server and a
 * webhook receiver (test/helpers/alert-receivers.ts). The hub's alert
 * service (app/alerts.ts) as startHub wires it: a finding the AI analyzer
 * made reaches all three; Home Assistant gets retained discovery configs
 * for the alert and the vital signs; a broken channel is retried, counted
 * and holds up neither the others nor the caller; the secrets are
 * encrypted at rest and open only under the hub's identity. The devnet
 * carries the same path end to end (test/e2e/devnet-processes.test.ts).
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { identityFromSeed, toHex } from '../../hub/src/core/index.ts'
import { analyze } from '../../hub/src/ai/analyzer.ts'
import { openAlerts, type HubAlerts } from '../../hub/src/app/alerts.ts'
import { AlertsSettingsBody, alertSettingsPath, loadAlertSettings } from '../../hub/src/alerts/settings.ts'
import { webhookSignature } from '../../hub/src/alerts/webhook.ts'
import { SilentSensors } from '../../hub/src/alerts/silent.ts'
import { parseWith } from '../../hub/src/config/schema.ts'
import type { PatientDiagnosis } from '../../hub/src/roles/user/diagnoses.ts'
import { startAlertReceivers } from '../helpers/alert-receivers.ts'
import { MOSQUITTO_SKIP } from '../helpers/mosquitto.ts'
import { tempDir } from '../helpers/ipfs.ts'

const user = identityFromSeed(new Uint8Array(randomBytes(32)))

function finding (spo2: number): PatientDiagnosis {
  const diagnosis = analyze(Array.from({ length: 6 }, (_, i) => ({ t: 'spo2', v: spo2, ts: 1000 * i })))
  return { htxd: toHex(new Uint8Array(randomBytes(32))), doctor: toHex(new Uint8Array(32)), dblock: 0, ts: 1, causes: [], diagnosis }
}

t.test('an urgent finding reaches Home Assistant (discovery topics), e-mail and the webhook; a dead channel is retried and counted; secrets encrypted at rest', { skip: MOSQUITTO_SKIP }, async (t) => {
  const dir = await tempDir(t, 'alerts-out')
  const rx = await startAlertReceivers(t, dir)
  const log: string[] = []
  const open = async (): Promise<HubAlerts> => {
    const a = await openAlerts({ dataDir: dir, user, node: 'hub', devices: () => ['ox-1'], log: (l) => log.push(l), backoffMs: [50, 100] })
    t.teardown(a.stop)
    return a
  }
  const alerts = await open()
  t.same((await alerts.service.status()).source, 'none', 'no settings yet: nothing goes out')
  const st = await alerts.service.configure(parseWith(AlertsSettingsBody, rx.settings()))
  t.same(Object.values(st.channels).map((c) => c.configured), [true, true, true], 'mqtt, email and webhook configured')
  t.same((st.settings as { email: { password: unknown } }).email.password, true, 'the status shows a secret only as set')

  // Home Assistant's discovery: the alert sensor, retained, on connect
  const cfg = await rx.waitFor(rx.mqtt, (m) => m.topic === 'homeassistant/sensor/hub/alert/config', 'the alert sensor\'s discovery config')
  const disc = JSON.parse(cfg.text) as { state_topic: string, unique_id: string, device: { identifiers: string[] } }
  t.equal(disc.state_topic, 'healthchain/hub/alert/state', 'its state topic')
  t.equal(disc.unique_id, 'healthchain_hub_alert', 'a unique id, so Home Assistant keeps it across restarts')
  // a vital sign becomes a sensor of the same device
  alerts.reading({ device: 'ox-1', type: 'spo2', value: 91, unit: '%' })
  const vcfg = JSON.parse((await rx.waitFor(rx.mqtt, (m) => m.topic === 'homeassistant/sensor/hub/spo2/config', 'the SpO2 sensor\'s discovery config')).text) as { unit_of_measurement: string, device: { identifiers: string[] } }
  t.equal(vcfg.unit_of_measurement, '%', 'SpO2 in %')
  t.same(vcfg.device.identifiers, disc.device.identifiers, 'one Home Assistant device for the alert and the vitals')
  alerts.reading({ device: 'ox-1', type: 'spo2', value: 90, unit: '%' })
  const vstate = await rx.waitFor(rx.mqtt, (m) => m.topic === 'healthchain/hub/spo2/state' && JSON.parse(m.text).value === 90, 'the SpO2 state')
  t.ok(vstate, 'the reading is the sensor\'s state')

  // a finding: preliminary, then the same one certified (sent once), and a routine one (below the minimum: not sent)
  const d = finding(84)
  t.not(d.diagnosis.severity, 'routine', `the analyzer finds SpO2 84 % ${d.diagnosis.severity}`)
  alerts.finding(d, false)
  alerts.finding(d, true)
  alerts.finding(finding(98), false)
  const state = await rx.waitFor(rx.mqtt, (m) => m.topic === 'healthchain/hub/alert/state' && m.text.includes(d.htxd), 'the alert on MQTT')
  const j = JSON.parse(state.text) as { kind: string, severity: string, text: string }
  t.equal(j.kind, 'preliminary', 'sent as a preliminary finding')
  t.equal(j.severity, d.diagnosis.severity, 'with its severity (Home Assistant\'s state)')
  t.match(j.text, /oxygen/i, 'the patient\'s plain text')
  const mail = await rx.waitFor(rx.mail, (m) => m.text.includes(d.htxd), 'the e-mail')
  t.match(mail.text, /Subject: \[Healthchain\] \w+ finding/, 'the e-mail\'s subject names the finding')
  t.match(mail.text, /To: patient@home\.test/, 'to the configured address')
  const hook = await rx.waitFor(rx.webhook, (w) => w.text.includes(d.htxd), 'the webhook POST')
  t.equal(hook.headers['x-healthchain-signature'], webhookSignature('webhook-secret-1', hook.text), 'the webhook body is signed with the secret (HMAC-SHA256)')
  t.equal(hook.headers['content-type'], 'application/json', 'JSON')
  // the next alert proves the earlier ones were all handled: no repeat of d, no routine finding
  const d2 = finding(80)
  alerts.finding(d2, true)
  await rx.waitFor(rx.webhook, (w) => w.text.includes(d2.htxd), 'a certified finding with no preliminary before it')
  t.equal(rx.webhook.filter((w) => w.text.includes(d.htxd)).length, 1, 'a finding goes out once (its certified copy is not sent again)')
  t.equal(rx.webhook.length, 2, 'the routine finding did not go out')

  // a broken webhook: retried with backoff, counted, given up; MQTT and e-mail still deliver
  rx.webhookStatus = 500
  const d3 = finding(83)
  alerts.finding(d3, false)
  await rx.waitFor(rx.mail, (m) => m.text.includes(d3.htxd), 'the e-mail while the webhook is broken')
  await rx.waitFor(rx.mqtt, (m) => m.text.includes(d3.htxd), 'the MQTT alert while the webhook is broken')
  for (let i = 0; i < 200 && (await alerts.service.status()).channels.webhook.gaveUp === 0; i++) await new Promise((resolve) => setTimeout(resolve, 25))
  const wh = (await alerts.service.status()).channels.webhook
  t.equal(rx.webhook.filter((w) => w.text.includes(d3.htxd)).length, 3, 'the webhook was tried three times (the first, then two retries)')
  t.equal(wh.failed, 3, 'three failures counted')
  t.equal(wh.gaveUp, 1, 'then given up')
  t.match(wh.lastError ?? '', /answered 500/, 'the last error says why')
  t.ok(log.some((l) => /webhook: .*retry in/.test(l)), 'the log says it retries')
  await t.rejects(alerts.service.test('webhook'), { code: 'ERR_ALERT_DELIVERY', message: /answered 500/ }, 'the test button shows the failure')
  rx.webhookStatus = 200
  const tested = await alerts.service.test('webhook')
  t.ok(tested.delivered, 'repaired, the test goes through')
  await t.rejects(alerts.service.configure(parseWith(AlertsSettingsBody, { webhook: { url: rx.webhookUrl } })).then(async () => await alerts.service.test('email')), { code: 'ERR_ALERT_CHANNEL_OFF' }, 'a channel left out of the settings is off')

  // secrets at rest: none in clear; a restart opens them under the identity; another identity cannot
  const file = await readFile(alertSettingsPath(dir), 'utf8')
  t.notMatch(file, /webhook-secret-1|smtp-secret-1|hub-secret-1/, 'no secret in clear in alerts.json')
  await alerts.service.configure(parseWith(AlertsSettingsBody, rx.settings()))
  await alerts.stop()
  const again = await open()
  t.equal((await again.service.status()).source, 'saved', 'after a restart the saved settings are in force')
  t.ok((await again.service.test('email')).delivered, 'the SMTP password opened again: the test e-mail is delivered')
  await t.rejects(loadAlertSettings(dir, identityFromSeed(new Uint8Array(randomBytes(32)))), { code: 'ERR_ALERT_SETTINGS_FILE' }, 'another identity cannot open the secrets')
})

t.test('a dead broker, SMTP server or URL: counted, never thrown into the hub', async (t) => {
  const dir = await tempDir(t, 'alerts-dead')
  const alerts = await openAlerts({ dataDir: dir, user, node: 'hub', devices: () => [], log: () => {}, backoffMs: [] })
  t.teardown(alerts.stop)
  await alerts.service.configure(parseWith(AlertsSettingsBody, {
    mqtt: { url: 'mqtt://127.0.0.1:1' },
    email: { host: '127.0.0.1', port: 1, from: 'a@b.test', to: ['c@d.test'] },
    webhook: { url: 'http://127.0.0.1:1/x' }
  }))
  const d = finding(82)
  t.doesNotThrow(() => { alerts.finding(d, false) }, 'raising an alert never throws')
  for (let i = 0; i < 200; i++) {
    const c = (await alerts.service.status()).channels
    if (c.mqtt.gaveUp === 1 && c.email.gaveUp === 1 && c.webhook.gaveUp === 1) break
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  const c = (await alerts.service.status()).channels
  for (const n of ['mqtt', 'email', 'webhook'] as const) {
    t.equal(c[n].gaveUp, 1, `${n}: given up and counted`)
    t.ok((c[n].lastError ?? '') !== '', `${n}: why (${c[n].lastError})`)
  }
})

t.test('a silent sensor raises one alert, and another only after it spoke and fell silent again', async (t) => {
  let now = 0
  const raised: string[] = []
  const s = new SilentSensors({ minutes: () => 10, now: () => now, devices: () => ['ox-1', 'th-1'], silent: (d, since) => raised.push(`${d}@${since}`) })
  s.check()
  s.seen('ox-1')
  now = 9 * 60_000
  s.seen('th-1')
  s.check()
  t.same(raised, [], 'nothing before 10 minutes')
  now = 10 * 60_000
  s.check()
  s.check()
  t.same(raised, ['ox-1@0'], 'ox-1 silent 10 minutes: one alert, not one per check')
  now = 20 * 60_000
  s.seen('ox-1')
  s.check()
  t.same(raised, ['ox-1@0', 'th-1@540000'], 'th-1 silent in turn')
  now = 31 * 60_000
  s.check()
  t.same(raised, ['ox-1@0', 'th-1@540000', 'ox-1@1200000'], 'ox-1 spoke, then fell silent again: a new alert')
})
