/**
 * sensor in (DESIGN §7–8): emits the hub's verified device readings — from
 * serial, MQTT and Firmata via the runtime's readings source — one message
 * per reading, optionally only some sensor types or one device. Lines the
 * ingest layer rejected (bad CRC, replayed sequence) reach Catch nodes.
 * A reading arriving on the input — a device line (text with its CRC, as
 * from a Node-RED serial or MQTT node) or a reading object — is checked and
 * passed on the same way, so other Node-RED nodes can feed the pipeline.
 */
import { parseLine, readingToWire } from '../../../hub/src/ingest/line.ts'
import { asReading } from '../../../hub/src/nodered/batcher.ts'
import { defineNode, msgIds, prop, runtimeOf, status, throttledStatus, type Msg, type NodeStatus, type RedApi } from '../../../hub/src/nodered/kit.ts'
import type { SensorReading } from '../../../hub/src/nodered/runtime.ts'

export default function (RED: RedApi): void {
  defineNode(RED, 'healthchain-sensor-in', (node, def) => {
    const rt = runtimeOf(RED, def)
    const types = new Set(prop(def, 'types').split(',').map((s) => s.trim()).filter((s) => s !== ''))
    const device = prop(def, 'device')
    let count = 0
    let rejected = 0
    const throttle = throttledStatus(node)
    const msgId = msgIds()
    const current = (): NodeStatus => rejected > 0 ? status.warn(`${count} readings, ${rejected} rejected`) : status.ok(`${count} readings`)
    const show = (): void => { throttle.set(current) }
    const wanted = (r: SensorReading): boolean => (types.size === 0 || types.has(r.t)) && (device === '' || r.d === device)
    const toMsg = (r: SensorReading, msg: Msg = {}): Msg => { count++; show(); msg.topic = `${r.d}/${r.t}`; msg.payload = r; return msg }
    node.status(rt.readings === undefined ? status.idle('input only') : status.idle('waiting'))
    const unsubscribe = rt.readings?.subscribe(
      (r) => { if (wanted(r)) node.send(toMsg(r, { _msgid: msgId() })) },
      (err, raw) => { rejected++; show(); node.error(err, { topic: 'rejected', payload: raw ?? null }) }
    )
    return {
      input: (msg) => {
        const p = Buffer.isBuffer(msg.payload) ? msg.payload.toString('utf8') : msg.payload
        const r = typeof p === 'string' ? readingToWire(parseLine(p)) : asReading(p)
        return wanted(r) ? toMsg(r, msg) : null
      },
      close: () => { unsubscribe?.(); throttle.close() }
    }
  })
}
