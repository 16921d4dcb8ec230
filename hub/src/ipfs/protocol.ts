/**
 * The Healthchain store protocol `/healthchain/store/2.0.0` (paper §IV-B2,
 * Alg. 2 lines 2–3: the user node stores the encrypted batch in IPFS before
 * it publishes tx_IoT; Alg. 4 lines 1–2: a doctor fetches it by HEIoT).
 *
 * One request and one response per libp2p stream, each one length-prefixed
 * frame (unsigned varint length, as libp2p's lpStream). Pure encoding here;
 * the I/O is in node.ts.
 *
 *   request  = u8 version(2) ‖ u8 kind ‖ body
 *     PUT      body = bytes(auth) ‖ bytes(block)   store and hold this block, then ack
 *     ANNOUNCE body = digest[32] ‖ bytes(auth)     fetch this block (from me or a replica), hold, ack
 *     GET      body = digest[32]     send me the block
 *     HAS      body = digest[32]     do you hold it, and is it pinned?
 *     auth: the uploader's UploadAuth (core/upload-auth.ts) for this digest
 *     and this storage node, or empty; a storage node admits an upload by it
 *     (DESIGN §6: only established identities may upload).
 *   response = u8 version(2) ‖ u8 status ‖ body
 *     OK: PUT/ANNOUNCE → digest[32] (the acknowledgement); GET → bytes(block);
 *         HAS → u8 state (0 absent, 1 stored unpinned, 2 pinned)
 *     any other status → bytes(utf-8 reason, ≤ 256)
 */
import {
  checkBytes, concatBytes, InvalidFieldError, LimitExceededError, MAX_UPLOAD_AUTH_BYTES, Reader, UnknownVersionError, utf8Bytes, Writer
} from '../core/index.ts'

export const STORE_PROTOCOL = '/healthchain/store/2.0.0'
export const STORE_VERSION = 2

/** Largest encrypted batch (or diagnosis) the IPFS layer stores: 1 MiB. */
export const MAX_BATCH_BYTES = 1024 * 1024
/** Largest frame: a batch plus the request/response header, the upload auth and the length varints. */
export const MAX_FRAME_BYTES = MAX_BATCH_BYTES + 16 + MAX_UPLOAD_AUTH_BYTES
const MAX_REASON_BYTES = 256

export const KIND = { PUT: 1, ANNOUNCE: 2, GET: 3, HAS: 4 } as const
export type Kind = typeof KIND[keyof typeof KIND]

export const STATUS = { OK: 0, NOT_FOUND: 1, REFUSED: 2, INVALID: 3, FAILED: 4, TOO_LARGE: 5 } as const
export type Status = typeof STATUS[keyof typeof STATUS]
export const STATUS_NAME: Record<number, string> = Object.fromEntries(Object.entries(STATUS).map(([k, v]) => [v, k]))

export const HAVE = { ABSENT: 0, STORED: 1, PINNED: 2 } as const
export type Have = typeof HAVE[keyof typeof HAVE]

export type StoreRequest =
  | { kind: typeof KIND.PUT, block: Uint8Array, auth?: Uint8Array }
  | { kind: typeof KIND.ANNOUNCE, digest: Uint8Array, auth?: Uint8Array }
  | { kind: typeof KIND.GET | typeof KIND.HAS, digest: Uint8Array }

const NO_AUTH = new Uint8Array(0)

export type StoreResponse =
  | { status: typeof STATUS.OK, digest?: Uint8Array, block?: Uint8Array, have?: Have }
  | { status: Exclude<Status, typeof STATUS.OK>, reason: string }

/**
 * The request as byte strings whose concatenation is the encoded request;
 * a PUT's block is the last one, as given (not copied: a 1 MiB batch goes
 * to each storage node straight from the caller's buffer).
 */
export function encodeRequestParts (req: StoreRequest): Uint8Array[] {
  const w = new Writer(40 + MAX_UPLOAD_AUTH_BYTES)
  w.u8('version', STORE_VERSION).u8('kind', req.kind)
  if (req.kind === KIND.PUT) {
    checkBytes('block', req.block)
    if (req.block.length > MAX_BATCH_BYTES) throw new LimitExceededError('block', MAX_BATCH_BYTES, req.block.length)
    w.bytes('auth', req.auth ?? NO_AUTH, MAX_UPLOAD_AUTH_BYTES).varint('block', req.block.length)
    return [w.finish(), req.block]
  }
  w.fixed('digest', req.digest, 32)
  if (req.kind === KIND.ANNOUNCE) w.bytes('auth', req.auth ?? NO_AUTH, MAX_UPLOAD_AUTH_BYTES)
  return [w.finish()]
}

