/**
 * RFC 8410 §7 and §4 key encodings, the way node:crypto takes and gives
 * Ed25519 and X25519 keys: the raw 32-byte key behind a fixed DER prefix
 * (PKCS#8 for a private key, SPKI for a public one). Used by ./ed25519.ts
 * and the X25519 agreement in ./crypto.ts.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto'
import { concatBytes } from './codec.ts'

export type Rfc8410Curve = 'ed25519' | 'x25519'

// The last OID byte: id-Ed25519 1.3.101.112, id-X25519 1.3.101.110 (RFC 8410 §3).
const OID_LAST: Record<Rfc8410Curve, number> = { ed25519: 0x70, x25519: 0x6e }

function pkcs8 (curve: Rfc8410Curve): Uint8Array {
  return Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, OID_LAST[curve], 0x04, 0x22, 0x04, 0x20])
}

function spki (curve: Rfc8410Curve): Uint8Array {
  return Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, OID_LAST[curve], 0x03, 0x21, 0x00])
}

const PKCS8 = { ed25519: pkcs8('ed25519'), x25519: pkcs8('x25519') }
const SPKI = { ed25519: spki('ed25519'), x25519: spki('x25519') }

/** node:crypto's key object of a raw 32-byte private key (throws on a bad key). */
export function privateKeyObject (curve: Rfc8410Curve, raw: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.from(concatBytes(PKCS8[curve], raw)), format: 'der', type: 'pkcs8' })
}

/** node:crypto's key object of a raw 32-byte public key (throws on a bad key). */
export function publicKeyObject (curve: Rfc8410Curve, raw: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.from(concatBytes(SPKI[curve], raw)), format: 'der', type: 'spki' })
}

/** The raw 32-byte public key of a private or public key object. */
export function rawPublicKey (key: KeyObject): Uint8Array {
  const der = createPublicKey(key).export({ type: 'spki', format: 'der' })
  return new Uint8Array(der.subarray(der.length - 32))
}
