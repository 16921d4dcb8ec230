/**
 * Emergency escrow of a key epoch, carried inside the tx_key (paper §IV-B1
 * Eq. 2, §IV-B5 key management; roles of §III-A). The paper's user is the
 * only one who can hand out an epoch's IoT key Ik: a patient unconscious in
 * an emergency room cannot. A patient who opts in therefore also splits Ik
 * t-of-n with Shamir's scheme (the split itself, which draws its own
 * randomness, is done outside the pure core by shamir-secret-sharing) and
 * seals share i to accounting node i's X25519 key, published in its
 * identity record in the Docchain registry:
 *   escrow   = {t, enc, [member_i, ct_i]…}   members strictly ascending by ID
 *   ct_i     = HPKE-Seal(pk_member_i, share_i)   (share-seal.ts; one enc for all)
 *   info     = "healthchain/escrow/v1\0" ‖ ID_U ‖ epoch ‖ t ‖ n ‖ member_i
 *   aad      = C(Ik), the tx_key's commitment to Ik
 * Fewer than t members learn nothing of Ik (Shamir), so the accounting
 * nodes — PBFT tolerates f < n/3 faulty ones, and t > f — cannot open a
 * patient's data by themselves; t of them release their shares to an
 * emergency doctor only once its request is committed on Docchain, where it
 * is audited (emergency.ts, release.ts). The doctor checks the Ik it
 * combines against C(Ik). The escrow has its own ephemeral key (enc), not
 * the envelopes': a first tx_key's stamp is ground through the envelopes'
 * HPKE seed (roles/user/stamp.ts) and keeps the escrow as it is.
 */
import type { Reader, Writer } from '../codec.ts'
import { compareBytes, concatBytes, equalBytes, toHex, utf8Bytes } from '../codec.ts'
import { AES_KEY_BYTES, ID_BYTES, type Identity } from '../crypto.ts'
import { deriveKeyPair, N_ENC } from '../hpke.ts'
import { InvalidFieldError, LimitExceededError, NotEscrowMemberError } from '../errors.ts'
import { openShare, sealedShareBytes, sealShare } from '../share-seal.ts'
import { epochBytes } from './common.ts'

/** A Shamir share of Ik: its 32 y-bytes and the x coordinate (shamir-secret-sharing layout). */
export const ESCROW_SHARE_BYTES = AES_KEY_BYTES + 1
export const ESCROW_CT_BYTES = sealedShareBytes(ESCROW_SHARE_BYTES)
/** Most accounting nodes one escrow names (the consortium of §VI is 4–16 nodes). */
export const MAX_ESCROW_MEMBERS = 32

export interface EscrowShare {
  /** The accounting node's ID. */
  readonly member: Uint8Array
  readonly ct: Uint8Array
}

export interface Escrow {
  /** t: shares that open Ik. */
  readonly threshold: number
  /** HPKE enc shared by the shares. */
  readonly enc: Uint8Array
  /** Sorted by member ID. */
  readonly shares: readonly EscrowShare[]
}

const INFO = utf8Bytes('healthchain/escrow/v1\0')

/** HPKE info of one escrow share. */
function escrowInfo (user: Uint8Array, epoch: number, threshold: number, n: number, member: Uint8Array): Uint8Array {
  return concatBytes(INFO, user, epochBytes(epoch), Uint8Array.of(threshold, n), member)
}

export function checkEscrow (e: Escrow): void {
  if (!Array.isArray(e.shares)) throw new InvalidFieldError('escrow.shares', 'must be an array')
  const n = e.shares.length
  if (n > MAX_ESCROW_MEMBERS) throw new LimitExceededError('escrow.shares', MAX_ESCROW_MEMBERS, n)
  if (n < 2) throw new InvalidFieldError('escrow.shares', 'an escrow needs at least 2 accounting nodes')
  if (!Number.isInteger(e.threshold) || e.threshold < 2 || e.threshold > n) throw new InvalidFieldError('escrow.threshold', `must be between 2 and the number of shares (${n}), got ${String(e.threshold)}`)
  for (let i = 1; i < n; i++) {
    const c = compareBytes(e.shares[i - 1]!.member, e.shares[i]!.member)
    if (c === 0) throw new InvalidFieldError(`escrow.shares[${i}].member`, 'member named twice')
    if (c > 0) throw new InvalidFieldError(`escrow.shares[${i}].member`, 'shares must be sorted by member ID')
  }
}