/**
 * The request as one length-prefixed frame (the varint a libp2p lpStream
 * reads, then the request), in parts to send in order: the block is the
 * caller's buffer, not copied into the frame.
 */
export function requestFrame (req: StoreRequest): Uint8Array[] {
  const [head, ...rest] = encodeRequestParts(req)
  let len = 0
  for (const p of [head!, ...rest]) len += p.length
  return [concatBytes(new Writer(8).varint('frame', len).finish(), head!), ...rest]
}

export function encodeRequest (req: StoreRequest): Uint8Array {
  const parts = encodeRequestParts(req)
  return parts.length === 1 ? parts[0]! : concatBytes(...parts)
}

export function decodeRequest (buf: Uint8Array): StoreRequest {
  const r = new Reader(buf)
  const version = r.u8('version')
  if (version !== STORE_VERSION) throw new UnknownVersionError('version', version)
  const kind = r.u8('kind')
  let req: StoreRequest
  switch (kind) {
    case KIND.PUT: {
      const auth = r.bytes('auth', MAX_UPLOAD_AUTH_BYTES)
      req = { kind, block: r.bytes('block', MAX_BATCH_BYTES), ...(auth.length === 0 ? {} : { auth }) }
      break
    }
    case KIND.ANNOUNCE: {
      const digest = r.fixed('digest', 32)
      const auth = r.bytes('auth', MAX_UPLOAD_AUTH_BYTES)
      req = { kind, digest, ...(auth.length === 0 ? {} : { auth }) }
      break
    }
    case KIND.GET:
    case KIND.HAS: req = { kind, digest: r.fixed('digest', 32) }; break
    default: throw new UnknownVersionError('kind', kind)
  }
  r.end('request')
  return req
}

/** Encodes a response to a request of `kind`. */
export function encodeResponse (kind: Kind, res: StoreResponse): Uint8Array {
  const w = new Writer(res.status === STATUS.OK && res.block !== undefined ? res.block.length + 8 : 40)
  w.u8('version', STORE_VERSION).u8('status', res.status)
  if (res.status !== STATUS.OK) {
    const reason = utf8Bytes(res.reason)
    w.bytes('reason', reason.length > MAX_REASON_BYTES ? reason.subarray(0, MAX_REASON_BYTES) : reason, MAX_REASON_BYTES)
  } else if (kind === KIND.GET) {
    if (res.block === undefined) throw new InvalidFieldError('block', 'GET answer needs the block')
    w.bytes('block', res.block, MAX_BATCH_BYTES)
  } else if (kind === KIND.HAS) {
    w.u8('have', res.have ?? HAVE.ABSENT)
  } else {
    if (res.digest === undefined) throw new InvalidFieldError('digest', 'acknowledgement needs the digest')
    w.fixed('digest', res.digest, 32)
  }
  return w.finish()
}

export function decodeResponse (kind: Kind, buf: Uint8Array): StoreResponse {
  const r = new Reader(buf)
  const version = r.u8('version')
  if (version !== STORE_VERSION) throw new UnknownVersionError('version', version)
  const status = r.u8('status')
  let res: StoreResponse
  if (status === STATUS.OK) {
    if (kind === KIND.GET) res = { status, block: r.bytes('block', MAX_BATCH_BYTES) }
    else if (kind === KIND.HAS) {
      const have = r.u8('have')
      if (have > HAVE.PINNED) throw new UnknownVersionError('have', have)
      res = { status, have: have as Have }
    } else res = { status, digest: r.fixed('digest', 32) }
  } else if (STATUS_NAME[status] !== undefined) {
    res = { status: status as Exclude<Status, typeof STATUS.OK>, reason: new TextDecoder('utf-8', { fatal: false }).decode(r.bytes('reason', MAX_REASON_BYTES)) }
  } else {
    throw new UnknownVersionError('status', status)
  }
  r.end('response')
  return res
}
