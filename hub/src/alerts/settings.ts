/**
 * Where the hub's alerts go, and their secrets at rest. The config file's
 * `alerts` section names secret files (like broker.passwordFile); the page
 * and the control API (POST /v1/alerts) take the secrets inline and the hub
 * keeps them in <dataDir>/alerts.json, AES-256-GCM under a secret of its
 * identity (selfSecret: only a hub that unlocked its keystore opens them).
 * Once the patient saved settings there, they win over the config's.
 */
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { aesGcmDecrypt, aesGcmEncrypt, fromHex, InvalidFieldError, selfSecret, toHex, utf8Bytes, type Identity } from '../core/index.ts'
import { intIn, nonEmpty, parseWith, port, z } from '../config/schema.ts'
import { readPrivateJson } from '../store/private-file.ts'
import { writeFileAtomic } from '../store/keystore.ts'
import { AlertSettingsFileError } from './errors.ts'

export const CHANNELS = ['mqtt', 'email', 'webhook'] as const
export type ChannelName = typeof CHANNELS[number]
export const ALERT_SEVERITIES = ['low', 'urgent', 'emergency'] as const

export interface MqttSettings { readonly url: string, readonly username?: string, readonly password?: string, readonly discoveryPrefix: string, readonly node: string }
export interface EmailSettings { readonly host: string, readonly port: number, readonly secure: boolean, readonly username?: string, readonly password?: string, readonly from: string, readonly to: readonly string[] }
export interface WebhookSettings { readonly url: string, readonly secret?: string }

export interface AlertSettings {
  /** The lowest severity of a finding (preliminary or certified) that goes out. */
  readonly minSeverity: typeof ALERT_SEVERITIES[number]
  /** A paired device with no reading for this many minutes raises a silent-sensor alert (0: never). */
  readonly silentMinutes: number
  readonly mqtt?: MqttSettings
  readonly email?: EmailSettings
  readonly webhook?: WebhookSettings
}

