/**
 * REPLY (Castro–Liskov §4.1: replicas reply after executing). Sent to every
 * accounting node once a Dblock is executed; its signature is exactly the
 * Dblock commit signature of core dblock.ts (signCommit over dblockHash), so
 * 2f+1 replies ARE the block's certificate. Replies are signed only after
 * committed-local, never on "prepared": commit votes of different views can
 * not be pooled into a certificate for a block that was never committed.
 * The seq is a routing hint only (the signature binds the digest).
 */
import type { Reader, Writer } from '../codec.ts'
import { HASH_BYTES } from '../crypto.ts'
import { commitMessage } from '../dblock.ts'
import type { MsgCodec, Signed } from './envelope.ts'

export interface ReplyBody { readonly seq: number, readonly digest: Uint8Array }
export type ReplyMsg = Signed<'reply', ReplyBody>

export const replyCodec: MsgCodec<'reply', ReplyBody> = {
  kind: 'reply',
  type: 5,
  write (w: Writer, b: ReplyBody) { w.u32('seq', b.seq).fixed('digest', b.digest, HASH_BYTES) },
  read (r: Reader) { return { seq: r.u32('seq'), digest: r.fixed('digest', HASH_BYTES) } },
  signing: (b) => commitMessage(b.digest)
}
