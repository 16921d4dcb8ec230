/**
 * Identity record (DESIGN §4): binds an Ed25519 ID to the X25519 key that
 * opens its HPKE envelopes, signed by the ID itself. Doctors are registered
 * on Docchain with one; users publish theirs on Userchain. Without the
 * binding, anyone could hand a user a key of their own for a doctor's ID.
 */
import { Reader, Writer } from './codec.ts'
import { assertSignature, domainTag, ID_BYTES, SIG_BYTES, sign, type Identity } from './crypto.ts'
import { UnknownVersionError } from './errors.ts'
import { MAX_TIMESTAMP } from './limits.ts'
import { signingMessage } from './tx/common.ts'

export const IDENTITY_VERSION = 1
const TAG = domainTag('identity')

export interface IdentityRecord {
  readonly id: Uint8Array
  readonly x25519: Uint8Array
  readonly ts: number
  readonly sig: Uint8Array
}

function unsigned (r: Omit<IdentityRecord, 'sig'>): Uint8Array {
  return new Writer(80).u8('version', IDENTITY_VERSION).fixed('id', r.id, ID_BYTES)
    .fixed('x25519', r.x25519, 32).varint('ts', r.ts, MAX_TIMESTAMP).finish()
}

export function buildIdentityRecord (who: Identity, ts: number): IdentityRecord {
  const body = { id: who.id, x25519: who.agreement.publicKey, ts }
  return { ...body, sig: sign(who.signing, signingMessage(TAG, unsigned(body))) }
}

export function encodeIdentityRecord (r: IdentityRecord): Uint8Array {
  const u = unsigned(r)
  return new Writer(u.length + SIG_BYTES).fixed('body', u, u.length).fixed('sig', r.sig, SIG_BYTES).finish()
}

/** Strict decode and signature check: a record that decodes is authentic. */
export function decodeIdentityRecord (bytes: Uint8Array): IdentityRecord {
  const r = new Reader(bytes)
  const v = r.u8('version')
  if (v !== IDENTITY_VERSION) throw new UnknownVersionError('version', v)
  const rec = { id: r.fixed('id', ID_BYTES), x25519: r.fixed('x25519', 32), ts: r.varint('ts', MAX_TIMESTAMP), sig: r.fixed('sig', SIG_BYTES) }
  r.end('identity')
  assertSignature('sig', rec.id, signingMessage(TAG, unsigned(rec)), rec.sig)
  return rec
}
