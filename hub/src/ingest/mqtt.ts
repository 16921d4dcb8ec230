/**
 * MQTT ingest (paper §III-B: an authenticated channel from each device to
 * its user node). Topic `healthchain/<hub>/devices/<device>/readings`,
 * payload one reading line, QoS 1, username = device id, password = the
 * secret from `healthchain devices add`.
 *
 * Embedded broker (the default, so `npm start` needs nothing else): aedes
 * with per-device authentication and a topic ACL (a device may publish only
 * to `healthchain/<hub>/devices/<its id>/readings`, never retained), its
 * client id pinned to its device id, a per-device publish rate limit, a
 * keep-alive of 1–300 s, and in front of aedes the caps on connections and
 * the packet length read from each fixed header (mqtt-guard.ts) — aedes
 * would buffer a packet of any declared size. The reading is ingested in
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
import type { AddressInfo, Server, Socket } from 'node:net'
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls'
import { Aedes } from 'aedes'
import type { MqttClient } from 'mqtt'
import { randomBytes } from 'node:crypto'
import type { HealthchainError } from '../core/index.ts'
import { AuthRefusedError, ClientIdRefusedError, ConnectionCapError, KeepAliveRefusedError, PacketMalformedError, PacketOversizeError, RateLimitedError, RetainRefusedError, TopicRefusedError } from './errors.ts'
import { guardedStream, MAX_PACKET_BYTES } from './mqtt-guard.ts'
import { RateLimiter, type RateLimit } from '../net/reqresp.ts'
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

/** May `device` publish to `topic`? Only its own readings topic: nothing else of the hub's tree, no wildcards. */
export function mayPublish (hubId: string, device: string, topic: string): boolean {
  return topic === readingsTopic(hubId, device)
}

/** The embedded broker's limits (the generated Mosquitto config states the same, see mosquitto.ts). */
export interface BrokerLimits {
  /** largest packet accepted, from its fixed header (default MAX_PACKET_BYTES) */
  maxPacketBytes?: number
  /** connections open at once, logged in or not (default 512) */
  maxConnections?: number
  /** connections not yet logged in (default 64): a flood of idle sockets cannot take every slot */
  maxPending?: number
  /** a connection that has not logged in within this is closed (default 10 s) */
  connectTimeoutMs?: number
  /** largest keep-alive a client may ask for, s (default 300); 0 (none) is refused too */
  keepaliveLimit?: number
  /** per-device publish rate limit (default 50/s, bursts of 1000: a device's offline buffer after a reconnect); null: none */
  publishRate?: RateLimit | null
}

export const BROKER_DEFAULTS = {
  maxPacketBytes: MAX_PACKET_BYTES,
  maxConnections: 512,
  maxPending: 64,
  connectTimeoutMs: 10_000,
  keepaliveLimit: 300,
  publishRate: { perSecond: 50, burst: 1000 }
} as const

export interface EmbeddedBrokerOptions extends BrokerLimits {
  hubId: string
  host?: string
  /** 0 = any free port; null = no plain listener */
  port?: number | null
  /** an mqtts listener (MQTT over TLS, port 8883 by default) with the hub's certificate */
  tls?: { host?: string, port?: number, key: string | Buffer, cert: string | Buffer }
}

interface DeviceClient { hcDevice?: string, hcHub?: boolean, id: string }

/** aedes on a TCP port (and/or a TLS port), authenticating devices against the registry. */
export class EmbeddedBroker {
  readonly broker: Aedes
  /** the plain listener, or null when only TLS listens */
  readonly server: Server | null
  readonly tlsServer: TlsServer | null
  readonly hubId: string
  /** credentials of the hub's own (internal) client, valid for this process only */
  readonly hubCredentials: { username: string, password: string }
  /** connections open now, and those of them not logged in yet */
  readonly connections = { open: 0, pending: 0 }

  private constructor (broker: Aedes, server: Server | null, tlsServer: TlsServer | null, hubId: string, hubCredentials: { username: string, password: string }) {
    this.broker = broker
    this.server = server
    this.tlsServer = tlsServer
    this.hubId = hubId
    this.hubCredentials = hubCredentials
  }

