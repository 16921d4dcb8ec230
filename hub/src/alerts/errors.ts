/** Errors of the alerts the hub sends out (MQTT for Home Assistant, e-mail over SMTP, a webhook). */
import { HealthchainError } from '../core/index.ts'

/** A channel did not take an alert (the broker, the SMTP server or the webhook refused it, or could not be reached). */
export class AlertDeliveryError extends HealthchainError {
  constructor (channel: string, why: string) { super('ERR_ALERT_DELIVERY', channel, why) }
}

/** A test or an alert asked of a channel the settings do not configure. */
export class AlertChannelOffError extends HealthchainError {
  constructor (channel: string) { super('ERR_ALERT_CHANNEL_OFF', channel, 'not configured: set it in the config\'s "alerts" section, on the page or with POST /v1/alerts') }
}

/** The alert settings file (<dataDir>/alerts.json) does not decode, or its secrets do not open under this hub's identity. */
export class AlertSettingsFileError extends HealthchainError {
  constructor (file: string, why: string) { super('ERR_ALERT_SETTINGS_FILE', 'file', `${file}: ${why}`) }
}
