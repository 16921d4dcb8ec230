/**
 * REQUEST (paper §IV-B3: "each accounting node broadcasts the transactions
 * sent from doctor nodes to the whole network"; Castro–Liskov §4.1). The
 * doctor's tx_diag, forwarded by the accounting node that received it. The tx
 * carries the doctor's own signature; the envelope names the forwarder.
 */
import type { Reader, Writer } from '../codec.ts'
import type { BodyTx } from '../body.ts'
import { DOC_KINDS } from '../dblock.ts'
import { MAX_TX_BYTES } from '../limits.ts'
import { decodeTx, txId } from '../tx/index.ts'
import type { MsgCodec, Signed } from './envelope.ts'

export interface RequestBody { readonly tx: Uint8Array }
export type RequestMsg = Signed<'request', RequestBody>

export const requestCodec: MsgCodec<'request', RequestBody> = {
  kind: 'request',
  type: 1,
  write (w: Writer, b: RequestBody) { w.bytes('tx', b.tx, MAX_TX_BYTES) },
  read (r: Reader) { return { tx: r.bytes('tx', MAX_TX_BYTES) } }
}

const carried = new WeakMap<RequestMsg, BodyTx | null>()

/**
 * The Docchain tx (tx_diag or registry record) a REQUEST carries, decoded
 * once per message whoever asks (the host's checks, then the replica), or
 * null when it is not one.
 */
export function requestTx (m: RequestMsg): BodyTx | null {
  let bt = carried.get(m)
  if (bt === undefined) {
    try {
      const tx = decodeTx(m.body.tx)
      bt = DOC_KINDS.has(tx.kind) ? { tx, bytes: m.body.tx, id: txId(m.body.tx) } : null
    } catch { bt = null }
    carried.set(m, bt)
  }
  return bt
}
