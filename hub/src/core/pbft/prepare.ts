/**
 * PREPARE ⟨v, n, d, i⟩ (Castro–Liskov §4.2): backup i accepted the leader's
 * pre-prepare for (v, n) with digest d. Pre-prepare plus 2f matching prepares
 * from distinct backups = prepared(m, v, n, i).
 */
import type { Reader, Writer } from '../codec.ts'
import { HASH_BYTES } from '../crypto.ts'
import type { MsgCodec, Signed } from './envelope.ts'

export interface VoteBody { readonly view: number, readonly seq: number, readonly digest: Uint8Array }
export type PrepareMsg = Signed<'prepare', VoteBody>

export function writeVote (w: Writer, b: VoteBody): void {
  w.u32('view', b.view).u32('seq', b.seq).fixed('digest', b.digest, HASH_BYTES)
}
export function readVote (r: Reader): VoteBody {
  return { view: r.u32('view'), seq: r.u32('seq'), digest: r.fixed('digest', HASH_BYTES) }
}

export const prepareCodec: MsgCodec<'prepare', VoteBody> = { kind: 'prepare', type: 3, write: writeVote, read: readVote }
