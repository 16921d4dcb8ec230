/**
 * MQTT ingest (paper §III-B: an authenticated channel from each device to
 * its user node). Topic `healthchain/<hub>/devices/<device>/readings`,
 * payload one reading line, QoS 1, username = device id, password = the
 * secret from `healthchain devices add`.
 *
 * Embedded broker (the default, so `npm start` needs nothing else): aedes
 * with per-device authentication and a topic ACL (a device may publish only
 * under `healthchain/<hub>/devices/<its id>/`). The reading is ingested in
 * `authorizePublish`: aedes 1.x writes the QoS 1 PUBACK only after that
 * callback (lib/handlers/publish.js: authorizePublish, then enqueuePublish
 * writes the PubAck), so the device's ack follows the durable write.
 *
 * External broker (Mosquitto, see hub/mosquitto/): the hub's `mqtt` client
 * subscribes with QoS 1 in a persistent session (clean: false) and acks each
 * message from `handleMessage` only after the durable write; the broker
 * keeps unacked messages for the hub across a hub crash. The broker does the
 * auth and ACL itself; `watchMosquittoLog` counts its refusals.
 */
import { createServer } from 'node:net'
import type { AddressInfo, Server } from 'node:net'
import { Aedes } from 'aedes'
import mqtt from 'mqtt'
import type { MqttClient } from 'mqtt'
import { randomBytes } from 'node:crypto'
import { AuthRefusedError, TopicRefusedError } from './errors.ts'
import type { Ingest, SubmitResult } from './pipeline.ts'

export const TOPIC_ROOT = 'healthchain'

export function readingsTopic (hubId: string, device: string): string {
  return `${TOPIC_ROOT}/${hubId}/devices/${device}/readings`
}

/** The device id a topic belongs to, or null when it is not under this hub's devices. */
export function topicDevice (hubId: string, topic: string): string | null {
  const parts = topic.split('/')
  if (parts.length < 5 || parts[0] !== TOPIC_ROOT || parts[1] !== hubId || parts[2] !== 'devices') return null
  return parts[3]!
}

/** May `device` publish to `topic`? Only below its own subtree, no wildcards. */
export function mayPublish (hubId: string, device: string, topic: string): boolean {
  return topicDevice(hubId, topic) === device && !topic.includes('+') && !topic.includes('#')
}

export interface EmbeddedBrokerOptions {
  hubId: string
  host?: string
  /** 0 = any free port */
  port?: number
}

interface DeviceClient { hcDevice?: string, hcHub?: boolean }

/** aedes on a TCP port, authenticating devices against the registry. */
export class EmbeddedBroker {
  readonly broker: Aedes
  readonly server: Server
  readonly hubId: string
  /** credentials of the hub's own (internal) client, valid for this process only */
  readonly hubCredentials: { username: string, password: string }

  private constructor (broker: Aedes, server: Server, hubId: string, hubCredentials: { username: string, password: string }) {
    this.broker = broker
    this.server = server
    this.hubId = hubId
    this.hubCredentials = hubCredentials
  }

  static async start (ingest: Ingest, opts: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
    const { hubId } = opts
    const hubCredentials = { username: `hub-${hubId}`, password: randomBytes(24).toString('base64url') }
    const broker = await Aedes.createBroker({
      authenticate (client, username, password, done) {
        const c = client as unknown as DeviceClient
        const pw = password?.toString('utf8')
        if (username === hubCredentials.username && pw === hubCredentials.password) {
          c.hcHub = true
          done(null, true)
          return
        }
        if (username !== undefined && ingest.registry.authenticate(username, pw)) {
          c.hcDevice = username
          done(null, true)
          return
        }
        const who = username ?? ''
        ingest.refuse(new AuthRefusedError(who), { source: 'mqtt', ...(ingest.registry.get(who) !== undefined ? { device: who } : {}) })
        const err = Object.assign(new Error('bad username or password'), { returnCode: 4 as const })
        done(err, false)
      },
      authorizePublish (client, packet, done) {
        const c = client as unknown as DeviceClient | null
        if (c === null || c.hcHub === true) { done(null); return }
        const device = c.hcDevice!
        if (!mayPublish(hubId, device, packet.topic)) {
          const err = new TopicRefusedError(device, packet.topic, `${TOPIC_ROOT}/${hubId}/devices/${device}/readings`)
          ingest.refuse(err, { source: 'mqtt', device })
          done(err)
          return
        }
        if (!packet.topic.endsWith('/readings')) { done(null); return }
        ingest.submit(packet.payload.toString('utf8'), { source: 'mqtt', device })
          .then(() => { done(null) }, (err: Error) => { done(err) })
      },
      authorizeSubscribe (client, sub, done) {
        const c = client as unknown as DeviceClient
        if (c.hcHub === true || topicDevice(hubId, sub.topic) === c.hcDevice) { done(null, sub); return }
        ingest.refuse(new TopicRefusedError(c.hcDevice ?? '', sub.topic), { source: 'mqtt', ...(c.hcDevice !== undefined ? { device: c.hcDevice } : {}) })
        done(null, null)
      }
    })
    const server = createServer(broker.handle)
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(opts.port ?? 1883, opts.host ?? '127.0.0.1', () => { server.off('error', reject); resolve() })
    })
    return new EmbeddedBroker(broker, server, hubId, hubCredentials)
  }

  get port (): number { return (this.server.address() as AddressInfo).port }
  get url (): string { return `mqtt://127.0.0.1:${this.port}` }

  async close (): Promise<void> {
    await new Promise<void>((resolve) => { this.broker.close(() => { resolve() }) })
    await new Promise<void>((resolve) => { this.server.close(() => { resolve() }) })
  }
}