  static async start (ingest: Ingest, opts: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
    const { hubId } = opts
    const lim = { ...BROKER_DEFAULTS, ...Object.fromEntries(Object.entries(opts).filter(([k, v]) => k in BROKER_DEFAULTS && v !== undefined)) } as Required<BrokerLimits>
    const hubCredentials = { username: `hub-${hubId}`, password: randomBytes(24).toString('base64url') }
    const limiter = lim.publishRate === null ? null : new RateLimiter(lim.publishRate)
    const refuse = (err: HealthchainError, device?: string): void => { ingest.refuse(err, { source: 'mqtt', ...(device !== undefined && ingest.registry.get(device) !== undefined ? { device } : {}) }) }
    const broker = await Aedes.createBroker({
      connectTimeout: lim.connectTimeoutMs,
      keepaliveLimit: lim.keepaliveLimit,
      // MQTT 3.1.1 §3.1.2.10: keep-alive 0 turns the check off; aedes refuses it (CONNACK 6) with keepaliveLimit set — counted here first
      preConnect (_client, packet, done) {
        const ka = packet.keepalive ?? 0
        if (ka === 0 || ka > lim.keepaliveLimit) refuse(new KeepAliveRefusedError(ka, lim.keepaliveLimit), packet.username)
        done(null, true)
      },
      authenticate (client, username, password, done) {
        const c = client as unknown as DeviceClient
        const pw = password?.toString('utf8')
        if (username === hubCredentials.username && pw === hubCredentials.password) {
          c.hcHub = true
          c.id = hubCredentials.username
          done(null, true)
          return
        }
        if (username !== undefined && ingest.registry.authenticate(username, pw)) {
          // the client id is the device id (Mosquitto's use_username_as_clientid): a device can only
          // ever replace its own session; asking for another identity's id is an attempted takeover
          if (c.id !== username && (c.id === hubCredentials.username || c.id.startsWith('hub-') || ingest.registry.get(c.id) !== undefined)) {
            refuse(new ClientIdRefusedError(username, c.id), username)
            done(Object.assign(new Error('identifier rejected'), { returnCode: 2 as const }), false)
            return
          }
          c.id = username
          c.hcDevice = username
          done(null, true)
          return
        }
        refuse(new AuthRefusedError(username ?? ''), username)
        const err = Object.assign(new Error('bad username or password'), { returnCode: 4 as const })
        done(err, false)
      },
      authorizePublish (client, packet, done) {
        const c = client as unknown as DeviceClient | null
        if (c === null || c.hcHub === true) { done(null); return }
        const device = c.hcDevice!
        let err: HealthchainError | null = null
        if (!mayPublish(hubId, device, packet.topic)) err = new TopicRefusedError(device, packet.topic, `${TOPIC_ROOT}/${hubId}/devices/${device}/readings`)
        else if (packet.retain) err = new RetainRefusedError(device, packet.topic)
        else if (limiter !== null && !limiter.take(device)) err = new RateLimitedError(device, limiter.rate.perSecond)
        if (err !== null) {
          ingest.refuse(err, { source: 'mqtt', device })
          done(err)
          return
        }
        ingest.submit(packet.payload.toString('utf8'), { source: 'mqtt', device })
          .then(() => { done(null) }, (e: Error) => { done(e) })
      },
      authorizeSubscribe (client, sub, done) {
        const c = client as unknown as DeviceClient
        if (c.hcHub === true || topicDevice(hubId, sub.topic) === c.hcDevice) { done(null, sub); return }
        ingest.refuse(new TopicRefusedError(c.hcDevice ?? '', sub.topic), { source: 'mqtt', ...(c.hcDevice !== undefined ? { device: c.hcDevice } : {}) })
        done(null, null)
      }
    })
    const conns = { open: 0, pending: 0 }
    // every socket, plain or TLS: caps first, then the fixed-header guard, then aedes
    const accept = (socket: Socket): void => {
      const cap = conns.open >= lim.maxConnections ? new ConnectionCapError('total', lim.maxConnections) : conns.pending >= lim.maxPending ? new ConnectionCapError('pending', lim.maxPending) : null
      if (cap !== null) { socket.destroy(); refuse(cap); return }
      conns.open++
      conns.pending++
      let pending = true
      const settle = (): void => { if (pending) { pending = false; conns.pending-- } }
      socket.once('close', () => { settle(); conns.open-- })
      const stream = guardedStream(socket, lim.maxPacketBytes, (why) => {
        refuse(why.kind === 'oversize' ? new PacketOversizeError(why.declared, why.limit) : new PacketMalformedError())
      })
      const client = broker.handle(stream)
      client.once('connected', settle)
    }
    const listen = async (server: Server | TlsServer, port: number, host: string): Promise<void> => {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(port, host, () => { server.off('error', reject); resolve() })
      })
    }
    let server: Server | null = null
    let tlsServer: TlsServer | null = null
    try {
      if (opts.port !== null) {
        server = createServer(accept)
        await listen(server, opts.port ?? 1883, opts.host ?? '127.0.0.1')
      }
      if (opts.tls !== undefined) {
        // a handshake that never completes holds a socket too: the TLS layer's own timeout
        tlsServer = createTlsServer({ key: opts.tls.key, cert: opts.tls.cert, minVersion: 'TLSv1.2', handshakeTimeout: lim.connectTimeoutMs }, accept)
        tlsServer.on('tlsClientError', () => { /* a failed handshake: the socket is gone */ })
        await listen(tlsServer, opts.tls.port ?? 8883, opts.tls.host ?? opts.host ?? '127.0.0.1')
      }
    } catch (err) {
      server?.close()
      tlsServer?.close()
      await new Promise<void>((resolve) => { broker.close(() => { resolve() }) })
      throw err
    }
    const b = new EmbeddedBroker(broker, server, tlsServer, hubId, hubCredentials)
    Object.defineProperty(b, 'connections', { get: () => ({ ...conns }) })
    return b
  }

  /** the plain listener's port (null without one) */
  get port (): number { return this.server === null ? 0 : (this.server.address() as AddressInfo).port }
  get url (): string { return `mqtt://127.0.0.1:${this.port}` }
  /** the mqtts listener's port (0 without one) */
  get tlsPort (): number { return this.tlsServer === null ? 0 : (this.tlsServer.address() as AddressInfo).port }
  get tlsUrl (): string { return `mqtts://127.0.0.1:${this.tlsPort}` }

  async close (): Promise<void> {
    await new Promise<void>((resolve) => { this.broker.close(() => { resolve() }) })
    for (const s of [this.server, this.tlsServer]) if (s !== null) await new Promise<void>((resolve) => { s.close(() => { resolve() }) })
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
    // the MQTT client library only with an external broker: a hub with the embedded one never loads it (a few MB resident)
    const { default: mqtt } = await import('mqtt')
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
