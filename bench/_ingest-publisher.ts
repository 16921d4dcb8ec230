/**
 * Worker for bench/ingest.ts: `devices` MQTT clients publish `perDevice`
 * QoS 1 readings each, keeping at most `window` unacknowledged per client;
 * posts {acked, ms} when every PUBACK is in.
 */
import { parentPort, workerData } from 'node:worker_threads'
import mqtt from 'mqtt'
import { formatLine } from '../hub/src/ingest/line.ts'
import { readingsTopic } from '../hub/src/ingest/mqtt.ts'

const { url, hubId, devices, perDevice, window } = workerData as { url: string, hubId: string, devices: Array<{ id: string, secret: string }>, perDevice: number, window: number }

const clients = await Promise.all(devices.map(async (d) => {
  const c = mqtt.connect(url, { username: d.id, password: d.secret, clientId: d.id, reconnectPeriod: 0 })
  await new Promise<void>((resolve, reject) => { c.once('connect', () => { resolve() }); c.once('error', reject) })
  const lines = Array.from({ length: perDevice }, (_, s) => formatLine({ d: d.id, b: 1, s, t: 'hr', v: 60 + (s % 40), ts: s * 1000 }).trimEnd())
  return { c, d, lines }
}))
parentPort!.postMessage({ ready: true })
await new Promise((resolve) => parentPort!.once('message', resolve))
const start = performance.now()
let acked = 0
await Promise.all(clients.map(({ c, d, lines }) => new Promise<void>((resolve, reject) => {
  let next = 0
  let done = 0
  const topic = readingsTopic(hubId, d.id)
  const send = (): void => {
    const s = next++
    c.publish(topic, lines[s]!, { qos: 1 }, (err) => {
      if (err != null) { reject(err); return }
      acked++
      done++
      if (next < lines.length) send()
      if (done === lines.length) resolve()
    })
  }
  for (let i = 0; i < Math.min(window, lines.length); i++) send()
})))
const ms = performance.now() - start
await Promise.all(clients.map(({ c }) => c.endAsync()))
parentPort!.postMessage({ acked, ms })