export function writeEscrow (w: Writer, e: Escrow): void {
  checkEscrow(e)
  w.u8('escrow.threshold', e.threshold).fixed('escrow.enc', e.enc, N_ENC).u8('escrow.shares', e.shares.length)
  e.shares.forEach((s, i) => { w.fixed(`escrow.shares[${i}].member`, s.member, ID_BYTES).fixed(`escrow.shares[${i}].ct`, s.ct, ESCROW_CT_BYTES) })
}

export function readEscrow (r: Reader): Escrow {
  const threshold = r.u8('escrow.threshold')
  const enc = r.fixed('escrow.enc', N_ENC)
  const n = r.u8('escrow.shares')
  if (n > MAX_ESCROW_MEMBERS) throw new LimitExceededError('escrow.shares', MAX_ESCROW_MEMBERS, n)
  const shares: EscrowShare[] = []
  for (let i = 0; i < n; i++) shares.push({ member: r.fixed(`escrow.shares[${i}].member`, ID_BYTES), ct: r.fixed(`escrow.shares[${i}].ct`, ESCROW_CT_BYTES) })
  const e = { threshold, enc, shares }
  checkEscrow(e)
  return e
}

/** An accounting node's X25519 key, from its identity record in the Docchain registry. */
export interface EscrowMember { readonly id: Uint8Array, readonly x25519: Uint8Array }

/** What the user's side hands buildTxKey: the members and, in the same order, the Shamir shares of Ik. */
export interface EscrowSplit {
  readonly threshold: number
  readonly members: readonly EscrowMember[]
  readonly shares: readonly Uint8Array[]
  /** ≥ 32 random bytes for the escrow's HPKE ephemeral key. */
  readonly ikmE: Uint8Array
}

/** Seals share i to member i; the escrow comes out sorted by member. */
export function sealEscrow (user: Uint8Array, epoch: number, ikCommit: Uint8Array, split: EscrowSplit): Escrow {
  const e = deriveKeyPair(split.ikmE)
  if (!Array.isArray(split.members) || !Array.isArray(split.shares) || split.members.length !== split.shares.length) {
    throw new InvalidFieldError('escrow.shares', 'one share per member')
  }
  const n = split.members.length
  if (n > MAX_ESCROW_MEMBERS) throw new LimitExceededError('escrow.shares', MAX_ESCROW_MEMBERS, n)
  const shares = split.members.map((m, i) => {
    if (!(m.id instanceof Uint8Array) || m.id.length !== ID_BYTES) throw new InvalidFieldError(`escrow.members[${i}].id`, `must be ${ID_BYTES} bytes`)
    if (split.shares[i]!.length !== ESCROW_SHARE_BYTES) throw new InvalidFieldError(`escrow.shares[${i}]`, `must be ${ESCROW_SHARE_BYTES} bytes`)
    return { member: m.id, ct: sealShare(e, m.x25519, escrowInfo(user, epoch, split.threshold, n, m.id), ikCommit, split.shares[i]!) }
  }).sort((a, b) => compareBytes(a.member, b.member))
  const escrow = { threshold: split.threshold, enc: e.publicKey, shares }
  checkEscrow(escrow)
  return escrow
}

/** The tx_key fields an escrow share is bound to. */
export interface EscrowedKey {
  readonly user: Uint8Array
  readonly epoch: number
  readonly ikCommit: Uint8Array | null
  readonly escrow?: Escrow | null
}

/** Opens the escrow share of `member` (an accounting node): refused when the escrow names no share for it. */
export function openEscrowShare (tx: EscrowedKey, member: Identity): Uint8Array {
  const escrow = tx.escrow ?? null
  const i = escrow?.shares.findIndex((s) => equalBytes(s.member, member.id)) ?? -1
  if (escrow === null || i < 0 || tx.ikCommit === null) throw new NotEscrowMemberError(toHex(member.id), toHex(tx.user), tx.epoch)
  return openShare(member.agreement, escrow.enc, escrowInfo(tx.user, tx.epoch, escrow.threshold, escrow.shares.length, member.id), tx.ikCommit, escrow.shares[i]!.ct, ESCROW_SHARE_BYTES)
}

/** Whether the escrow names `member`. */
export function escrowNames (escrow: Escrow | null | undefined, member: Uint8Array): boolean {
  return escrow?.shares.some((s) => equalBytes(s.member, member)) ?? false
}

