/**
 * PRE-PREPARE ⟨v, n, d⟩ with the request batch (Castro–Liskov §4.2; paper
 * §IV-B3: the leader "sorts the transactions and assigns serial numbers").
 * Here the batch is a whole Dblock proposal (no certificate): sequence
 * number n = Dblock index, d = dblockHash(header).
 */
import type { Reader, Writer } from '../codec.ts'
import { decodeDblock, dblockHash, encodeDblock, type Dblock } from '../dblock.ts'
import { InvalidFieldError } from '../errors.ts'
import { MAX_PBFT_MESSAGE_BYTES, type MsgCodec, type Signed } from './envelope.ts'

export interface PrePrepareBody {
  readonly view: number
  readonly seq: number
  /** The proposed Dblock, strictly decoded, without certificate. */
  readonly block: Dblock
  /** dblockHash(block.header). */
  readonly digest: Uint8Array
}
export type PrePrepareMsg = Signed<'pre-prepare', PrePrepareBody>

export function prePrepareBody (view: number, block: Dblock): PrePrepareBody {
  return { view, seq: block.header.index, block, digest: dblockHash(block.header) }
}

export const prePrepareCodec: MsgCodec<'pre-prepare', PrePrepareBody> = {
  kind: 'pre-prepare',
  type: 2,
  write (w: Writer, b: PrePrepareBody) {
    if (b.block.cert.length !== 0) throw new InvalidFieldError('block.cert', 'a proposal carries no certificate')
    w.u32('view', b.view).u32('seq', b.seq).bytes('block', encodeDblock(b.block), MAX_PBFT_MESSAGE_BYTES)
  },
  read (r: Reader) {
    const view = r.u32('view')
    const seq = r.u32('seq')
    const block = decodeDblock(r.bytes('block', MAX_PBFT_MESSAGE_BYTES))
    if (block.cert.length !== 0) throw new InvalidFieldError('block.cert', 'a proposal carries no certificate')
    if (block.header.index !== seq) throw new InvalidFieldError('seq', 'differs from the block index')
    return { view, seq, block, digest: dblockHash(block.header) }
  }
}
