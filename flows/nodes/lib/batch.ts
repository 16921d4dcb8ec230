/**
 * batch (paper Alg. 2 line 1): gathers readings into one batch per window
 * (seconds since the batch's first reading), per `size` readings, or at
 * once on an event reading (a fall), within the 1 MiB sealed-batch limit
 * (hub/src/nodered/batcher.ts). A message with `msg.flush = true` (or topic
 * "flush") closes the open batch. Output: msg.payload = readings[],
 * msg.batch = {id?, count, trigger, bytes?}.
 *
 * With durable batches (hub/src/ingest/batches.ts: the hub's runtime, or
 * the runtime of another Node-RED over the hub's control API, whose lease
 * stream hands it the same batches: hub/src/nodered/remote.ts) the
 * batches come from the hub's ingest store, each leased to one batch node: the readings arriving here only decide
 * when to close one, and what is closed is every reading the hub
 * acknowledged so far. Each batch carries its store id (msg.batch.id), the
 * encrypt, ipfs upload and tx iot nodes record their step under it, and a
 * batch is handed out again after a restart or when it made no progress
 * (storage down, a refused tx_IoT) until its tx_IoT is confirmed. A batch
 * sealed before arrives with msg.sealed (the stored bytes) and msg.epoch.
 * Without durable batches (a runtime without them, or no runtime) the
 * batch lives in memory only and the node says so.
 */
import { Batcher, asReading, type Batch } from '../../../hub/src/nodered/batcher.ts'
import { defineNode, numProp, prop, runtimeOf, status, throttledStatus, type Msg, type NodeStatus, type RedApi } from '../../../hub/src/nodered/kit.ts'
import { asBuffer } from '../../../hub/src/nodered/msg.ts'
import type { BatchStore, DurableBatch } from '../../../hub/src/nodered/runtime.ts'

export default function (RED: RedApi): void {
  defineNode(RED, 'healthchain-batch', (node, def) => {
    const windowMs = numProp(def, 'window', 60) * 1000
    const maxBytes = numProp(def, 'maxBytes', 0)
    const store: BatchStore | undefined = typeof def.runtime === 'string' && def.runtime !== '' ? runtimeOf(RED, def).batches : undefined
    const batcher = new Batcher({
      size: Math.floor(numProp(def, 'size', 0)),
      eventTypes: prop(def, 'events').split(',').map((s) => s.trim()).filter((s) => s !== ''),
      ...(maxBytes > 0 ? { maxBytes } : {}),
      // durable: the store makes the batches (of every reading it acknowledged); the readings here only decide when
      keep: store === undefined
    })
    let timer: NodeJS.Timeout | undefined
    let batches = 0
    const show = throttledStatus(node)
    const toMsg = (b: Batch): Msg => {
      batches++
      return { topic: 'batch', payload: b.readings, batch: { count: b.readings.length, trigger: b.trigger, bytes: b.bytes } }
    }
    const fromStore = (b: DurableBatch): Msg => {
      batches++
      return {
        topic: 'batch',
        payload: b.readings,
        batch: { id: b.id, count: b.readings.length, trigger: b.reason },
        ...(b.sealed === undefined ? {} : { sealed: asBuffer(b.sealed), epoch: b.epoch }),
        ...(b.cid === undefined ? {} : { cid: b.cid })
      }
    }
    const label = store === undefined ? 'in memory' : 'durable'
    // the status after the latest input, made only when shown
    let shown = 0
    const current = (): NodeStatus => batcher.pending > 0 ? status.busy(`${batcher.pending} pending · ${shown} batches · ${label}`) : status.ok(`${shown} batches · ${label}`)
    // closing a durable batch: the store closes every acknowledged reading and hands the batch out through subscribe
    const closeDurable = (s: BatchStore): void => { s.close().catch((err: unknown) => { node.status(status.fail(err)); node.error(err) }) }
    const rearm = (): void => {
      if (batcher.pending === 0) { clearTimeout(timer); timer = undefined } else if (timer === undefined && windowMs > 0) {
        timer = setTimeout(() => {
          timer = undefined
          const b = batcher.flush('window')
          if (b === null) return
          if (store !== undefined) { closeDurable(store); return }
          node.send(toMsg(b))
          show.set(status.ok(`${batches} batches · ${label}`))
        }, windowMs)
      }
    }
    let off: (() => void) | undefined
    if (store !== undefined) {
      off = store.subscribe((b) => { node.send(fromStore(b)); show.set(status.ok(`${batches} batches · ${label}`)) })
      // readings acknowledged before a restart wait no longer than the window that was open then
      closeDurable(store)
      node.status(status.idle('durable'))
    } else {
      node.status(status.warn('in memory: not durable'))
    }
    return {
      input: (msg) => {
        let out: Batch[]
        if (msg.flush === true || msg.topic === 'flush') {
          const b = batcher.flush('flush')
          out = b === null ? [] : [b]
          if (store !== undefined) { closeDurable(store); out = [] }
        } else {
          out = batcher.add(asReading(msg.payload))
          if (store !== undefined && out.length > 0) { closeDurable(store); out = [] }
        }
        rearm()
        shown = batches + out.length
        show.set(current)
        return out.length === 0 ? null : [out.map(toMsg)]
      },
      close: () => { clearTimeout(timer); show.close(); off?.() }
    }
  })
}
