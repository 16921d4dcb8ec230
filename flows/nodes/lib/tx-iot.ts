/**
 * tx iot (paper Eq. 1, Alg. 2 lines 4–7): builds tx_IoT = {ID_U, ts, HEIoT,
 * keyRef, Sig} from msg.heiot (or msg.cid) and msg.epoch, signs it with the
 * user's key and submits it to the core node's mempool. Output 1 at once:
 * msg.payload = {id (htxI), user, ts, epoch, heiot, cid}, msg.tx = the
 * transaction. Output 2 later, when a Ublock of the best chain holds it:
 * the same message with msg.payload.height and .block.
 *
 * A durable batch (msg.batch.id) gets its tx_IoT from the hub's ingest
 * store: built and persisted before it is submitted (a resumed batch
 * resubmits its stored tx, never a second one), resubmitted or rebuilt by
 * the hub until mined; output 2 fires once it is deep enough for the batch
 * to leave the store (its plaintext then gone). This node is where a flow
 * hands a batch back: a custom flow keeps the guarantee that nothing
 * acknowledged is lost as long as each batch ends here.
 */
import { cidStringFromDigest, digestFromCidString, toHex } from '../../../hub/src/core/index.ts'
import { BadMessageError } from '../../../hub/src/nodered/errors.ts'
import { defineNode, runtimeOf, status, type Msg, type RedApi } from '../../../hub/src/nodered/kit.ts'
import { bytesOf, durableConcurrent, durableId, intOf } from '../../../hub/src/nodered/msg.ts'
import { recorderOf } from '../../../hub/src/nodered/seal.ts'

export default function (RED: RedApi): void {
  defineNode(RED, 'healthchain-tx-iot', (node, def) => {
    const rt = runtimeOf(RED, def)
    const recorder = recorderOf(rt)
    const txs = rt.txs
    let submitted = 0
    let confirmed = 0
    const show = (): void => { node.status(status.ok(`${submitted} submitted · ${confirmed} confirmed`)) }
    node.status(status.idle('ready'))
    return {
      concurrent: durableConcurrent(rt),
      input: async (msg, send) => {
        const heiot = msg.heiot !== undefined
          ? bytesOf(msg.heiot, 'heiot', 32)
          : typeof msg.cid === 'string' ? digestFromCidString(msg.cid) : (() => { throw new BadMessageError('heiot', 'missing: put the ipfs upload node before this one') })()
        const epoch = intOf(msg.epoch, 'epoch')
        const batch = durableId(msg)
        const store = batch === undefined ? undefined : rt.batches
        const { id, tx } = store === undefined ? await recorder.record(heiot, epoch) : await store.record(batch!, heiot, epoch)
        submitted++
        show()
        const payload = { id, user: toHex(tx.user), ts: tx.ts, epoch, heiot: toHex(heiot), cid: cidStringFromDigest(heiot) }
        msg.payload = payload
        msg.tx = tx
        if (store !== undefined) {
          store.confirmed(batch!).then(() => {
            confirmed++
            show()
            send([null, { ...msg, payload: { ...payload, confirmed: true } } as Msg])
          }, (err: unknown) => { node.status(status.fail(err)); node.error(err, msg) })
        } else if (txs?.confirmed !== undefined) {
          txs.confirmed(id).then((c) => {
            confirmed++
            show()
            send([null, { ...msg, payload: { ...payload, height: c.height, block: c.block } } as Msg])
          }, (err: unknown) => { node.status(status.fail(err)); node.error(err, msg) })
        }
        return [msg, null]
      }
    }
  }, {})
}
