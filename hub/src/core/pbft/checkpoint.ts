/**
 * CHECKPOINT ⟨n, d, i⟩ (Castro–Liskov §4.3): replica i executed the Dblock at
 * height n (a multiple of K) whose hash is d — the hash chains the whole
 * Docchain, so d is the state digest. 2f+1 matching checkpoints make it
 * stable: the low watermark moves to n and the log below is discarded.
 */
import type { Reader, Writer } from '../codec.ts'
import { HASH_BYTES } from '../crypto.ts'
import type { MsgCodec, Signed } from './envelope.ts'

export interface CheckpointBody { readonly seq: number, readonly digest: Uint8Array }
export type CheckpointMsg = Signed<'checkpoint', CheckpointBody>

export const checkpointCodec: MsgCodec<'checkpoint', CheckpointBody> = {
  kind: 'checkpoint',
  type: 6,
  write (w: Writer, b: CheckpointBody) { w.u32('seq', b.seq).fixed('digest', b.digest, HASH_BYTES) },
  read (r: Reader) { return { seq: r.u32('seq'), digest: r.fixed('digest', HASH_BYTES) } }
}
