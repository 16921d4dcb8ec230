/**
 * All PBFT message kinds behind one strict decoder, dispatched by type byte
 * (each kind's layout lives in its own file).
 */
import { Reader } from '../codec.ts'
import { LimitExceededError, UnknownVersionError } from '../errors.ts'
import { MAX_PBFT_MESSAGE_BYTES, readSigned, type MsgCodec } from './envelope.ts'
import { requestCodec, type RequestMsg } from './request.ts'
import { prePrepareCodec, type PrePrepareMsg } from './pre-prepare.ts'
import { prepareCodec, type PrepareMsg } from './prepare.ts'
import { commitCodec, type CommitMsg } from './commit.ts'
import { checkpointCodec, type CheckpointMsg } from './checkpoint.ts'
import { viewChangeCodec, type ViewChangeMsg } from './view-change.ts'
import { newViewCodec, type NewViewMsg } from './new-view.ts'
import { blocksCodec, fetchCodec, statusCodec, type BlocksMsg, type FetchMsg, type StatusMsg } from './fetch.ts'

export type PbftMessage = RequestMsg | PrePrepareMsg | PrepareMsg | CommitMsg | CheckpointMsg |
ViewChangeMsg | NewViewMsg | FetchMsg | BlocksMsg | StatusMsg

// Type 5 was REPLY (its signature formed the certificate); since pbft/4.0.0 the COMMIT votes do, and 5 is unknown.
const CODECS: ReadonlyArray<MsgCodec<string, any>> = [
  requestCodec, prePrepareCodec, prepareCodec, commitCodec, checkpointCodec,
  viewChangeCodec, newViewCodec, fetchCodec, blocksCodec, statusCodec
]
const BY_TYPE = new Map(CODECS.map((c) => [c.type, c]))

/** Strict decode; the signature is NOT checked here (verifySigned). */
export function decodeMessage (bytes: Uint8Array): PbftMessage {
  if (bytes.length > MAX_PBFT_MESSAGE_BYTES) throw new LimitExceededError('message', MAX_PBFT_MESSAGE_BYTES, bytes.length)
  const r = new Reader(bytes)
  const type = r.u8('type')
  const codec = BY_TYPE.get(type)
  if (codec === undefined) throw new UnknownVersionError('type', type)
  return readSigned(codec, bytes, r) as PbftMessage
}

/** The kind of a message from its type byte, for logs ('?' when unknown). */
export function messageKind (bytes: Uint8Array): string {
  return BY_TYPE.get(bytes[0] ?? -1)?.kind ?? '?'
}
