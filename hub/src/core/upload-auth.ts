/**
 * Upload authorisation (DESIGN §6: storage nodes accept uploads signed by an
 * established identity; paper §III-A: storage nodes are run by the
 * consortium, §IV-B2: the uploader stores the encrypted batch before it
 * publishes tx_IoT / tx_diag). An UploadAuth is the uploader's signature
 * over what it asks one storage node to hold:
 *
 *   message = domainTag(purpose) ‖ u8 version ‖ signer[32] ‖ varint ts ‖ bytes(context)
 *
 * - purpose `store-upload`: context = digest[32] ‖ the storage node's peer id
 *   (its string form), so a storage node cannot replay the signature to
 *   another node, and it names exactly one block;
 * - purpose `pinning-token`: context = the audience the token is for (the
 *   Pinning Service API's bearer token, see tokens below).
 *
 * `ts` (seconds) bounds replay: a verifier accepts it within ±maxSkew of its
 * clock. Who counts as established is a chain question, answered outside the
 * core (roles/storage).
 */
import { Reader, Writer, concatBytes, utf8Bytes } from './codec.ts'
import { assertSignature, domainTag, ID_BYTES, SIG_BYTES, sign, type Identity } from './crypto.ts'
import { InvalidFieldError, TimestampError, UnknownVersionError } from './errors.ts'
import { MAX_TIMESTAMP } from './limits.ts'

export const UPLOAD_AUTH_VERSION = 1
/** Largest context signed (a digest and a peer id, or a token audience). */
export const MAX_AUTH_CONTEXT = 256
/** Encoded size bound of an UploadAuth (version, signer, ts varint, signature). */
export const MAX_UPLOAD_AUTH_BYTES = 1 + ID_BYTES + 6 + SIG_BYTES

export type AuthPurpose = 'store-upload' | 'pinning-token'

export interface UploadAuth {
  /** The signer's ID (Ed25519 public key): a user or a doctor. */
  readonly signer: Uint8Array
  /** Seconds since 1970 when it was signed. */
  readonly ts: number
  readonly sig: Uint8Array
}

function message (purpose: AuthPurpose, signer: Uint8Array, ts: number, context: Uint8Array): Uint8Array {
  if (context.length > MAX_AUTH_CONTEXT) throw new InvalidFieldError('context', `at most ${MAX_AUTH_CONTEXT} bytes`)
  const body = new Writer(48 + context.length).u8('version', UPLOAD_AUTH_VERSION).fixed('signer', signer, ID_BYTES)
    .varint('ts', ts, MAX_TIMESTAMP).bytes('context', context, MAX_AUTH_CONTEXT).finish()
  return concatBytes(domainTag(purpose), body)
}

/** The context of a store-protocol upload: the block's digest and the storage node it is sent to. */
export function storeUploadContext (digest: Uint8Array, storagePeerId: string): Uint8Array {
  if (digest.length !== 32) throw new InvalidFieldError('digest', 'must be 32 bytes')
  return concatBytes(digest, utf8Bytes(storagePeerId))
}

export function signUploadAuth (who: Identity, purpose: AuthPurpose, ts: number, context: Uint8Array): UploadAuth {
  return { signer: who.id, ts, sig: sign(who.signing, message(purpose, who.id, ts, context)) }
}

/**
 * Checks the signature and that `ts` lies within ±maxSkewSeconds of `now`
 * (seconds); throws BadSignatureError or TimestampError.
 */
export function verifyUploadAuth (auth: UploadAuth, purpose: AuthPurpose, context: Uint8Array, now: number, maxSkewSeconds: number): void {
  if (Math.abs(auth.ts - now) > maxSkewSeconds) throw new TimestampError('ts', `signed at ${auth.ts}, ${auth.ts - now} s from now (allowed ±${maxSkewSeconds} s)`)
  assertSignature('sig', auth.signer, message(purpose, auth.signer, auth.ts, context), auth.sig)
}

export function encodeUploadAuth (a: UploadAuth): Uint8Array {
  return new Writer(MAX_UPLOAD_AUTH_BYTES).u8('version', UPLOAD_AUTH_VERSION).fixed('signer', a.signer, ID_BYTES)
    .varint('ts', a.ts, MAX_TIMESTAMP).fixed('sig', a.sig, SIG_BYTES).finish()
}

export function decodeUploadAuth (bytes: Uint8Array): UploadAuth {
  const r = new Reader(bytes)
  const version = r.u8('version')
  if (version !== UPLOAD_AUTH_VERSION) throw new UnknownVersionError('version', version)
  const a = { signer: r.fixed('signer', ID_BYTES), ts: r.varint('ts', MAX_TIMESTAMP), sig: r.fixed('sig', SIG_BYTES) }
  r.end('upload auth')
  return a
}
