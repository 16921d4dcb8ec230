/**
 * tx_release: an accounting node's release of its escrow shares to an
 * emergency doctor, on Docchain (paper §III-A accounting nodes, §IV-B2
 * ordering and audit; §IV-B5 key management — escrow.ts).
 *   {member, ts, htx_em, enc, [epoch, ct]…, Sig_member}
 *   ct    = HPKE-Seal(pk_D, share of Ik of that epoch)     (share-seal.ts)
 *   info  = "healthchain/emergency-release/v1\0" ‖ htx_em ‖ ID_U ‖ epoch ‖ member ‖ ID_D
 * One per member and committed request (a second is a replay, refused by
 * the registry's fold, core/pbft/registry.ts), naming exactly the request's
 * epochs, ascending. The member opens its escrow share of each epoch's
 * tx_key and reseals it to the doctor named by the request, whose X25519 key
 * is the one registered on Docchain; only that doctor opens it, and only
 * for that request (its id is in the info). With t releases the doctor
 * combines Ik of each requested epoch and nothing else: other epochs have
 * other Ik, and a rotation afterwards makes a fresh one.
 */
import type { Reader, Writer } from '../codec.ts'
import { concatBytes, equalBytes, toHex, utf8Bytes } from '../codec.ts'
import { HASH_BYTES, ID_BYTES, type Identity } from '../crypto.ts'
import { deriveKeyPair, N_ENC } from '../hpke.ts'
import { InvalidFieldError, LimitExceededError, ReleaseEpochsError, WrongReleaseMemberError } from '../errors.ts'
import { MAX_EPOCH, MAX_TIMESTAMP } from '../limits.ts'
import { openShare, sealShare } from '../share-seal.ts'
import { defaultTag, epochBytes, signBody, type TxCodec } from './common.ts'
import { ESCROW_CT_BYTES, ESCROW_SHARE_BYTES, escrowNames, openEscrowShare, type EscrowedKey } from './escrow.ts'
import { MAX_EMERGENCY_EPOCHS, type TxEmergency } from './emergency.ts'

export interface ReleasedShare {
  readonly epoch: number
  readonly ct: Uint8Array
}

export interface TxRelease {
  readonly kind: 'release'
  /** The accounting node releasing. */
  readonly member: Uint8Array
  readonly ts: number
  /** htx_em: the id of the committed emergency request. */
  readonly request: Uint8Array
  /** HPKE enc shared by the shares. */
  readonly enc: Uint8Array
  /** One per requested epoch, ascending. */
  readonly shares: readonly ReleasedShare[]
  readonly sig: Uint8Array
}

const INFO = utf8Bytes('healthchain/emergency-release/v1\0')
const NO_AAD = new Uint8Array(0)

function releaseInfo (request: Uint8Array, patient: Uint8Array, epoch: number, member: Uint8Array, doctor: Uint8Array): Uint8Array {
  return concatBytes(INFO, request, patient, epochBytes(epoch), member, doctor)
}

function checkShares (shares: readonly ReleasedShare[]): void {
  if (!Array.isArray(shares)) throw new InvalidFieldError('shares', 'must be an array')
  if (shares.length === 0) throw new InvalidFieldError('shares', 'a release carries at least one share')
  if (shares.length > MAX_EMERGENCY_EPOCHS) throw new LimitExceededError('shares', MAX_EMERGENCY_EPOCHS, shares.length)
  shares.forEach((s, i) => {
    if (i > 0 && s.epoch <= shares[i - 1]!.epoch) throw new InvalidFieldError(`shares[${i}].epoch`, 'epochs must be strictly ascending')
  })
}

