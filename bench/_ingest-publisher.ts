/**
 * Child process for bench/ingest.ts (a separate process, so the hub's CPU
 * time can be measured alone): `devices` MQTT clients publish `perDevice`
 * QoS 1 readings each, keeping at most `window` unacknowledged per client;
 * sends {acked, ms} when every PUBACK is in. Parameters come as the first
 * IPC message.
 */
import mqtt from 'mqtt'
import { formatLine } from '../hub/src/ingest/line.ts'
import { readingsTopic } from '../hub/src/ingest/mqtt.ts'

const send = (m: unknown): void => { process.send!(m) }
const next = (): Promise<unknown> => new Promise((resolve) => process.once('message', resolve))
const { url, hubId, devices, perDevice, window, ca } = await next() as { url: string, hubId: string, devices: Array<{ id: string, secret: string }>, perDevice: number, window: number, ca?: string }

const clients = await Promise.all(devices.map(async (d) => {
  // over mqtts the devices verify the broker's certificate against the hub's CA
  const c = mqtt.connect(url, { username: d.id, password: d.secret, clientId: d.id, reconnectPeriod: 0, ...(ca === undefined ? {} : { ca, servername: 'localhost' }) })
  await new Promise<void>((resolve, reject) => { c.once('connect', () => { resolve() }); c.once('error', reject) })
  const lines = Array.from({ length: perDevice }, (_, s) => formatLine({ d: d.id, b: 1, s, t: 'hr', v: 60 + (s % 40), ts: s * 1000 }).trimEnd())
  return { c, d, lines }
}))
send({ ready: true })
await next()
const start = performance.now()
let acked = 0
await Promise.all(clients.map(({ c, d, lines }) => new Promise<void>((resolve, reject) => {
  let i = 0
  let done = 0
  const topic = readingsTopic(hubId, d.id)
  const pub = (): void => {
    const s = i++
    c.publish(topic, lines[s]!, { qos: 1 }, (err) => {
      if (err != null) { reject(err); return }
      acked++
      done++
      if (i < lines.length) pub()
      if (done === lines.length) resolve()
    })
  }
  for (let k = 0; k < Math.min(window, lines.length); k++) pub()
})))
const ms = performance.now() - start
await Promise.all(clients.map(({ c }) => c.endAsync()))
send({ acked, ms })
process.disconnect()