/** The sections' shape, with each secret either a file (`file`: the config) or inline (`inline`: the page and the API). */
function sectionSchema (secrets: 'file' | 'inline') {
  const secret = (name: string, what: string) => secrets === 'file'
    ? { [`${name}File`]: nonEmpty().optional().describe(`file holding the ${what}`) }
    : { [name]: z.string({ error: 'must be a string' }).max(1024, { error: 'at most 1024 characters' }).optional().describe(`the ${what} (kept encrypted at rest)`) }
  const email = z.string({ error: 'must be an e-mail address' }).regex(/^[^\s@<>]{1,64}@[^\s@<>]{1,255}$/, { error: 'must be an e-mail address' })
  return z.strictObject({
    minSeverity: z.enum(ALERT_SEVERITIES, { error: 'must be low, urgent or emergency' }).default('low').describe('the lowest severity of a finding (preliminary or certified) sent out'),
    silentMinutes: intIn(0, 10_080).default(10).describe('a paired device with no reading for this many minutes raises a silent-sensor alert (0: never)'),
    mqtt: z.strictObject({
      url: z.string({ error: 'must start with mqtt:// or mqtts://' }).regex(/^mqtts?:\/\//, { error: 'must start with mqtt:// or mqtts://' }).describe('the home\'s MQTT broker (the one Home Assistant reads)'),
      username: nonEmpty().optional(),
      ...secret('password', 'broker password'),
      discoveryPrefix: z.string({ error: 'must match [a-zA-Z0-9_-]{1,64}' }).regex(/^[a-zA-Z0-9_-]{1,64}$/, { error: 'must match [a-zA-Z0-9_-]{1,64}' }).default('homeassistant').describe('Home Assistant\'s MQTT discovery prefix'),
      node: z.string({ error: 'must match [a-zA-Z0-9_-]{1,64}' }).regex(/^[a-zA-Z0-9_-]{1,64}$/, { error: 'must match [a-zA-Z0-9_-]{1,64}' }).optional().describe('the node id in the discovery topics (default: the hub id)')
    }, { error: 'must be {"url", "username", "password…", "discoveryPrefix", "node"}' }).optional().describe('vitals and alerts as Home Assistant sensors (MQTT discovery)'),
    email: z.strictObject({
      host: nonEmpty().describe('SMTP server'),
      port: port().default(587),
      secure: z.boolean({ error: 'must be true or false' }).default(false).describe('TLS from the start (port 465); false: STARTTLS when the server offers it'),
      username: nonEmpty().optional(),
      ...secret('password', 'SMTP password'),
      from: email,
      to: z.array(email, { error: 'must be a list of e-mail addresses' }).min(1, { error: 'at least one address' }).max(16, { error: 'at most 16 addresses' })
    }, { error: 'must be {"host", "port", "secure", "username", "password…", "from", "to"}' }).optional().describe('alerts by e-mail over SMTP'),
    webhook: z.strictObject({
      url: z.string({ error: 'must start with http:// or https://' }).regex(/^https?:\/\/[^\s]+$/, { error: 'must start with http:// or https://' }),
      ...secret('secret', 'webhook secret (each POST carries X-Healthchain-Signature: sha256=HMAC-SHA256(secret, body))')
    }, { error: 'must be {"url", "secret…"}' }).optional().describe('alerts POSTed as JSON to a URL')
  }, { error: 'must be {"minSeverity", "silentMinutes", "mqtt", "email", "webhook"}' })
}

/** The config file's `alerts` section (secrets in files). */
export const AlertsConfigSection = sectionSchema('file').describe('where urgent findings, preliminary findings and silent sensors are sent (README "Alerts out")')
/** What the page and POST /v1/alerts take (secrets inline). */
export const AlertsSettingsBody = sectionSchema('inline')

type FileSection = z.output<typeof AlertsConfigSection>
type InlineSection = z.output<typeof AlertsSettingsBody>
type Sec = Record<string, unknown>

/** The settings from the config's section: secret files resolved against `baseDir` and read now. */
export async function settingsFromConfig (section: FileSection, node: string, baseDir = '.'): Promise<AlertSettings> {
  const read = async (field: string, f: unknown): Promise<string | undefined> => {
    if (typeof f !== 'string') return undefined
    const file = resolve(baseDir, f)
    return (await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => { throw new InvalidFieldError(field, `${file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`) })).trim()
  }
  return build(section, node, {
    mqtt: await read('alerts.mqtt.passwordFile', (section.mqtt as Sec | undefined)?.passwordFile),
    email: await read('alerts.email.passwordFile', (section.email as Sec | undefined)?.passwordFile),
    webhook: await read('alerts.webhook.secretFile', (section.webhook as Sec | undefined)?.secretFile)
  })
}

/** The settings the page or the API sent. */
export function settingsFromBody (body: InlineSection, node: string): AlertSettings {
  return build(body, node, {
    mqtt: (body.mqtt as Sec | undefined)?.password as string | undefined,
    email: (body.email as Sec | undefined)?.password as string | undefined,
    webhook: (body.webhook as Sec | undefined)?.secret as string | undefined
  })
}

type Secrets = { readonly [K in ChannelName]?: string | undefined }

function build (s: FileSection | InlineSection, node: string, secrets: Secrets): AlertSettings {
  const opt = <K extends string>(k: K, v: string | undefined): { [P in K]?: string } => (v === undefined || v === '' ? {} : { [k]: v }) as { [P in K]?: string }
  return {
    minSeverity: s.minSeverity,
    silentMinutes: s.silentMinutes,
    ...(s.mqtt === undefined ? {} : { mqtt: { url: s.mqtt.url, ...opt('username', s.mqtt.username), ...opt('password', secrets.mqtt), discoveryPrefix: s.mqtt.discoveryPrefix, node: s.mqtt.node ?? node } }),
    ...(s.email === undefined ? {} : { email: { host: s.email.host, port: s.email.port, secure: s.email.secure, ...opt('username', s.email.username), ...opt('password', secrets.email), from: s.email.from, to: [...s.email.to] } }),
    ...(s.webhook === undefined ? {} : { webhook: { url: s.webhook.url, ...opt('secret', secrets.webhook) } })
  }
}

