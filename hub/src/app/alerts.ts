/**
 * The hub's alerts out (README "Alerts out"): findings a doctor signed on
 * the patient's readings — preliminary (gossiped at once, paper §IV-B3's
 * real-time path) and certified (read from a committed Dblock) — at or above
 * the settings' severity, and paired sensors gone silent, sent to the
 * channels a home already has: MQTT in Home Assistant's discovery form (the
 * vital signs too), e-mail over SMTP, a webhook. The settings come from the
 * config's `alerts` section until the patient saves others on the page or
 * with POST /v1/alerts (alerts/settings.ts); each channel has a test.
 */
import type { Identity } from '../core/index.ts'
import { toHex } from '../core/index.ts'
import { plainName, plainSummary } from '../ai/plain.ts'
import type { PatientDiagnosis } from '../roles/user/diagnoses.ts'
import { AlertsOut, type Channel, type ChannelStats } from '../alerts/out.ts'
import { mqttChannel, type MqttChannel } from '../alerts/mqtt-ha.ts'
import { emailChannel } from '../alerts/email.ts'
import { webhookChannel } from '../alerts/webhook.ts'
import { SilentSensors } from '../alerts/silent.ts'
import { CHANNELS, keepSecrets, loadAlertSettings, publicSettings, saveAlertSettings, settingsFromBody, type AlertSettings, type AlertsSettingsBody, type ChannelName } from '../alerts/settings.ts'
import type { z } from '../config/schema.ts'

export interface AlertsStatus {
  /** The settings in force, secrets shown only as set or not; `source`: the config file, or what the patient saved. */
  readonly settings: Record<string, unknown>
  readonly source: 'config' | 'saved' | 'none'
  /** Each channel: configured or not, with its counters (sent, failed attempts, given up, queued, last error). */
  readonly channels: Readonly<Record<ChannelName, { readonly configured: boolean } & Partial<ChannelStats>>>
}

export interface AlertsService {
  status: () => Promise<AlertsStatus>
  /** Saves new settings (secrets encrypted at rest; a secret left out keeps the one in force for that channel) and uses them at once. */
  configure: (body: z.output<typeof AlertsSettingsBody>) => Promise<AlertsStatus>
  /** Sends a test alert on one channel now; resolves once it was delivered, rejects with why not. */
  test: (channel: ChannelName) => Promise<{ readonly channel: ChannelName, readonly delivered: true, readonly id: string }>
}

const RANK: Readonly<Record<string, number>> = { routine: 0, low: 1, urgent: 2, emergency: 3 }
/** How often silent sensors are looked for. */
const SILENT_CHECK_MS = 30_000

export interface HubAlerts {
  readonly service: AlertsService
  /** A finding read for this patient: preliminary (gossip) or certified (Docchain). */
  finding: (d: PatientDiagnosis, certified: boolean) => void
  /** A reading ingest accepted (Home Assistant's vital sensors, and the silent-sensor clock). */
  reading: (r: { readonly device: string, readonly type: string, readonly value: number | number[], readonly unit: string }) => void
  stop: () => Promise<void>
}

export async function openAlerts (o: {
  readonly dataDir: string
  readonly user: Identity
  /** The config's settings (secret files read), if it has an `alerts` section. */
  readonly config?: AlertSettings
  /** The default node id of the Home Assistant topics (the hub id). */
  readonly node: string
  readonly devices: () => readonly string[]
  readonly log: (line: string) => void
  readonly now?: () => number
  readonly backoffMs?: readonly number[]
}): Promise<HubAlerts> {
  const now = o.now ?? Date.now
  const patient = toHex(o.user.id)
  const out = new AlertsOut({ log: o.log, now, ...(o.backoffMs === undefined ? {} : { backoffMs: o.backoffMs }) })
  const saved = await loadAlertSettings(o.dataDir, o.user)
  let settings: AlertSettings | undefined = saved ?? o.config
  let source: AlertsStatus['source'] = saved !== undefined ? 'saved' : o.config !== undefined ? 'config' : 'none'
  let mqtt: MqttChannel | null = null
  const apply = async (s: AlertSettings | undefined): Promise<void> => {
    mqtt = s?.mqtt === undefined ? null : mqttChannel(s.mqtt, { log: o.log })
    const channels: Channel[] = [
      ...(mqtt === null ? [] : [mqtt]),
      ...(s?.email === undefined ? [] : [emailChannel(s.email)]),
      ...(s?.webhook === undefined ? [] : [webhookChannel(s.webhook)])
    ]
    await out.use(channels)
  }
  await apply(settings)
  // each finding once: the certified one only when its preliminary did not go out (the hub missed the gossip)
  const sent = new Set<string>()
  const silent = new SilentSensors({
    minutes: () => settings?.silentMinutes ?? 0,
    now,
    devices: o.devices,
    silent: (device, since) => {
      const minutes = Math.round((now() - since) / 60_000)
      out.raise({ id: `silent:${device}:${since}`, kind: 'silent-sensor', severity: 'urgent', title: `Sensor ${device} is silent`, text: `No reading from ${device} for ${minutes} minutes. Check that it is worn, charged and in reach of the hub.`, at: now(), patient, device })
    }
  })
  const timer = setInterval(() => { silent.check() }, SILENT_CHECK_MS)
  timer.unref()
  const status = async (): Promise<AlertsStatus> => {
    const stats = out.stats()
    return {
      settings: settings === undefined ? {} : publicSettings(settings),
      source,
      channels: Object.fromEntries(CHANNELS.map((c) => [c, { configured: stats[c] !== undefined, ...stats[c] }])) as AlertsStatus['channels']
    }
  }
  return {
    service: {
      status,
      configure: async (body) => {
        const s = keepSecrets(settingsFromBody(body, settings?.mqtt?.node ?? o.node), settings)
        await saveAlertSettings(o.dataDir, o.user, s)
        settings = s
        source = 'saved'
        await apply(s)
        o.log(`alerts: settings saved (${out.channels.join(', ') || 'no channel'})`)
        return await status()
      },
      test: async (channel) => {
        const id = `test:${now()}`
        await out.test(channel, { id, kind: 'test', severity: 'low', title: 'Test alert from your Healthchain hub', text: `This is a test of the ${channel} channel, sent from the hub's page or control API. Nothing is wrong.`, at: now(), patient })
        return { channel, delivered: true, id }
      }
    },
    finding: (d, certified) => {
      if (settings === undefined || (RANK[d.diagnosis.severity] ?? 0) < RANK[settings.minSeverity]! || sent.has(d.htxd)) return
      sent.add(d.htxd)
      const findings = d.diagnosis.findings.map((f) => plainName(f.code)).join(', ')
      const p = plainSummary(d.diagnosis)
      const sev = d.diagnosis.severity
      out.raise({
        id: d.htxd,
        kind: certified ? 'diagnosis' : 'preliminary',
        severity: sev,
        title: `${sev[0]!.toUpperCase()}${sev.slice(1)} finding${findings === '' ? '' : `: ${findings}`}${certified ? '' : ' (preliminary)'}`,
        text: `${p.seen} ${p.todo} Whom to call: ${p.call}${certified ? '' : ' A doctor signed this finding; the consortium has not yet certified it.'}`,
        at: now(),
        patient
      })
    },
    reading: (r) => {
      silent.seen(r.device)
      if (mqtt !== null && typeof r.value === 'number') mqtt.vital(r.type, r.value, r.unit)
    },
    stop: async () => { clearInterval(timer); await out.close() }
  }
}

