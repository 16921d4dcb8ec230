/**
 * What a home already runs, to receive the hub's alerts (README "Alerts
 * out"): Debian's Mosquitto as Home Assistant's broker (password login,
 * retained messages on) with a subscriber on the discovery and state
 * topics, an SMTP server (the smtp-server package) keeping every message,
 * and a webhook receiver keeping every POST. All on 127.0.0.1; shared by
 * the alerts tests, the devnet test and bench/e2e.ts.
 */
import { spawn, execFileSync } from 'node:child_process'
import { createServer, type IncomingHttpHeaders } from 'node:http'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { userInfo } from 'node:os'
import { createInterface } from 'node:readline'
import type { AddressInfo } from 'node:net'
import mqtt from 'mqtt'
import { SMTPServer } from 'smtp-server'
import { freePort } from '../integration/ingest-helpers.ts'
import { findTool } from './tools.ts'

export interface Received { readonly at: number, readonly text: string }
export interface MqttReceived extends Received { readonly topic: string, readonly retain: boolean }
export interface WebhookReceived extends Received { readonly headers: IncomingHttpHeaders }

export interface AlertReceivers {
  readonly mqttUrl: string
  readonly mqttUser: { readonly username: string, readonly password: string }
  readonly smtp: { readonly host: string, readonly port: number, readonly username: string, readonly password: string }
  readonly webhookUrl: string
  readonly mqtt: MqttReceived[]
  readonly mail: Received[]
  readonly webhook: WebhookReceived[]
  /** The webhook answers this status (500 plays a broken receiver). */
  webhookStatus: number
  /** Resolves with the first item `pick` finds in `list` (now or later); rejects after `ms` (a bound, not a timing claim). */
  waitFor: <T extends Received>(list: T[], pick: (x: T) => boolean, what: string, ms?: number) => Promise<T>
  /** The POST /v1/alerts body sending everything to these receivers. */
  settings: (extra?: Record<string, unknown>) => Record<string, unknown>
  /** The same as a config's alerts section (secrets in files beside it), written to `<dir>/alerts.json` for `npm start -- --alerts`; its path. */
  configFile: () => Promise<string>
  close: () => Promise<void>
}

interface Teardown { teardown: (fn: () => unknown) => void }

