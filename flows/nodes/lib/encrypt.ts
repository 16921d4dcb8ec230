/**
 * encrypt (paper Alg. 2 line 2, EIoT = Enc(Ik, IoT)): seals a batch of
 * readings with AES-256-GCM under the user's current key epoch (core
 * sealBatch: fresh 96-bit nonce, AAD = user ‖ epoch). Output: msg.payload =
 * the sealed bytes (Buffer), msg.epoch = the key epoch (tx_IoT's keyRef),
 * msg.readings = how many readings it holds.
 *
 * A durable batch (msg.batch.id, from the batch node on a hub) has its
 * sealed bytes recorded in the hub's ingest store before they go on; one
 * sealed before (msg.sealed, a resumed batch) is passed on as it is, never
 * sealed again — a second seal would use a second nonce for the same data.
 */
import { asReading } from '../../../hub/src/nodered/batcher.ts'
import { BadMessageError } from '../../../hub/src/nodered/errors.ts'
import { defineNode, runtimeOf, status, type RedApi } from '../../../hub/src/nodered/kit.ts'
import { asBuffer, bytesOf, durableConcurrent, durableId, intOf } from '../../../hub/src/nodered/msg.ts'
import { sealerOf } from '../../../hub/src/nodered/seal.ts'

export default function (RED: RedApi): void {
  defineNode(RED, 'healthchain-encrypt', (node, def) => {
    const rt = runtimeOf(RED, def)
    const sealer = sealerOf(rt)
    let sealed = 0
    const keys = rt.keys
    node.status(keys === undefined ? status.idle('ready') : keys.current === null ? status.warn('no key epoch') : status.idle(`epoch ${keys.current.epoch}`))
    return {
      concurrent: durableConcurrent(rt),
      input: async (msg) => {
        if (!Array.isArray(msg.payload)) throw new BadMessageError('payload', 'must be an array of readings (the batch node\'s output)')
        const readings = msg.payload.map((r, i) => asReading(r, `payload[${i}]`))
        const id = durableId(msg)
        const store = id === undefined ? undefined : rt.batches
        const e = store !== undefined && msg.sealed !== undefined
          ? { sealed: bytesOf(msg.sealed, 'sealed'), epoch: intOf(msg.epoch, 'epoch') }
          : await sealer.seal(readings).then(async (s) => store === undefined ? s : await store.sealed(id!, s.sealed, s.epoch))
        delete msg.sealed
        msg.payload = asBuffer(e.sealed)
        msg.epoch = e.epoch
        msg.readings = readings.length
        node.status(status.ok(`epoch ${e.epoch} · ${++sealed} sealed`))
        return msg
      }
    }
  })
}