export interface SubscriberOptions {
  url: string
  hubId: string
  username?: string
  password?: string
  /** MQTT client id of the hub's persistent session (default hub-<hubId>) */
  clientId?: string
}

/**
 * The hub's MQTT client for an external broker: QoS 1 subscription in a
 * persistent session; each message is acked after `ingest.submit` resolved.
 */
export class HubSubscriber {
  readonly client: MqttClient
  readonly results: SubmitResult[] = []

  private constructor (client: MqttClient) { this.client = client }

  static async connect (ingest: Ingest, opts: SubscriberOptions): Promise<HubSubscriber> {
    const client = mqtt.connect(opts.url, {
      clientId: opts.clientId ?? `hub-${opts.hubId}`,
      clean: false,
      reconnectPeriod: 500,
      ...(opts.username !== undefined ? { username: opts.username } : {}),
      ...(opts.password !== undefined ? { password: opts.password } : {})
    })
    client.handleMessage = (packet, callback) => {
      const device = topicDevice(opts.hubId, packet.topic)
      if (device === null || !packet.topic.endsWith('/readings')) { callback(); return }
      const payload = typeof packet.payload === 'string' ? packet.payload : packet.payload.toString('utf8')
      ingest.submit(payload, { source: 'mqtt', device }).then(() => { callback() }, (err: Error) => { callback(err) })
    }
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => { resolve() })
      client.once('error', reject)
    })
    await client.subscribeAsync(`${TOPIC_ROOT}/${opts.hubId}/devices/+/readings`, { qos: 1 })
    return new HubSubscriber(client)
  }

  async close (): Promise<void> {
    await this.client.endAsync()
  }
}

/**
 * One line of Mosquitto's log (log_type error/warning/notice/information) as
 * a refusal, or null. Mosquitto 2.0.11 writes (checked)
 *   "Client <unknown> disconnected, not authorised."   (bad password or unknown user;
 *                                                       it does not log who tried)
 *   "Denied PUBLISH from hr-1 (d0, q1, r0, m1, 'healthchain/h/devices/ox-1/readings', ... (1 bytes))"
 * the second only with `log_type debug` (or all).
 */
export function parseMosquittoLog (line: string): { kind: 'auth' | 'acl', device: string, topic?: string } | null {
  let m = /Client (\S+) disconnected, not authori[sz]ed/.exec(line)
  if (m !== null) return { kind: 'auth', device: m[1]! }
  m = /Denied PUBLISH from (\S+) \([^']*'([^']*)'/.exec(line)
  if (m !== null) return { kind: 'acl', device: m[1]!, topic: m[2]! }
  return null
}

/** Count Mosquitto's refusals from its log lines (fed e.g. from its stderr). */
export function countMosquittoRefusal (ingest: Ingest, line: string): boolean {
  const r = parseMosquittoLog(line)
  if (r === null) return false
  const known = r.device !== '<unknown>' && ingest.registry.get(r.device) !== undefined ? { device: r.device } : {}
  const err = r.kind === 'auth' ? new AuthRefusedError(r.device) : new TopicRefusedError(r.device, r.topic ?? '')
  ingest.refuse(err, { source: 'mqtt', ...known })
  return true
}
