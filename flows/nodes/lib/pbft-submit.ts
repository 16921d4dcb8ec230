/**
 * pbft submit (paper §IV-B3 Docchain consensus): hands the tx_diag in
 * msg.payload (object or encoding) to the accounting nodes and passes the
 * message on once they committed it in a Dblock: msg.payload = {id (htxd),
 * height, block}.
 */
import { defineNode, runtimeOf, status, type RedApi } from '../../../hub/src/nodered/kit.ts'
import { txOf } from '../../../hub/src/nodered/msg.ts'
import { need } from '../../../hub/src/nodered/runtime.ts'

export default function (RED: RedApi): void {
  defineNode(RED, 'healthchain-pbft-submit', (node, def) => {
    const pbft = need(runtimeOf(RED, def), 'pbft')
    let committed = 0
    node.status(status.idle('ready'))
    return {
      input: async (msg) => {
        const tx = txOf(msg.payload, 'diag')
        node.status(status.busy('awaiting commit'))
        const c = await pbft.submit(tx)
        node.status(status.ok(`${++committed} committed · height ${c.height}`))
        msg.tx = tx
        msg.payload = { id: c.id, height: c.height, block: c.block }
        return msg
      }
    }
  })
}
