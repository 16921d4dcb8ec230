/**
 * REQUEST (paper §IV-B3: "each accounting node broadcasts the transactions
 * sent from doctor nodes to the whole network"; Castro–Liskov §4.1). The
 * doctors' tx_diag (or consortium registry records) that one accounting node
 * received, forwarded as one message: each tx carries its signer's own
 * signature, the envelope names the forwarder. Since pbft/5.0.0 a REQUEST
 * carries a batch — everything the node admitted in one step — under one
 * forwarder signature; a REQUEST per tx cost an Ed25519 signature and a
 * message per tx_diag at the forwarder and a message at each receiver.
 */
import { InvalidFieldError, LimitExceededError } from '../errors.ts'
import type { Reader, Writer } from '../codec.ts'
import type { BodyTx } from '../body.ts'
import { DOC_KINDS } from '../dblock.ts'
import { MAX_BLOCK_BODY_BYTES, MAX_TX_BYTES } from '../limits.ts'
import { decodeTx, txId } from '../tx/index.ts'
import type { MsgCodec, Signed } from './envelope.ts'

/** Txs in one REQUEST. */
export const MAX_REQUEST_TXS = 1024
/** Tx bytes in one REQUEST (a Dblock body's worth). */
export const MAX_REQUEST_BYTES = MAX_BLOCK_BODY_BYTES

export interface RequestBody { readonly txs: readonly Uint8Array[] }
export type RequestMsg = Signed<'request', RequestBody>

function checkTotal (txs: readonly Uint8Array[]): void {
  let bytes = 0
  for (const t of txs) bytes += t.length
  if (bytes > MAX_REQUEST_BYTES) throw new LimitExceededError('txs', MAX_REQUEST_BYTES, bytes)
}

export const requestCodec: MsgCodec<'request', RequestBody> = {
  kind: 'request',
  type: 1,
  write (w: Writer, b: RequestBody) {
    if (b.txs.length === 0) throw new InvalidFieldError('txs', 'a REQUEST carries at least one tx')
    checkTotal(b.txs)
    w.list('txs', b.txs, MAX_REQUEST_TXS, MAX_TX_BYTES)
  },
  read (r: Reader) {
    const txs = r.list('txs', MAX_REQUEST_TXS, MAX_TX_BYTES)
    if (txs.length === 0) throw new InvalidFieldError('txs', 'a REQUEST carries at least one tx')
    checkTotal(txs)
    return { txs }
  }
}

/**
 * The txs as REQUEST bodies: consecutive runs of at most MAX_REQUEST_TXS txs
 * and MAX_REQUEST_BYTES of tx bytes (a tx is never split; none when empty).
 */
export function requestBodies (txs: readonly BodyTx[]): RequestBody[] {
  const out: RequestBody[] = []
  let run: Uint8Array[] = []
  let bytes = 0
  for (const t of txs) {
    if (run.length > 0 && (run.length >= MAX_REQUEST_TXS || bytes + t.bytes.length > MAX_REQUEST_BYTES)) { out.push({ txs: run }); run = []; bytes = 0 }
    run.push(t.bytes)
    bytes += t.bytes.length
  }
  if (run.length > 0) out.push({ txs: run })
  return out
}

const carried = new WeakMap<RequestMsg, BodyTx[]>()

/**
 * The Docchain txs (tx_diag or registry records) a REQUEST carries, decoded
 * once per message whoever asks (the host's checks, then the replica); a tx
 * that does not decode as one is left out (the others still count).
 */
export function requestTxs (m: RequestMsg): readonly BodyTx[] {
  let out = carried.get(m)
  if (out === undefined) {
    out = []
    for (const bytes of m.body.txs) {
      try {
        const tx = decodeTx(bytes)
        if (DOC_KINDS.has(tx.kind)) out.push({ tx, bytes, id: txId(bytes) })
      } catch { /* not a Docchain tx: dropped */ }
    }
    carried.set(m, out)
  }
  return out
}
