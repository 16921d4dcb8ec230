/**
 * One sample body of every PBFT message kind (core/pbft/*.ts), shared by the
 * codec tests (test/unit/pbft-messages.test.ts) and the fuzz seeds
 * (test/fuzz/targets.ts).
 */
import { dblockHash, dblockProposal, encodeDblock, encodeTx } from '../../hub/src/core/index.ts'
import { signMessage, type MsgCodec } from '../../hub/src/core/pbft/envelope.ts'
import { requestCodec } from '../../hub/src/core/pbft/request.ts'
import { prePrepareBody, prePrepareCodec } from '../../hub/src/core/pbft/pre-prepare.ts'
import { prepareCodec } from '../../hub/src/core/pbft/prepare.ts'
import { commitCodec } from '../../hub/src/core/pbft/commit.ts'
import { checkpointCodec } from '../../hub/src/core/pbft/checkpoint.ts'
import { viewChangeCodec } from '../../hub/src/core/pbft/view-change.ts'
import { newViewCodec } from '../../hub/src/core/pbft/new-view.ts'
import { blocksCodec, fetchCodec, statusCodec } from '../../hub/src/core/pbft/fetch.ts'
import { GENESIS, ident, txPool } from '../fuzz/pbft-sim.ts'

export const key = ident('replica-0').signing
export const digest = dblockHash(GENESIS.header)
export const block = dblockProposal({ index: 1, gtime: 1_790_000_001, prehash: digest, view: 0, leader: key.publicKey, txs: txPool(2) })
export const pp = signMessage(prePrepareCodec, prePrepareBody(0, block), key)
export const prep = signMessage(prepareCodec, { view: 0, seq: 1, digest }, ident('replica-1').signing)

export const samples: Array<[MsgCodec<string, any>, unknown]> = [
  [requestCodec, { txs: txPool(2).map(encodeTx) }],
  [prePrepareCodec, prePrepareBody(3, block)],
  [prepareCodec, { view: 7, seq: 9, digest }],
  [commitCodec, { view: 7, seq: 9, digest }],
  [checkpointCodec, { seq: 8, digest }],
  [viewChangeCodec, { view: 1, stableSeq: 0, stableDigest: digest, checkpoints: [], prepared: [{ prePrepare: pp.bytes, prepares: [prep.bytes, prep.bytes] }] }],
  [newViewCodec, { view: 1, viewChanges: [prep.bytes], prePrepares: [pp.bytes] }],
  [fetchCodec, { from: 5 }],
  [blocksCodec, { blocks: [encodeDblock(GENESIS)] }],
  [statusCodec, { height: 12, view: 3 }]
]
