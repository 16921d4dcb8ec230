/**
 * The user's key epochs (paper §IV-B5 Key management, Alg. 3; §V-C forward
 * security). Every tx_key opens a new epoch number and names the full set of
 * doctors authorized from then on:
 * - grant(D): one more envelope; its scope says what D may read:
 *   `from-now` (the default) seals a fresh Ik and s, so D opens only what is
 *   sealed from its grant on; `history` keeps the current Ik and s, so D
 *   also opens what was sealed since the last fresh key (revocation,
 *   rotation, or a from-now grant) and no further — its tx_key says so in
 *   `ikFrom` (core tx/key.ts), which the accounting nodes and the doctor
 *   read through the same rule (grantCovering);
 * - revoke(D): a fresh Ik and s, envelopes only for the remaining doctors, so
 *   D cannot open anything sealed afterwards;
 * - rotate(): a fresh Ik and s for the same doctors (the paper's periodic
 *   update against offline attacks); rotationDue() says when.
 * Env_U seals Ik ‖ s to the user, so fromChain() rebuilds every epoch from
 * the user's tx_key history and the private key alone.
 * A patient who opted in to emergency access (option `escrow`) also splits
 * each epoch's Ik t-of-n among the accounting nodes (core tx/escrow.ts):
 * prepareEscrowed() does the split (shamir-secret-sharing, which is async).
 * Randomness and the clock are passed in.
 */
import { split } from 'shamir-secret-sharing'
import {
  buildTxKey, compareBytes, deriveDiagnosisKey, equalBytes, grantCovering, MAX_ENVELOPES, LimitExceededError, openAsUser,
  type DoctorKey, type EscrowMember, type EscrowSplit, type Identity, type TxKey
} from '../../core/index.ts'
import { AlreadyGrantedError, NotGrantedError, StaleEpochError, UnknownEpochError, UnregisteredDoctorError } from './errors.ts'

/** Where doctors' X25519 keys come from (the Docchain registry; DESIGN §4). */
export interface DoctorDirectory {
  lookup: (id: Uint8Array) => DoctorKey | undefined
}

export interface EpochKeys {
  readonly epoch: number
  readonly ts: number
  /** The first epoch sealed under this epoch's Ik (tx_key ikFrom). */
  readonly ikFrom: number
  /** False for a version-1 tx_key, which commits to no Ik: a later epoch cannot claim to extend its Ik. */
  readonly committed: boolean
  readonly ik: Uint8Array
  readonly epochSecret: Uint8Array
  /** Doctor IDs authorized in this epoch, sorted. */
  readonly doctors: readonly Uint8Array[]
}

/** What a granted doctor may read: from its grant on (a fresh Ik), or also since the last fresh Ik. */
export type GrantScope = 'from-now' | 'history'

/** One change of the doctor set (paper Alg. 3), as the next tx_key makes it. */
export type EpochChange =
  | { readonly kind: 'init' }
  | { readonly kind: 'grant', readonly doctor: Uint8Array, readonly scope?: GrantScope }
  | { readonly kind: 'revoke', readonly doctor: Uint8Array }
  | { readonly kind: 'rotate' }

export interface UserKeysOptions {
  readonly rng: (n: number) => Uint8Array
  readonly now: () => number
  readonly directory: DoctorDirectory
  /** Seconds between scheduled rotations (default 7 days). */
  readonly rotationSeconds?: number
  /**
   * Emergency access: the accounting nodes (their X25519 keys from the
   * Docchain registry) and t, asked at each prepareEscrowed(); null when the
   * patient has not opted in (or no accounting node is published).
   */
  readonly escrow?: () => EscrowPolicy | null
}

/** To whom an opted-in patient escrows each epoch's Ik: t of these accounting nodes open it. */
export interface EscrowPolicy {
  readonly threshold: number
  readonly members: readonly EscrowMember[]
}

/** The next epoch's keys: fresh, or kept from the current epoch. */
interface Material { readonly epoch: number, readonly ikFrom: number, readonly ik: Uint8Array, readonly epochSecret: Uint8Array }

export class UserKeys {
  readonly user: Identity
  private readonly opts: UserKeysOptions
  private readonly epochs = new Map<number, EpochKeys>()
  private latest: EpochKeys | null = null
  /** When the current Ik was created (grants keep it, so they keep this too). */
  private ikSince = 0

  constructor (user: Identity, opts: UserKeysOptions) {
    this.user = user
    this.opts = opts
  }

