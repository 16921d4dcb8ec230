/**
 * ipfs upload (paper Alg. 2 lines 2–3; DESIGN §6): stores the sealed bytes
 * in msg.payload on IPFS and waits for the storage nodes' replication acks
 * before passing the message on — so no tx_IoT ever names data the
 * consortium does not hold. Adds msg.cid (CIDv1 base32), msg.heiot (its
 * 32-byte digest, hex: tx_IoT's HEIoT) and msg.acked (acknowledging nodes).
 * A durable batch (msg.batch.id) has its CID recorded in the hub's ingest
 * store before the message goes on.
 */
import { digestFromCidString, toHex } from '../../../hub/src/core/index.ts'
import { defineNode, runtimeOf, status, type RedApi } from '../../../hub/src/nodered/kit.ts'
import { bytesOf, durableConcurrent, durableId } from '../../../hub/src/nodered/msg.ts'
import { need } from '../../../hub/src/nodered/runtime.ts'

export default function (RED: RedApi): void {
  defineNode(RED, 'healthchain-ipfs-upload', (node, def) => {
    const rt = runtimeOf(RED, def)
    const ipfs = need(rt, 'ipfs')
    let uploads = 0
    node.status(status.idle('ready'))
    return {
      concurrent: durableConcurrent(rt),
      input: async (msg) => {
        const bytes = bytesOf(msg.payload, 'payload')
        node.status(status.busy('uploading'))
        const receipt = await ipfs.upload(bytes)
        const id = durableId(msg)
        if (id !== undefined && rt.batches !== undefined) await rt.batches.uploaded(id, receipt.cid)
        msg.cid = receipt.cid
        msg.heiot = toHex(digestFromCidString(receipt.cid))
        msg.acked = [...receipt.acked]
        node.status(status.ok(`${++uploads} stored · ${receipt.acked.length} acks`))
        return msg
      }
    }
  })
}