/** `next` with each secret it leaves out taken from `prev`'s same channel (the page's empty password field keeps the saved one). */
export function keepSecrets (next: AlertSettings, prev: AlertSettings | undefined): AlertSettings {
  const mqtt = next.mqtt === undefined || next.mqtt.password !== undefined || prev?.mqtt?.password === undefined ? next.mqtt : { ...next.mqtt, password: prev.mqtt.password }
  const email = next.email === undefined || next.email.password !== undefined || prev?.email?.password === undefined ? next.email : { ...next.email, password: prev.email.password }
  const webhook = next.webhook === undefined || next.webhook.secret !== undefined || prev?.webhook?.secret === undefined ? next.webhook : { ...next.webhook, secret: prev.webhook.secret }
  return { minSeverity: next.minSeverity, silentMinutes: next.silentMinutes, ...(mqtt === undefined ? {} : { mqtt }), ...(email === undefined ? {} : { email }), ...(webhook === undefined ? {} : { webhook }) }
}

/** The settings without their secrets (what the page, the API and the file's clear part show), each secret as whether it is set. */
export function publicSettings (s: AlertSettings): Record<string, unknown> {
  const { password: _m, ...mqtt } = s.mqtt ?? {} as Partial<MqttSettings>
  const { password: _e, ...email } = s.email ?? {} as Partial<EmailSettings>
  const { secret: _w, ...webhook } = s.webhook ?? {} as Partial<WebhookSettings>
  return {
    minSeverity: s.minSeverity,
    silentMinutes: s.silentMinutes,
    ...(s.mqtt === undefined ? {} : { mqtt: { ...mqtt, password: s.mqtt.password !== undefined } }),
    ...(s.email === undefined ? {} : { email: { ...email, password: s.email.password !== undefined } }),
    ...(s.webhook === undefined ? {} : { webhook: { ...webhook, secret: s.webhook.secret !== undefined } })
  }
}

export const alertSettingsPath = (dataDir: string): string => join(dataDir, 'alerts.json')
const PURPOSE = 'healthchain/alerts/secrets/v1'

/** Saves the patient's settings: the clear part as JSON, the secrets sealed under the identity (AAD: the clear part). */
export async function saveAlertSettings (dataDir: string, who: Identity, s: AlertSettings): Promise<void> {
  const clear = JSON.stringify(publicSettings(s))
  const nonce = new Uint8Array(randomBytes(12))
  const secrets = { mqtt: s.mqtt?.password, email: s.email?.password, webhook: s.webhook?.secret }
  const sealed = aesGcmEncrypt(selfSecret(who, PURPOSE), nonce, utf8Bytes(JSON.stringify(secrets)), utf8Bytes(clear))
  await writeFileAtomic(alertSettingsPath(dataDir), JSON.stringify({ v: 1, settings: JSON.parse(clear) as unknown, nonce: toHex(nonce), secrets: toHex(sealed) }, null, 2) + '\n')
}

/** The patient's saved settings (undefined when none were saved), secrets opened. */
export async function loadAlertSettings (dataDir: string, who: Identity): Promise<AlertSettings | undefined> {
  const file = alertSettingsPath(dataDir)
  const fail = (why: string): Error => new AlertSettingsFileError(file, why)
  const j = await readPrivateJson(file, fail) as { v?: unknown, settings?: Sec, nonce?: unknown, secrets?: unknown } | undefined
  if (j === undefined) return undefined
  if (j.v !== 1 || typeof j.settings !== 'object' || j.settings === null || typeof j.nonce !== 'string' || typeof j.secrets !== 'string') throw fail('not an alert settings file (v 1)')
  let secrets: Secrets
  try {
    const clear = JSON.stringify(j.settings)
    secrets = JSON.parse(new TextDecoder().decode(aesGcmDecrypt(selfSecret(who, PURPOSE), fromHex('nonce', j.nonce), fromHex('secrets', j.secrets), utf8Bytes(clear)))) as Secrets
  } catch (err) { throw fail(`its secrets do not open under this hub's identity (${(err as Error).message})`) }
  const { mqtt, email, webhook } = j.settings as { mqtt?: Sec, email?: Sec, webhook?: Sec }
  const strip = (o: Sec | undefined, k: string): Sec | undefined => { if (o === undefined) return undefined; const { [k]: _, ...rest } = o; return rest }
  const body = parseWith(AlertsSettingsBody, { ...j.settings, mqtt: strip(mqtt, 'password'), email: strip(email, 'password'), webhook: strip(webhook, 'secret') })
  return build(body, (mqtt?.node as string | undefined) ?? '', secrets)
}
