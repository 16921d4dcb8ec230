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
  ERR_ACL: 'wrong topic (another device\'s, or another hub id)'
}
