/**
 * Who may upload to a consortium storage node (DESIGN §6; paper §III-A:
 * storage nodes are the consortium's, and keep what the chains name). An
 * upload is admitted only with an UploadAuth (core/upload-auth.ts) that
 *  - verifies for this block and this storage node, signed within
 *    ±maxSkewSeconds of our clock (a replay later, or to another node, fails);
 *  - is signed by an established identity: a user whose tx_key is confirmed
 *    on Userchain, or a doctor active in the registry folded from Docchain.
 * The signature is checked before any chain lookup, and the lookup before
 * the block is stored. When the signer is not (yet) known, the node catches
 * up from the uploading peer once — a hub's core node holds its user's
 * tx_key — and looks again. The admitted upload is held for the signer,
 * under its quota, until a transaction names it (storage-node.ts).
 */
import type { PeerId } from '@libp2p/interface'
import { decodeUploadAuth, storeUploadContext, toHex, verifyUploadAuth, type UploadAuth } from '../../core/index.ts'
import { UploadRefusedError } from '../../ipfs/errors.ts'
import type { Admission } from './storage-node.ts'

export type EstablishedAs = 'user' | 'doctor'

export interface ChainAdmissionOptions {
  /** This storage node's peer id (string form): what a signed upload names. */
  readonly peerId: string
  /** How an identity is established on chain, or null: a confirmed tx_key ('user'), an active registration ('doctor'). */
  readonly established: (id: Uint8Array) => EstablishedAs | null
  /** Catches up with the uploading peer's chain, so an identity established there is known here. */
  readonly catchUp?: (from: PeerId) => Promise<void>
  /** Allowed distance of the signature's time from our clock, seconds (default 600). */
  readonly maxSkewSeconds?: number
  /** Clock, seconds (default Date.now). */
  readonly now?: () => number
}

/** Decodes and verifies an upload's auth for `digest` to this node, or refuses the upload. */
export function checkUploadAuth (auth: Uint8Array | undefined, digest: Uint8Array, peerId: string, now: number, maxSkewSeconds: number): UploadAuth {
  if (auth === undefined) throw new UploadRefusedError('unsigned', 'an upload must be signed by an established identity (a user with a confirmed tx_key, or a registered doctor)')
  try {
    const a = decodeUploadAuth(auth)
    verifyUploadAuth(a, 'store-upload', storeUploadContext(digest, peerId), now, maxSkewSeconds)
    return a
  } catch (err) {
    throw new UploadRefusedError('bad-signature', `upload signature refused: ${(err as Error).message}`)
  }
}

export function chainAdmission (o: ChainAdmissionOptions): Admission {
  const skew = o.maxSkewSeconds ?? 600
  const now = o.now ?? (() => Math.floor(Date.now() / 1000))
  return {
    async admit ({ digest, from, auth }) {
      const a = checkUploadAuth(auth, digest, o.peerId, now(), skew)
      let as = o.established(a.signer)
      if (as === null && o.catchUp !== undefined) {
        await o.catchUp(from).catch(() => {})
        as = o.established(a.signer)
      }
      const id = toHex(a.signer)
      if (as === null) throw new UploadRefusedError('not-established', `${id.slice(0, 12)}… has no confirmed tx_key on Userchain and is not a registered doctor`)
      return id
    }
  }
}
