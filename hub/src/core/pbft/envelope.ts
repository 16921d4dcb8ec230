/**
 * Signed envelope of every PBFT message (Castro–Liskov, OSDI '99 §4: "all
 * messages are signed"; paper §IV-B3, Fig. 5). Layout, strictly decoded:
 *   type(u8) ‖ version(u8) ‖ body ‖ replica(32) ‖ sig(64)
 * The signature covers a domain-separated message: "healthchain/pbft_<kind>/v1\0"
 * ‖ type ‖ version ‖ body, except where a kind says otherwise (reply signs the
 * Dblock commit message, so replies are the certificate). Pure: no I/O.
 */
import { equalBytes, Reader, Writer } from '../codec.ts'
import { domainTag, ID_BYTES, SIG_BYTES, sign, verify, type SigningKey } from '../crypto.ts'
import { UnknownVersionError } from '../errors.ts'
import { signingMessage } from '../tx/common.ts'

export const PBFT_VERSION = 1
/** Largest encoded PBFT message (a new-view carries up to a window of blocks). */
export const MAX_PBFT_MESSAGE_BYTES = 64 * 1024 * 1024
/** Largest count of nested messages/items in one proof. */
export const MAX_PROOF_ITEMS = 4096

/** How one message kind lays out its body: one of these per file. */
export interface MsgCodec<K extends string, B> {
  readonly kind: K
  readonly type: number
  write: (w: Writer, body: B) => void
  read: (r: Reader) => B
  /** The signed message; default: domain tag ‖ type ‖ version ‖ body. */
  signing?: (body: B, head: Uint8Array) => Uint8Array
}

export interface Signed<K extends string, B> {
  readonly kind: K
  readonly body: B
  /** The sending accounting node's Ed25519 ID. */
  readonly replica: Uint8Array
  readonly sig: Uint8Array
  /** The full canonical encoding. */
  readonly bytes: Uint8Array
  /** Bytes the signature covers. */
  readonly signed: Uint8Array
}

const tags = new Map<string, Uint8Array>()
function tagOf (kind: string): Uint8Array {
  let t = tags.get(kind)
  if (t === undefined) { t = domainTag(`pbft_${kind}`); tags.set(kind, t) }
  return t
}

function headAndBody<K extends string, B> (codec: MsgCodec<K, B>, body: B): Uint8Array {
  const w = new Writer(128).u8('type', codec.type).u8('version', PBFT_VERSION)
  codec.write(w, body)
  return w.finish()
}

function signedBytes<K extends string, B> (codec: MsgCodec<K, B>, body: B, head: Uint8Array): Uint8Array {
  return codec.signing !== undefined ? codec.signing(body, head) : signingMessage(tagOf(codec.kind), head)
}

export function signMessage<K extends string, B> (codec: MsgCodec<K, B>, body: B, key: SigningKey): Signed<K, B> {
  const head = headAndBody(codec, body)
  const signed = signedBytes(codec, body, head)
  const sig = sign(key, signed)
  const w = new Writer(head.length + ID_BYTES + SIG_BYTES).fixed('body', head, head.length)
    .fixed('replica', key.publicKey, ID_BYTES).fixed('sig', sig, SIG_BYTES)
  return { kind: codec.kind, body, replica: key.publicKey, sig, bytes: w.finish(), signed }
}

/** Strict decode of one kind, the type byte already read by the dispatcher. */
export function readSigned<K extends string, B> (codec: MsgCodec<K, B>, bytes: Uint8Array, r: Reader): Signed<K, B> {
  const v = r.u8('version')
  if (v !== PBFT_VERSION) throw new UnknownVersionError('version', v)
  const body = codec.read(r)
  const head = r.since(0)
  const replica = r.fixed('replica', ID_BYTES)
  const sig = r.fixed('sig', SIG_BYTES)
  r.end(codec.kind)
  return { kind: codec.kind, body, replica, sig, bytes, signed: signedBytes(codec, body, head) }
}

// Every receiver checks the same signature of a broadcast message, and a
// new-view re-checks nested ones: a bounded memo of verified signatures,
// keyed by (key ‖ sig) and holding the exact message they verified, saves the
// repeats. It only ever caches successes of a pure check.
const verified = new Map<string, Uint8Array>()
const VERIFIED_MAX = 1 << 16

export function verifyCached (publicKey: Uint8Array, message: Uint8Array, sig: Uint8Array): boolean {
  if (publicKey.length !== ID_BYTES || sig.length !== SIG_BYTES) return false
  const key = Buffer.from(publicKey).toString('latin1') + Buffer.from(sig).toString('latin1')
  const seen = verified.get(key)
  if (seen !== undefined && equalBytes(seen, message)) return true
  if (!verify(publicKey, message, sig)) return false
  if (verified.size >= VERIFIED_MAX) verified.delete(verified.keys().next().value!)
  verified.set(key, message)
  return true
}

export function verifySigned (m: Signed<string, unknown>): boolean {
  return verifyCached(m.replica, m.signed, m.sig)
}

/** A list of nested encoded messages. */
export function writeList (w: Writer, field: string, items: readonly Uint8Array[]): void {
  w.list(field, items, MAX_PROOF_ITEMS, MAX_PBFT_MESSAGE_BYTES)
}

export function readList (r: Reader, field: string): Uint8Array[] {
  return r.list(field, MAX_PROOF_ITEMS, MAX_PBFT_MESSAGE_BYTES)
}