  /** Rebuilds all epochs from the user's tx_keys (any order) with the private key alone. */
  static fromChain (user: Identity, txKeys: readonly TxKey[], opts: UserKeysOptions): UserKeys {
    const k = new UserKeys(user, opts)
    for (const tx of [...txKeys].sort((a, b) => a.epoch - b.epoch)) k.apply(tx)
    return k
  }

  /** Records one of the user's own tx_keys (after it is built, or when read back from the chain). */
  apply (tx: TxKey): EpochKeys {
    const latest = this.latest?.epoch ?? 0
    if (tx.epoch <= latest) throw new StaleEpochError(tx.epoch, latest)
    const { ik, epochSecret } = openAsUser(tx, this.user)
    const e: EpochKeys = { epoch: tx.epoch, ts: tx.ts, ikFrom: tx.ikFrom, committed: tx.ikCommit !== null, ik, epochSecret, doctors: tx.envelopes.map((x) => x.doctor) }
    if (this.latest === null || !equalBytes(this.latest.ik, ik)) this.ikSince = tx.ts
    this.epochs.set(e.epoch, e)
    this.latest = e
    return e
  }

  get current (): EpochKeys | null { return this.latest }

  /**
   * Forgets the latest epoch when its tx_key never reached Userchain (the
   * node refused it), so the keys stay those the chain knows; a later
   * epoch number is then free again.
   */
  withdraw (epoch: number): void {
    if (this.latest?.epoch !== epoch) throw new StaleEpochError(epoch, this.latest?.epoch ?? 0)
    this.epochs.delete(epoch)
    const rest = this.history()
    this.latest = rest.at(-1) ?? null
    // the current Ik dates from the first epoch of its run
    let since = 0
    for (let i = rest.length - 1; i >= 0; i--) { since = rest[i]!.ts; if (i > 0 && !equalBytes(rest[i - 1]!.ik, rest[i]!.ik)) break }
    this.ikSince = since
  }

  /**
   * Zeroes every epoch's Ik and s and forgets them (a withdrawal of
   * consent, app/erasure.ts): nothing in this process opens the user's data
   * afterwards. The identity stays in the caller's hands.
   */
  destroy (): void {
    for (const e of this.epochs.values()) { e.ik.fill(0); e.epochSecret.fill(0) }
    this.epochs.clear()
    this.latest = null
  }

  epoch (n: number): EpochKeys {
    const e = this.epochs.get(n)
    if (e === undefined) throw new UnknownEpochError(n)
    return e
  }

  /** All epochs, oldest first. */
  history (): EpochKeys[] { return [...this.epochs.values()].sort((a, b) => a.epoch - b.epoch) }

  doctors (): readonly Uint8Array[] { return this.latest?.doctors ?? [] }

  /**
   * dk_ij a doctor seals a diagnosis of data of `epoch` with, as the doctor
   * got it from Env_ij: that of the tx_key through which it holds the
   * epoch's Ik (grantCovering — its own grant epoch for a `history` grant).
   */
  diagnosisKey (epoch: number, doctor: Uint8Array): Uint8Array {
    const g = grantCovering(doctor, epoch, this.epochs.values())
    if (g === null) throw new NotGrantedError(doctor, epoch)
    return deriveDiagnosisKey(this.epoch(g).epochSecret, this.user.id, g, doctor)
  }

  private resolve (ids: readonly Uint8Array[]): DoctorKey[] {
    return ids.map((id) => {
      const d = this.opts.directory.lookup(id)
      if (d === undefined) throw new UnregisteredDoctorError(id)
      return d
    })
  }

  /**
   * Builds the tx_key of the next epoch for `change` without recording it:
   * the caller applies it once the user's core node accepted it (the keys,
   * the page and the batches sealed next then never run ahead of Userchain).
   */
  prepare (change: EpochChange): TxKey {
    const { doctors, fresh } = this.plan(change)
    return this.build(doctors, fresh)
  }

  /**
   * prepare(), and for a patient who opted in to emergency access the
   * epoch's Ik split t-of-n among the accounting nodes (the escrow option),
   * each share sealed to one of them inside the tx_key.
   */
  async prepareEscrowed (change: EpochChange): Promise<TxKey> {
    const { doctors, fresh } = this.plan(change)
    const policy = this.opts.escrow?.() ?? null
    if (policy === null) return this.build(doctors, fresh)
    const m = this.material(fresh)
    const shares = await split(m.ik, policy.members.length, policy.threshold)
    try {
      return this.build(doctors, fresh, m, { threshold: policy.threshold, members: policy.members, shares, ikmE: this.opts.rng(32) })
    } finally { for (const x of shares) x.fill(0) }
  }

