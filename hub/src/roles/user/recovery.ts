/**
 * m-of-n recovery of the patient's identity (beyond the paper: §IV-B5 lets
 * the user rebuild every epoch from Userchain — "the user can obtain the IoT
 * key … by searching the key transaction" — but only while it holds its
 * private key). The patient splits the identity seed with Shamir's scheme
 * (shamir-secret-sharing, audited; no field arithmetic of our own) among n
 * guardians' identity records; a new hub collects m recovery shares,
 * combines them and checks that the seed is the patient's identity before
 * anything is written. The envelopes and their binding checks are pure
 * (core/recovery); this module adds the split and the collection rules.
 */
import { combine, split } from 'shamir-secret-sharing'
import {
  buildShareSet, equalBytes, identityFromSeed, openRecoveryShare, sealGuardianShare, SEED_BYTES, SET_ID_BYTES, shareCommitment,
  checkBytes, type GuardianShare, type Identity, type IdentityRecord, type RecoveryShare, type ShareSet
} from '../../core/index.ts'
import { NotEnoughSharesError, RecoveredIdentityMismatchError, ReplayedShareError, WrongPatientError, WrongShareSetError } from './errors.ts'

export interface SplitOptions {
  /** m: shares needed to recover. */
  readonly threshold: number
  readonly rng: (n: number) => Uint8Array
  readonly now: () => number
}

/** Splits `seed` (the patient's) among `guardians`: share i sealed to guardians[i - 1]. The set is signed by the patient. */
export async function splitIdentity (seed: Uint8Array, guardians: readonly IdentityRecord[], o: SplitOptions): Promise<{ readonly set: ShareSet, readonly shares: GuardianShare[] }> {
  checkBytes('seed', seed, SEED_BYTES)
  const patient = identityFromSeed(seed)
  const setId = o.rng(SET_ID_BYTES)
  // the library checks 2 ≤ m ≤ n ≤ 255; buildShareSet checks the set's own limits with named fields first
  const shape = { setId, threshold: o.threshold, ts: o.now(), guardians: guardians.map((g) => ({ id: g.id, x25519: g.x25519, commitment: new Uint8Array(32) })) }
  buildShareSet(patient, shape)
  const raw = await split(seed, guardians.length, o.threshold)
  const set = buildShareSet(patient, { ...shape, guardians: guardians.map((g, i) => ({ id: g.id, x25519: g.x25519, commitment: shareCommitment(setId, i + 1, raw[i]!) })) })
  const shares = raw.map((s, i) => sealGuardianShare(set, i + 1, s, o.rng(32)))
  for (const s of raw) s.fill(0)
  return { set, shares }
}

/**
 * The shares one recovery session collects: all for `patient`, all of one
 * set, each index once. combine() refuses below the threshold and checks
 * the combined seed against the patient's ID.
 */
export class ShareCollector {
  private readonly session: Identity
  readonly patient: Uint8Array
  private set: ShareSet | null = null
  private readonly shares = new Map<number, Uint8Array>()

  constructor (session: Identity, patient: Uint8Array) {
    this.session = session
    this.patient = patient
  }

  /** Checks and keeps one recovery share; throws the reason it is refused. */
  add (s: RecoveryShare): { readonly index: number, readonly have: number, readonly need: number } {
    if (!equalBytes(s.set.patient, this.patient)) throw new WrongPatientError(s.set.patient, this.patient)
    if (this.set !== null && !equalBytes(s.set.setId, this.set.setId)) throw new WrongShareSetError(s.set.setId, this.set.setId)
    if (this.shares.has(s.index)) throw new ReplayedShareError(s.index)
    const share = openRecoveryShare(this.session, s)
    this.set ??= s.set
    this.shares.set(s.index, share)
    return { index: s.index, have: this.shares.size, need: s.set.threshold }
  }

  /** The set the collected shares are of (null before the first). */
  get shareSet (): ShareSet | null { return this.set }
  get have (): number { return this.shares.size }
  get need (): number | null { return this.set?.threshold ?? null }
  get ready (): boolean { return this.set !== null && this.shares.size >= this.set.threshold }

  /** The patient's seed, rebuilt from the collected shares. */
  async combine (): Promise<Uint8Array> {
    if (this.set === null || !this.ready) throw new NotEnoughSharesError(this.shares.size, this.set?.threshold ?? 2)
    const seed = await combine([...this.shares.values()])
    const id = identityFromSeed(seed).id
    if (!equalBytes(id, this.patient)) { seed.fill(0); throw new RecoveredIdentityMismatchError(id, this.patient) }
    return seed
  }
}
