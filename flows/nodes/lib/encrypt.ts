/**
 * encrypt (paper Alg. 2 line 2, EIoT = Enc(Ik, IoT)): seals a batch of
 * readings with AES-256-GCM under the user's current key epoch (core
 * sealBatch: fresh 96-bit nonce, AAD = user ‖ epoch). Output: msg.payload =
 * the sealed bytes (Buffer), msg.epoch = the key epoch (tx_IoT's keyRef),
 * msg.readings = how many readings it holds.
 */
import { sealBatch } from '../../../hub/src/core/index.ts'
import { asReading, encodeBatch } from '../../../hub/src/nodered/batcher.ts'
import { BadMessageError, NoKeyEpochError } from '../../../hub/src/nodered/errors.ts'
import { defineNode, runtimeOf, status, type RedApi } from '../../../hub/src/nodered/kit.ts'
import { asBuffer } from '../../../hub/src/nodered/msg.ts'
import { need } from '../../../hub/src/nodered/runtime.ts'

export default function (RED: RedApi): void {
  defineNode(RED, 'healthchain-encrypt', (node, def) => {
    const rt = runtimeOf(RED, def)
    const keys = need(rt, 'keys')
    let sealed = 0
    node.status(keys.current === null ? status.warn('no key epoch') : status.idle(`epoch ${keys.current.epoch}`))
    return {
      input: (msg) => {
        if (!Array.isArray(msg.payload)) throw new BadMessageError('payload', 'must be an array of readings (the batch node\'s output)')
        const readings = msg.payload.map((r, i) => asReading(r, `payload[${i}]`))
        const e = keys.current
        if (e === null) throw new NoKeyEpochError()
        msg.payload = asBuffer(sealBatch(e.ik, rt.rng(12), rt.identity.id, e.epoch, encodeBatch(readings)))
        msg.epoch = e.epoch
        msg.readings = readings.length
        node.status(status.ok(`epoch ${e.epoch} · ${++sealed} sealed`))
        return msg
      }
    }
  })
}