  /** The doctor set a change leads to, and whether it makes a fresh Ik. */
  private plan (change: EpochChange): { doctors: Uint8Array[], fresh: boolean } {
    switch (change.kind) {
      case 'init':
        if (this.latest !== null) throw new StaleEpochError(1, this.latest.epoch)
        return { doctors: [], fresh: true }
      case 'grant': {
        const current = this.doctors()
        if (current.some((d) => equalBytes(d, change.doctor))) throw new AlreadyGrantedError(change.doctor)
        return { doctors: [...current, change.doctor].sort(compareBytes), fresh: (change.scope ?? 'from-now') === 'from-now' }
      }
      case 'revoke': {
        const current = this.doctors()
        if (!current.some((d) => equalBytes(d, change.doctor))) throw new NotGrantedError(change.doctor)
        return { doctors: current.filter((d) => !equalBytes(d, change.doctor)), fresh: true }
      }
      case 'rotate':
        return { doctors: [...this.doctors()], fresh: true }
    }
  }

  private publish (doctorIds: readonly Uint8Array[], fresh: boolean): TxKey {
    const tx = this.build(doctorIds, fresh)
    this.apply(tx)
    return tx
  }

  private material (fresh: boolean): Material {
    const keep = !fresh && this.latest !== null
    const epoch = (this.latest?.epoch ?? 0) + 1
    return {
      epoch,
      // a kept Ik reaches back to where it was made (a version-1 epoch committed to none, so the claim starts here)
      ikFrom: keep && this.latest!.committed ? this.latest!.ikFrom : epoch,
      ik: keep ? this.latest!.ik : this.opts.rng(32),
      epochSecret: keep ? this.latest!.epochSecret : this.opts.rng(32)
    }
  }

  private build (doctorIds: readonly Uint8Array[], fresh: boolean, m: Material = this.material(fresh), escrow?: EscrowSplit): TxKey {
    if (doctorIds.length > MAX_ENVELOPES) throw new LimitExceededError('envelopes', MAX_ENVELOPES, doctorIds.length)
    const doctors = this.resolve(doctorIds)
    return buildTxKey(this.user, { ts: this.opts.now(), ...m, doctors, ikmE: this.opts.rng(32), ...(escrow === undefined ? {} : { escrow }) })
  }

  /** The first epoch, with no doctors yet (so the user can seal data right away). */
  init (): TxKey {
    if (this.latest !== null) throw new StaleEpochError(1, this.latest.epoch)
    return this.publish([], true)
  }

  grant (doctor: Uint8Array, scope: GrantScope = 'from-now'): TxKey {
    const tx = this.prepare({ kind: 'grant', doctor, scope })
    this.apply(tx)
    return tx
  }

  revoke (doctor: Uint8Array): TxKey {
    const current = this.doctors()
    if (!current.some((d) => equalBytes(d, doctor))) throw new NotGrantedError(doctor)
    return this.publish(current.filter((d) => !equalBytes(d, doctor)), true)
  }

  rotate (): TxKey { return this.publish(this.doctors(), true) }

  rotationDue (): boolean {
    if (this.latest === null) return true
    return this.opts.now() - this.ikSince >= this.rotationSeconds
  }

  /** When the current Ik was made and when rotationDue() turns true (seconds); null before the first tx_key. */
  renewal (): { readonly since: number, readonly due: number } | null {
    return this.latest === null ? null : { since: this.ikSince, due: this.ikSince + this.rotationSeconds }
  }

  private get rotationSeconds (): number { return this.opts.rotationSeconds ?? 7 * 24 * 3600 }
}

/**
 * Publishes a tx_key `keys` has just built (init, grant, revoke, rotate) and
 * keeps its epoch only if `publish` (the user's core node) accepted it: on a
 * refusal the epoch is withdrawn, so the keys, the page and the batches
 * sealed next stay with the epoch Userchain knows, and the error is rethrown.
 */
export async function publishEpoch<T> (keys: UserKeys, tx: TxKey, publish: (tx: TxKey) => T | Promise<T>): Promise<T> {
  try {
    return await publish(tx)
  } catch (err) {
    keys.withdraw(tx.epoch)
    throw err
  }
}
