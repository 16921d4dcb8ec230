/**
 * What all transaction kinds share (paper §IV-B1, Eq. 1–3): a type tag and a
 * version byte, a body in the canonical layout of codec.ts, and (for signed
 * kinds) an Ed25519 signature over a domain-separated message
 *   "healthchain/<kind>/v1\0" ‖ type ‖ version ‖ body.
 * The version is per kind: a kind whose layout changed writes its newest
 * version and still reads the older ones it lists (stored chains keep their
 * bytes and ids); the version byte is signed, so it cannot be swapped.
 * The id (htxI, htxk, htxd) is SHA-256 of the whole encoding including the
 * signature; it is computed, never sent.
 */
import { Reader, Writer } from '../codec.ts'
import { domainTag, sign, SIG_BYTES, type SigningKey } from '../crypto.ts'
import { UnknownVersionError } from '../errors.ts'

export const TX_VERSION = 1

/** Wire tags of the transaction kinds. */
export const TX_TYPES = { iot: 1, key: 2, diag: 3, coin: 4, coinbase: 5, reg: 6, emergency: 7, release: 8, withdrawal: 9 } as const
export type TxKind = keyof typeof TX_TYPES

/** How one transaction kind is laid out: one of these per file in tx/. */
export interface TxCodec<T extends { kind: TxKind }> {
  readonly kind: T['kind']
  /** Domain tag of the signature, or null for a kind without its own signature (coinbase, reg). */
  readonly tag: Uint8Array | null
  /** Writes every field but the kind and the signature, validating each. */
  writeBody: (w: Writer, tx: T) => void
  /** Reads the body (of the given version) back; the result lacks only `sig`. */
  readBody: (r: Reader, version: number) => Omit<T, 'sig'>
  /** The public key that must have signed, or null. */
  signer: (tx: T) => Uint8Array | null
  /** Versions this kind reads (default: TX_VERSION only); readBody gets the one read. */
  readonly versions?: readonly number[]
  /** The version a transaction is written in (default TX_VERSION). */
  versionOf?: (tx: T) => number
}

export function writeHead<T extends { kind: TxKind }> (w: Writer, codec: TxCodec<T>, tx: T): void {
  w.u8('type', TX_TYPES[codec.kind]).u8('version', codec.versionOf?.(tx) ?? TX_VERSION)
}

/** Reads the version byte: one the kind knows, or UnknownVersionError. */
export function readVersion (r: Reader, codec: TxCodec<any>): number {
  const v = r.u8('version')
  if (!(codec.versions ?? [TX_VERSION]).includes(v)) throw new UnknownVersionError('version', v)
  return v
}

/**
 * The message a signed kind's signature covers — its tag, then the bytes of
 * the transaction without its signature — written in one buffer (every
 * signature check of a block rebuilds one).
 */
export function signedMessage<T extends { kind: TxKind }> (codec: TxCodec<T>, tx: T): Uint8Array {
  return writeSignedMessage(new Writer(256), codec, tx).finish()
}

export function writeSignedMessage<T extends { kind: TxKind }> (w: Writer, codec: TxCodec<T>, tx: T): Writer {
  w.fixed('tag', codec.tag!, codec.tag!.length)
  writeHead(w, codec, tx)
  codec.writeBody(w, tx)
  return w
}

export function signingMessage (tag: Uint8Array, unsigned: Uint8Array): Uint8Array {
  const m = new Uint8Array(tag.length + unsigned.length)
  m.set(tag)
  m.set(unsigned, tag.length)
  return m
}

/** Validates and signs a body: the one way every signed kind is built. */
export function signBody<T extends { kind: TxKind, sig: Uint8Array }> (codec: TxCodec<T>, body: Omit<T, 'sig'>, key: SigningKey): T {
  const sig = sign(key, signedMessage(codec, { ...body, sig: new Uint8Array(SIG_BYTES) } as T))
  return { ...body, sig } as T
}

export function defaultTag (kind: TxKind): Uint8Array { return domainTag(`tx_${kind}`) }

/** A key epoch as 4 big-endian bytes, as HPKE infos and key derivations bind it. */
export function epochBytes (epoch: number): Uint8Array {
  return Uint8Array.of(epoch >>> 24, (epoch >>> 16) & 0xff, (epoch >>> 8) & 0xff, epoch & 0xff)
}
