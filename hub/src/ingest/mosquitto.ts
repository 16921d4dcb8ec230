/**
 * Configuration for an external Mosquitto broker (mosquitto.conf(5),
 * mosquitto_passwd(1)): no anonymous clients, one password-file entry per
 * device (username = device id, password = its secret) plus the hub's own
 * user, and an ACL under which a device may publish only below
 * `healthchain/<hub>/devices/<its username>/` while the hub may read the
 * readings of all. The documented files are in hub/mosquitto/.
 *
 * The limits are the embedded broker's (mqtt.ts BROKER_DEFAULTS), stated in
 * Mosquitto's terms: `max_packet_size` (checked from the fixed header before
 * the body is read), `max_connections` per listener, `max_keepalive`,
 * `retain_available false`, and `use_username_as_clientid` (the client id
 * is the device id, so no device can take over the hub's or another
 * device's session). Mosquitto has no per-client publish rate limit and no
 * separate cap on connections not yet logged in: `max_inflight_messages`
 * bounds what one client has unacknowledged instead.
 */
import { BROKER_DEFAULTS, type BrokerLimits } from './mqtt.ts'

export interface MosquittoConfigOptions {
  port: number
  host?: string
  passwordFile: string
  aclFile: string
  /** directory for mosquitto.db (the hub's queued QoS 1 messages survive a broker restart) */
  persistenceDir?: string
  /** debug logging makes Mosquitto log denied publishes, which the hub counts */
  logDebug?: boolean
  /** started as root, Mosquitto switches to this user (default: user mosquitto); tests pass their own */
  runAsUser?: string
  /** limits (default: the embedded broker's) */
  limits?: BrokerLimits
  /** an mqtts listener (devices on the LAN) with the hub's CA, certificate and key (PEM files) */
  tls?: { port: number, host?: string, cafile: string, certfile: string, keyfile: string }
  /** the plain listener's address is loopback unless this is set (a LAN listener without TLS) */
  plainOnLan?: boolean
}

export function mosquittoConf (o: MosquittoConfigOptions): string {
  const lim = { ...BROKER_DEFAULTS, ...Object.fromEntries(Object.entries(o.limits ?? {}).filter(([, v]) => v !== undefined)) } as Required<BrokerLimits>
  const host = o.host ?? '127.0.0.1'
  if (!isLoopback(host) && o.plainOnLan !== true) throw new Error(`a plain MQTT listener on ${host} sends device secrets in clear: use the tls listener, or set plainOnLan`)
  const lines = [
    // per-listener settings off: the options below hold for every listener
    `listener ${o.port} ${host}`,
    `max_connections ${lim.maxConnections}`,
    ...(o.tls === undefined
      ? []
      : [`listener ${o.tls.port} ${o.tls.host ?? '0.0.0.0'}`, `max_connections ${lim.maxConnections}`, `cafile ${o.tls.cafile}`, `certfile ${o.tls.certfile}`, `keyfile ${o.tls.keyfile}`, 'tls_version tlsv1.2']),
    'allow_anonymous false',
    // MQTT 3.1.1 §2.2.3: the Remaining Length is read before the body, and a packet over this closes the connection
    `max_packet_size ${lim.maxPacketBytes}`,
    `max_keepalive ${lim.keepaliveLimit}`,
    'use_username_as_clientid true',
    'retain_available false',
    'max_inflight_messages 100',
    `password_file ${o.passwordFile}`,
    `acl_file ${o.aclFile}`,
    // the hub's session must hold QoS 1 messages while the hub is down
    'max_queued_messages 100000',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'log_type notice',
    'log_type information',
    ...(o.logDebug === true ? ['log_type debug'] : []),
    ...(o.runAsUser !== undefined ? [`user ${o.runAsUser}`] : [])
  ]
  if (o.persistenceDir !== undefined) lines.push('persistence true', `persistence_location ${o.persistenceDir.endsWith('/') ? o.persistenceDir : o.persistenceDir + '/'}`)
  return lines.join('\n') + '\n'
}

/** The ACL: the hub user reads all readings of its hub; each device writes only its own subtree. */
export function mosquittoAcl (hubId: string, hubUser: string): string {
  return [
    `user ${hubUser}`,
    `topic read healthchain/${hubId}/devices/+/readings`,
    '',
    '# every other user (a device): only its own readings topic; %u = its username',
    `pattern write healthchain/${hubId}/devices/%u/readings`,
    ''
  ].join('\n')
}

export function isLoopback (host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host)
}