export const txReleaseCodec: TxCodec<TxRelease> = {
  kind: 'release',
  tag: defaultTag('release'),
  writeBody (w: Writer, tx: TxRelease) {
    w.fixed('member', tx.member, ID_BYTES).varint('ts', tx.ts, MAX_TIMESTAMP).fixed('request', tx.request, HASH_BYTES).fixed('enc', tx.enc, N_ENC)
    checkShares(tx.shares)
    w.varint('shares', tx.shares.length, MAX_EMERGENCY_EPOCHS)
    tx.shares.forEach((s, i) => w.varint(`shares[${i}].epoch`, s.epoch, MAX_EPOCH).fixed(`shares[${i}].ct`, s.ct, ESCROW_CT_BYTES))
  },
  readBody (r: Reader) {
    const member = r.fixed('member', ID_BYTES)
    const ts = r.varint('ts', MAX_TIMESTAMP)
    const request = r.fixed('request', HASH_BYTES)
    const enc = r.fixed('enc', N_ENC)
    const n = r.varint('shares', MAX_EMERGENCY_EPOCHS)
    const shares: ReleasedShare[] = []
    for (let i = 0; i < n; i++) shares.push({ epoch: r.varint(`shares[${i}].epoch`, MAX_EPOCH), ct: r.fixed(`shares[${i}].ct`, ESCROW_CT_BYTES) })
    checkShares(shares)
    return { kind: 'release', member, ts, request, enc, shares }
  },
  signer: (tx) => tx.member
}

/** Whether the release names exactly the request's epochs (else the reason). */
export function releaseEpochsMismatch (tx: TxRelease, request: TxEmergency): string | null {
  const got = tx.shares.map((s) => s.epoch)
  if (got.length === request.epochs.length && got.every((e, i) => e === request.epochs[i])) return null
  return `the release carries epochs [${got.join(', ')}], the request names [${request.epochs.join(', ')}]`
}

/** The key transactions of a request's epochs, in its order (each must be the patient's, one per epoch). */
function keysOf (request: TxEmergency, keys: readonly EscrowedKey[]): EscrowedKey[] {
  return request.epochs.map((e) => {
    const k = keys.find((x) => x.epoch === e && equalBytes(x.user, request.patient))
    if (k === undefined) throw new InvalidFieldError('keys', `no tx_key of the patient's epoch ${e}`)
    return k
  })
}

/**
 * The member's step, once the request is committed: opens its escrow share
 * of each requested epoch (refused when an escrow names no share for it) and
 * reseals it to the doctor's registered X25519 key; ikmE ≥ 32 random bytes.
 */
export function buildTxRelease (member: Identity, f: { ts: number, request: TxEmergency, requestId: Uint8Array, keys: readonly EscrowedKey[], doctorX25519: Uint8Array, ikmE: Uint8Array }): TxRelease {
  const e = deriveKeyPair(f.ikmE)
  const shares = keysOf(f.request, f.keys).map((k) => {
    const plain = openEscrowShare(k, member)
    try {
      return { epoch: k.epoch, ct: sealShare(e, f.doctorX25519, releaseInfo(f.requestId, f.request.patient, k.epoch, member.id, f.request.doctor), NO_AAD, plain) }
    } finally { plain.fill(0) }
  })
  return signBody(txReleaseCodec, { kind: 'release', member: member.id, ts: f.ts, request: f.requestId, enc: e.publicKey, shares }, member.signing)
}

/**
 * The doctor's step: the shares of one (signature-checked, committed)
 * release of its request, by epoch. Refused when the release is for another
 * request or epochs, or comes from a member the epoch's escrow does not name.
 */
export function openRelease (tx: TxRelease, f: { request: TxEmergency, requestId: Uint8Array, keys: readonly EscrowedKey[], doctor: Identity }): Map<number, Uint8Array> {
  if (!equalBytes(tx.request, f.requestId)) throw new InvalidFieldError('request', `release for request ${toHex(tx.request).slice(0, 16)}…, not ${toHex(f.requestId).slice(0, 16)}…`)
  if (!equalBytes(f.request.doctor, f.doctor.id)) throw new InvalidFieldError('doctor', 'the request is another doctor\'s')
  const bad = releaseEpochsMismatch(tx, f.request)
  if (bad !== null) throw new ReleaseEpochsError(bad)
  const out = new Map<number, Uint8Array>()
  keysOf(f.request, f.keys).forEach((k, i) => {
    if (!escrowNames(k.escrow, tx.member)) throw new WrongReleaseMemberError(`accounting node ${toHex(tx.member).slice(0, 16)}… holds no escrow share of the patient's epoch ${k.epoch}: its share is not from a member the patient chose`)
    out.set(k.epoch, openShare(f.doctor.agreement, tx.enc, releaseInfo(tx.request, f.request.patient, k.epoch, tx.member, f.doctor.id), NO_AAD, tx.shares[i]!.ct, ESCROW_SHARE_BYTES))
  })
  return out
}
