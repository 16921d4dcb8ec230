/**
 * REQUEST (paper §IV-B3: "each accounting node broadcasts the transactions
 * sent from doctor nodes to the whole network"; Castro–Liskov §4.1). The
 * doctor's tx_diag, forwarded by the accounting node that received it. The tx
 * carries the doctor's own signature; the envelope names the forwarder.
 */
import type { Reader, Writer } from '../codec.ts'
import { MAX_TX_BYTES } from '../limits.ts'
import type { MsgCodec, Signed } from './envelope.ts'

export interface RequestBody { readonly tx: Uint8Array }
export type RequestMsg = Signed<'request', RequestBody>

export const requestCodec: MsgCodec<'request', RequestBody> = {
  kind: 'request',
  type: 1,
  write (w: Writer, b: RequestBody) { w.bytes('tx', b.tx, MAX_TX_BYTES) },
  read (r: Reader) { return { tx: r.bytes('tx', MAX_TX_BYTES) } }
}
