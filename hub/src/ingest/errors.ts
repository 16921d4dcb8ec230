/**
 * Typed errors of the ingest path (paper §III-A: devices report to their
 * user node; DESIGN §7: corrupt, oversize or replayed lines are dropped and
 * counted). One class per failure; `code` is what the counters key on.
 */
import { HealthchainError } from '../core/index.ts'

/** A reading line is longer than MAX_LINE_BYTES. */
export class LineOversizeError extends HealthchainError {
  readonly limit: number
  readonly actual: number
  constructor (limit: number, actual: number) {
    super('ERR_LINE_OVERSIZE', 'line', `${actual} bytes exceeds the limit of ${limit}`)
    this.limit = limit
    this.actual = actual
  }
}

/** The `*crc` suffix is missing, malformed, or does not match the JSON text. */
export class BadChecksumError extends HealthchainError {
  constructor (why: string) {
    super('ERR_LINE_CHECKSUM', 'crc', why)
  }
}

/** The text before `*` is not a JSON object. */
export class BadJsonError extends HealthchainError {
  constructor (why: string) {
    super('ERR_LINE_JSON', 'json', why)
  }
}

/** A JSON key is missing, unknown, or has a value of the wrong type or range. */
export class BadFieldError extends HealthchainError {
  constructor (field: string, why: string) {
    super('ERR_LINE_FIELD', field, why)
  }
}

/** A reading whose (device, boot, seq) was already accepted, or is older. */
export class ReplayError extends HealthchainError {
  constructor (device: string, boot: number, seq: number) {
    super('ERR_REPLAY', 's', `reading ${device}/${boot}/${seq} was already seen`)
  }
}

/** A device that is not in the registry, or whose credentials are wrong. */
export class UnknownDeviceError extends HealthchainError {
  constructor (device: string) {
    super('ERR_UNKNOWN_DEVICE', 'd', `device ${JSON.stringify(device)} is not registered`)
  }
}

/** A device that exists already (pairing twice). */
export class DeviceExistsError extends HealthchainError {
  constructor (device: string) {
    super('ERR_DEVICE_EXISTS', 'd', `device ${JSON.stringify(device)} is already registered`)
  }
}

/** A device connected with an unknown id or a wrong secret. */
export class AuthRefusedError extends HealthchainError {
  constructor (device: string) {
    super('ERR_AUTH', 'username', `bad credentials for device ${JSON.stringify(device)}`)
  }
}

/** A device published (or subscribed) outside its own topic subtree; `expected` is the topic it publishes its readings to. */
export class TopicRefusedError extends HealthchainError {
  constructor (device: string, topic: string, expected?: string) {
    super('ERR_ACL', 'topic', `device ${JSON.stringify(device)} may not use ${JSON.stringify(topic)}${expected === undefined ? '' : `: its readings go to ${expected}`}`)
  }
}

/** An MQTT packet whose fixed header declares more than the broker accepts (MQTT 3.1.1 §2.2.3); the socket is closed before its body is read. */
export class PacketOversizeError extends HealthchainError {
  constructor (declared: number, limit: number) {
    super('ERR_MQTT_OVERSIZE', 'length', `a packet of ${declared} bytes declared, the limit is ${limit}`)
  }
}

/** A malformed MQTT fixed header (a Remaining Length of more than four bytes, §2.2.3). */
export class PacketMalformedError extends HealthchainError {
  constructor () {
    super('ERR_MQTT_MALFORMED', 'length', 'malformed Remaining Length in an MQTT fixed header')
  }
}

/** A connection over the broker's caps (all connections, or those not yet logged in). */
export class ConnectionCapError extends HealthchainError {
  constructor (which: 'total' | 'pending', cap: number) {
    super('ERR_MQTT_CONN_CAP', 'connection', which === 'total' ? `${cap} connections already open` : `${cap} connections already waiting to log in`)
  }
}

/** A device publishing faster than its rate limit. */
export class RateLimitedError extends HealthchainError {
  constructor (device: string, rate: number) {
    super('ERR_RATE_LIMITED', 'rate', `device ${JSON.stringify(device)} published more than ${rate} messages/s`)
  }
}

/** A retained message: devices send readings, never state for later subscribers. */
export class RetainRefusedError extends HealthchainError {
  constructor (device: string, topic: string) {
    super('ERR_RETAIN', 'retain', `device ${JSON.stringify(device)} may not retain messages (on ${JSON.stringify(topic)})`)
  }
}

/** A client id naming another identity (another device or the hub's own session), which would take that session over. */
export class ClientIdRefusedError extends HealthchainError {
  constructor (device: string, clientId: string) {
    super('ERR_CLIENT_ID', 'clientId', `device ${JSON.stringify(device)} may not connect as client id ${JSON.stringify(clientId)}`)
  }
}

/** A CONNECT without keep-alive or with a keep-alive above the broker's limit (dead connections must be noticed). */
export class KeepAliveRefusedError extends HealthchainError {
  constructor (keepalive: number, limit: number) {
    super('ERR_KEEPALIVE', 'keepalive', `keep-alive ${keepalive} s refused: it must be 1–${limit} s`)
  }
}

/** A reading of a type its device did not register (e.g. a "temp" line from an oximeter). */
export class SensorTypeRefusedError extends HealthchainError {
  constructor (device: string, type: string) {
    super('ERR_SENSOR_TYPE', 't', `device ${JSON.stringify(device)} did not register sensor type ${JSON.stringify(type)}`)
  }
}

/** A serial or Firmata port bound to one device carried a line of another device. */
export class PortDeviceError extends HealthchainError {
  constructor (port: string, bound: string, device: string) {
    super('ERR_PORT_DEVICE', 'd', `port ${port} belongs to device ${JSON.stringify(bound)}, not ${JSON.stringify(device)}`)
  }
}

/**
 * Why a line was dropped, by error code, as the patient page and the hub's
 * status show it (hub/src/ingest/README.md lists the same). A dropped line
 * is never acknowledged as accepted data: over MQTT a refused publish or
 * connection is not acknowledged at all, so a device keeps it and resends.
 */
export const DROP_REASONS: Readonly<Record<string, string>> = {
  ERR_LINE_CHECKSUM: 'bad CRC: the 8 hex digits after "*" are not the CRC-32 of the JSON text',
  ERR_LINE_OVERSIZE: 'line longer than 512 bytes',
  ERR_LINE_JSON: 'the text before "*" is not a JSON object',
  ERR_LINE_FIELD: 'a field is missing, unknown or out of range (or the line names another device)',
  ERR_REPLAY: 'sequence number already seen for this boot (a resend or a replay)',
  ERR_UNKNOWN_DEVICE: 'device not paired (healthchain devices add)',
  ERR_AUTH: 'wrong MQTT username or password',
  ERR_ACL: 'wrong topic (another device\'s, or another hub id)',
  ERR_MQTT_OVERSIZE: 'an MQTT packet larger than the broker accepts (closed before it was read)',
  ERR_MQTT_MALFORMED: 'a malformed MQTT packet header',
  ERR_MQTT_CONN_CAP: 'too many connections open or waiting to log in',
  ERR_RATE_LIMITED: 'the device published faster than its rate limit',
  ERR_RETAIN: 'a retained message (devices may not retain)',
  ERR_CLIENT_ID: 'an MQTT client id other than the device\'s own id',
  ERR_KEEPALIVE: 'no keep-alive, or one longer than the broker allows',
  ERR_SENSOR_TYPE: 'a reading type the device was not paired with (devices add --sensor)',
  ERR_PORT_DEVICE: 'a line of another device on a serial or Firmata port bound to one device'
}
