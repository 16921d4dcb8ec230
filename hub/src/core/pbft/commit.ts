/**
 * COMMIT ⟨v, n, d, i⟩ (Castro–Liskov §4.2): replica i is prepared for (v, n, d).
 * 2f+1 matching commits (own included) in one view = committed-local. This
 * replica multicasts a commit only once its predecessor block is prepared in
 * the same view or executed, so a committed Dblock's whole chain of parents is
 * committed too (see replica.ts).
 *
 * Its signature is the Dblock commit signature of core dblock.ts
 * (commitMessage(v, n, d)), so the 2f+1 commits that decide a Dblock ARE its
 * certificate: no reply round is needed before a doctor gets its receipt.
 */
import { commitMessage } from '../dblock.ts'
import { readVote, writeVote, type VoteBody } from './prepare.ts'
import type { MsgCodec, Signed } from './envelope.ts'

export type CommitMsg = Signed<'commit', VoteBody>

export const commitCodec: MsgCodec<'commit', VoteBody> = {
  kind: 'commit',
  type: 4,
  write: writeVote,
  read: readVote,
  signing: (b) => commitMessage(b.view, b.seq, b.digest)
}
