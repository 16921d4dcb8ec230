/**
 * batch (paper Alg. 2 line 1): gathers readings into one batch per window
 * (seconds since the batch's first reading), per `size` readings, or at
 * once on an event reading (a fall), within the 1 MiB sealed-batch limit
 * (hub/src/nodered/batcher.ts). A message with `msg.flush = true` (or topic
 * "flush") closes the open batch. Output: msg.payload = readings[],
 * msg.batch = {count, trigger, bytes}.
 */
import { Batcher, asReading, type Batch } from '../../../hub/src/nodered/batcher.ts'
import { defineNode, numProp, prop, status, throttledStatus, type Msg, type RedApi } from '../../../hub/src/nodered/kit.ts'

export default function (RED: RedApi): void {
  defineNode(RED, 'healthchain-batch', (node, def) => {
    const windowMs = numProp(def, 'window', 60) * 1000
    const maxBytes = numProp(def, 'maxBytes', 0)
    const batcher = new Batcher({
      size: Math.floor(numProp(def, 'size', 0)),
      eventTypes: prop(def, 'events').split(',').map((s) => s.trim()).filter((s) => s !== ''),
      ...(maxBytes > 0 ? { maxBytes } : {})
    })
    let timer: NodeJS.Timeout | undefined
    let batches = 0
    const show = throttledStatus(node)
    const toMsg = (b: Batch): Msg => {
      batches++
      return { topic: 'batch', payload: b.readings, batch: { count: b.readings.length, trigger: b.trigger, bytes: b.bytes } }
    }
    const rearm = (): void => {
      if (batcher.pending === 0) { clearTimeout(timer); timer = undefined } else if (timer === undefined && windowMs > 0) {
        timer = setTimeout(() => {
          timer = undefined
          const b = batcher.flush('window')
          if (b !== null) { node.send(toMsg(b)); show.set(status.ok(`${batches} batches`)) }
        }, windowMs)
      }
    }
    node.status(status.idle('empty'))
    return {
      input: (msg) => {
        let out: Batch[]
        if (msg.flush === true || msg.topic === 'flush') {
          const b = batcher.flush('flush')
          out = b === null ? [] : [b]
        } else {
          out = batcher.add(asReading(msg.payload))
        }
        rearm()
        show.set(batcher.pending > 0 ? status.busy(`${batcher.pending} pending · ${batches + out.length} batches`) : status.ok(`${batches + out.length} batches`))
        return out.length === 0 ? null : [out.map(toMsg)]
      },
      close: () => { clearTimeout(timer); show.close() }
    }
  })
}
