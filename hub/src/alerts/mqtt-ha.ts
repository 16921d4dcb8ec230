/**
 * The MQTT channel, in Home Assistant's MQTT discovery form: on each
 * connection the hub publishes, retained, one config per sensor under
 * `<prefix>/sensor/<node>/<object>/config`: `alert` (state: the last
 * alert's severity, its JSON as attributes) and one per vital sign seen
 * (`spo2`, `hr`, `temp`, …; state: the reading). Home Assistant then shows
 * them as sensors of one device, "Healthchain hub <node>", with no YAML.
 * States go to `healthchain/<node>/<object>/state`; the alert's is retained
 * so a Home Assistant that restarts still shows the last one.
 */
import mqtt, { type MqttClient } from 'mqtt'
import { alertJson, type Alert } from './alert.ts'
import { AlertDeliveryError } from './errors.ts'
import type { MqttSettings } from './settings.ts'
import type { Channel } from './out.ts'

/** Units and Home Assistant device classes of the vital signs the hub ingests. */
const VITALS: Readonly<Record<string, { readonly name: string, readonly unit?: string, readonly deviceClass?: string }>> = {
  spo2: { name: 'SpO2', unit: '%' },
  hr: { name: 'Heart rate', unit: 'bpm' },
  temp: { name: 'Temperature', unit: '°C', deviceClass: 'temperature' },
  rr: { name: 'Respiratory rate', unit: '/min' },
  sbp: { name: 'Systolic blood pressure', unit: 'mmHg' },
  dbp: { name: 'Diastolic blood pressure', unit: 'mmHg' }
}

export const stateTopic = (node: string, object: string): string => `healthchain/${node}/${object}/state`
export const discoveryTopic = (prefix: string, node: string, object: string): string => `${prefix}/sensor/${node}/${object}/config`

/** The discovery config of one sensor. */
export function discoveryConfig (node: string, object: string): Record<string, unknown> {
  const device = { identifiers: [`healthchain_${node}`], name: `Healthchain hub ${node}`, manufacturer: 'Healthchain' }
  if (object === 'alert') {
    return { name: 'Alert', unique_id: `healthchain_${node}_alert`, object_id: `healthchain_${node}_alert`, state_topic: stateTopic(node, 'alert'), value_template: '{{ value_json.severity }}', json_attributes_topic: stateTopic(node, 'alert'), icon: 'mdi:heart-pulse', device }
  }
  const v = VITALS[object] ?? { name: object }
  return {
    name: v.name, unique_id: `healthchain_${node}_${object}`, object_id: `healthchain_${node}_${object}`, state_topic: stateTopic(node, object), value_template: '{{ value_json.value }}',
    ...(v.unit === undefined ? {} : { unit_of_measurement: v.unit }), ...(v.deviceClass === undefined ? {} : { device_class: v.deviceClass }), state_class: 'measurement', device
  }
}

export interface MqttChannel extends Channel {
  /** A reading for Home Assistant's vital-sign sensor (best effort, QoS 0: the next reading replaces a lost one). */
  vital: (type: string, value: number, unit: string) => void
}

export function mqttChannel (s: MqttSettings, opts: { timeoutMs?: number, log?: (line: string) => void } = {}): MqttChannel {
  const timeout = opts.timeoutMs ?? 10_000
  const announced = new Set<string>()
  let lastError = ''
  const client: MqttClient = mqtt.connect(s.url, {
    clientId: `healthchain-alerts-${s.node}`,
    ...(s.username === undefined ? {} : { username: s.username }),
    ...(s.password === undefined ? {} : { password: s.password }),
    reconnectPeriod: 2000,
    connectTimeout: timeout
  })
  const announce = (object: string): void => {
    announced.add(object)
    if (client.connected) client.publish(discoveryTopic(s.discoveryPrefix, s.node, object), JSON.stringify(discoveryConfig(s.node, object)), { qos: 1, retain: true })
  }
  // every (re)connection announces the sensors again: a broker without persistence forgets retained configs
  client.on('connect', () => { lastError = ''; for (const o of ['alert', ...[...announced].filter((x) => x !== 'alert')]) announce(o) })
  client.on('error', (err) => { if (err.message !== lastError) opts.log?.(`alerts: mqtt ${s.url}: ${err.message}`); lastError = err.message })
  announced.add('alert')
  return {
    name: 'mqtt',
    send: async (a: Alert) => {
      if (!client.connected) throw new AlertDeliveryError('mqtt', `${s.url}: not connected${lastError === '' ? '' : ` (${lastError})`}`)
      let timer: NodeJS.Timeout | undefined
      try {
        await Promise.race([
          client.publishAsync(stateTopic(s.node, 'alert'), JSON.stringify(alertJson(a)), { qos: 1, retain: true }),
          new Promise((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`no PUBACK in ${timeout} ms`)) }, timeout) })
        ])
      } catch (err) { throw new AlertDeliveryError('mqtt', `${s.url}: ${(err as Error).message}`) } finally { clearTimeout(timer) }
    },
    vital: (type, value, unit) => {
      if (!announced.has(type)) announce(type)
      if (client.connected) client.publish(stateTopic(s.node, type), JSON.stringify({ value, unit, at: new Date().toISOString() }), { qos: 0 })
    },
    close: async () => { await client.endAsync(true).catch(() => {}) }
  }
}
