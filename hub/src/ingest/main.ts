#!/usr/bin/env node
/**
 * Run the ingest service alone (used by the crash test and for trying
 * devices out): `node hub/src/ingest/main.ts --data-dir D --hub ID [--port N]
 * [--serial /dev/ttyACM0=th-1] [--window-ms N] [--max-readings N] [--no-sync]
 * [--threshold 'spo2<90']… (replaces the default event thresholds; also
 * 'fall', 'news2>=3': ingest/flush-rule.ts)
 * [--broker-url mqtt://… --broker-user U --broker-password-file F]` (the last
 * three: subscribe to an external broker such as Mosquitto instead of
 * embedding aedes).
 * Prints `ready <mqtt port>` once listening; SIGTERM/SIGINT close cleanly.
 */
import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { parseFlushCondition } from './flush-rule.ts'
import { startIngestService } from './hub.ts'

const { values } = parseArgs({
  options: {
    'data-dir': { type: 'string' },
    hub: { type: 'string', default: 'hub' },
    port: { type: 'string', default: '1883' },
    serial: { type: 'string', multiple: true, default: [] },
    'window-ms': { type: 'string' },
    'max-readings': { type: 'string' },
    threshold: { type: 'string', multiple: true, default: [] },
    'no-sync': { type: 'boolean', default: false },
    'broker-url': { type: 'string' },
    'broker-user': { type: 'string' },
    'broker-password-file': { type: 'string' }
  }
})
if (values['data-dir'] === undefined) {
  process.stderr.write('usage: main.ts --data-dir <dir> [--hub <id>] [--port <n>] [--serial <path>=<device>]… [--window-ms <n>] [--max-readings <n>] [--threshold spo2<90]… [--no-sync] [--broker-url <url> --broker-user <u> --broker-password-file <f>]\n')
  process.exit(2)
}
const url = values['broker-url']
const password = values['broker-password-file'] !== undefined ? (await readFile(values['broker-password-file'], 'utf8')).trim() : undefined
const svc = await (async () => startIngestService({
  ...(url !== undefined
    ? { externalBroker: { url, ...(values['broker-user'] !== undefined ? { username: values['broker-user'] } : {}), ...(password !== undefined ? { password } : {}) } }
    : {}),
  dataDir: values['data-dir']!,
  hubId: values.hub,
  mqttPort: Number(values.port),
  sync: !values['no-sync'],
  serial: values.serial.map((spec) => {
    // PATH=DEVICE: the port and the registered device plugged into it
    const eq = spec.lastIndexOf('=')
    if (eq <= 0) { process.stderr.write(`ingest: --serial ${spec}: give the port and its device as PATH=DEVICE (e.g. /dev/ttyACM0=th-1)\n`); process.exit(2) }
    return { path: spec.slice(0, eq), device: spec.slice(eq + 1) }
  }),
  ...(values['window-ms'] !== undefined ? { windowMs: Number(values['window-ms']) } : {}),
  ...(values['max-readings'] !== undefined ? { maxReadings: Number(values['max-readings']) } : {}),
  ...(values.threshold.length > 0 ? { thresholds: values.threshold.map(parseFlushCondition) } : {})
}))().catch((err: Error) => {
  process.stderr.write(`ingest: ${err.message}\n`)
  process.exit(1)
})
svc.ingest.on('error', (e) => { process.stderr.write(`ingest: ${e.message}\n`) })
process.stdout.write(`ready ${svc.broker?.port ?? 0}\n`)
const stop = (): void => { svc.close().then(() => process.exit(0), () => process.exit(1)) }
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