export async function startAlertReceivers (t: Teardown, dir: string): Promise<AlertReceivers> {
  const closers: Array<() => Promise<unknown> | unknown> = []
  const listeners = new Set<() => void>()
  const notify = (): void => { for (const l of listeners) l() }
  const mqttList: MqttReceived[] = []
  const mail: Received[] = []
  const webhook: WebhookReceived[] = []

  // Mosquitto as a home runs it for Home Assistant: logins required, retained messages kept
  const users = { ha: 'ha-secret-1', hub: 'hub-secret-1' }
  const passwordFile = join(dir, 'ha-passwd')
  let first = true
  for (const [u, p] of Object.entries(users)) { execFileSync(findTool('mosquitto_passwd')!, ['-b', ...(first ? ['-c'] : []), passwordFile, u, p]); first = false }
  let port = 0
  for (let attempt = 0; attempt < 5 && port === 0; attempt++) {
    const p = await freePort()
    const conf = join(dir, 'ha-mosquitto.conf')
    await writeFile(conf, [`listener ${p} 127.0.0.1`, 'allow_anonymous false', `password_file ${passwordFile}`, 'log_dest stderr', 'log_type error', 'log_type warning', 'log_type notice', 'log_type information', `user ${userInfo().username}`, ''].join('\n'))
    const proc = spawn(findTool('mosquitto')!, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] })
    const log: string[] = []
    const up = await new Promise<boolean>((resolve) => {
      createInterface({ input: proc.stderr! }).on('line', (l) => { log.push(l); if (/ running$/.test(l)) resolve(true) })
      proc.once('exit', () => { resolve(false) })
    })
    if (up) { port = p; closers.push(() => { proc.kill('SIGTERM') }) } else if (!log.some((l) => /in use/i.test(l))) throw new Error(`mosquitto failed to start:\n${log.join('\n')}`)
  }
  if (port === 0) throw new Error('no free port for mosquitto after 5 attempts')
  const mqttUrl = `mqtt://127.0.0.1:${port}`
  // Home Assistant's side: discovery configs and states
  const sub = await mqtt.connectAsync(mqttUrl, { username: 'ha', password: users.ha, reconnectPeriod: 0 })
  await sub.subscribeAsync(['homeassistant/#', 'healthchain/#'], { qos: 1 })
  sub.on('message', (topic, payload, packet) => { mqttList.push({ at: Date.now(), topic, text: payload.toString(), retain: packet.retain }); notify() })
  closers.push(async () => { await sub.endAsync(true) })

  // an SMTP server that keeps every message (login required, no TLS on loopback)
  const smtpUser = { username: 'alerts@home.test', password: 'smtp-secret-1' }
  const smtp = new SMTPServer({
    secure: false,
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    authOptional: false,
    logger: false,
    onAuth: (auth, _session, cb) => { if (auth.username === smtpUser.username && auth.password === smtpUser.password) cb(null, { user: auth.username }); else cb(new Error('bad login')) },
    onData: (stream, _session, cb) => {
      const chunks: Buffer[] = []
      stream.on('data', (c: Buffer) => chunks.push(c))
      stream.on('end', () => { mail.push({ at: Date.now(), text: Buffer.concat(chunks).toString('utf8') }); notify(); cb() })
    }
  })
  await new Promise<void>((resolve) => { smtp.listen(0, '127.0.0.1', resolve) })
  const smtpPort = (smtp.server.address() as AddressInfo).port
  closers.push(async () => { await new Promise<void>((resolve) => { smtp.close(() => { resolve() }) }) })

  // a webhook receiver
  const r: { webhookStatus: number } = { webhookStatus: 200 }
  const http = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      webhook.push({ at: Date.now(), text: Buffer.concat(chunks).toString('utf8'), headers: req.headers })
      res.statusCode = r.webhookStatus
      res.end()
      notify()
    })
  })
  await new Promise<void>((resolve) => { http.listen(0, '127.0.0.1', resolve) })
  closers.push(async () => { http.closeAllConnections(); await new Promise((resolve) => { http.close(resolve) }) })
  const webhookUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}/hooks/healthchain`

  const close = async (): Promise<void> => { for (const c of closers.splice(0).reverse()) await Promise.resolve(c()).catch(() => {}) }
  t.teardown(close)
  return Object.assign(r, {
    mqttUrl,
    mqttUser: { username: 'hub', password: users.hub },
    smtp: { host: '127.0.0.1', port: smtpPort, ...smtpUser },
    webhookUrl,
    mqtt: mqttList,
    mail,
    webhook,
    waitFor: async <T extends Received>(list: T[], pick: (x: T) => boolean, what: string, ms = 60_000): Promise<T> => await new Promise<T>((resolve, reject) => {
      const check = (): boolean => { const x = list.find(pick); if (x === undefined) return false; done(); resolve(x); return true }
      const timer = setTimeout(() => { done(); reject(new Error(`no ${what} within ${ms / 1000} s`)) }, ms)
      const done = (): void => { clearTimeout(timer); listeners.delete(listener) }
      const listener = (): void => { check() }
      if (!check()) listeners.add(listener)
    }),
    settings: (extra: Record<string, unknown> = {}) => ({
      minSeverity: 'low',
      mqtt: { url: mqttUrl, username: 'hub', password: users.hub },
      email: { host: '127.0.0.1', port: smtpPort, secure: false, username: smtpUser.username, password: smtpUser.password, from: 'hub@home.test', to: ['patient@home.test'] },
      webhook: { url: webhookUrl, secret: 'webhook-secret-1' },
      ...extra
    }),
    configFile: async () => {
      for (const [f, v] of [['ha-mqtt-password', users.hub], ['smtp-password', smtpUser.password], ['webhook-secret', 'webhook-secret-1']] as const) await writeFile(join(dir, f), v, { mode: 0o600 })
      const file = join(dir, 'alerts.json')
      await writeFile(file, JSON.stringify({
        minSeverity: 'low',
        mqtt: { url: mqttUrl, username: 'hub', passwordFile: 'ha-mqtt-password' },
        email: { host: '127.0.0.1', port: smtpPort, secure: false, username: smtpUser.username, passwordFile: 'smtp-password', from: 'hub@home.test', to: ['patient@home.test'] },
        webhook: { url: webhookUrl, secretFile: 'webhook-secret' }
      }, null, 2))
      return file
    },
    close
  })
}
