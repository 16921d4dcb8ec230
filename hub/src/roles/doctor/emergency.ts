/**
 * The emergency doctor's side of emergency access (README "Emergency
 * access"; paper §III-A doctor node, §IV-B5 key management): it collects the
 * accounting nodes' releases of its committed request (core tx/release.ts),
 * each share opened with its own X25519 key, refuses a release from a member
 * the patient's escrow does not name or a second one from the same member,
 * and with t shares of an epoch combines its IoT key Ik (Shamir, with the
 * audited shamir-secret-sharing; no field arithmetic of our own), checked
 * against the C(Ik) of the patient's tx_key. It gets the Ik of the requested
 * epochs and nothing else: no dk, no other epoch, nothing of a later
 * rotation (a fresh Ik no release covers).
 */
import { combine } from 'shamir-secret-sharing'
import {
  equalBytes, ikCommitment, openRelease, ReplayedReleaseError, toHex, txId,
  type Identity, type TxEmergency, type TxKey, type TxRelease
} from '../../core/index.ts'
import { EscrowMismatchError, NotEnoughReleasesError } from './errors.ts'

export class EmergencyKeys {
  readonly doctor: Identity
  readonly request: TxEmergency
  readonly requestId: Uint8Array
  private readonly keys: readonly TxKey[]
  /** Per epoch: member (hex) → its share. */
  private readonly shares = new Map<number, Map<string, Uint8Array>>()

  /** `keys`: the patient's tx_keys of the requested epochs, from Userchain. */
  constructor (doctor: Identity, request: TxEmergency, keys: readonly TxKey[]) {
    this.doctor = doctor
    this.request = request
    this.requestId = txId(request)
    this.keys = keys
  }

  /** Opens one committed release of this request; throws why it is refused (another request, wrong member, replayed). */
  add (release: TxRelease): void {
    const member = toHex(release.member)
    for (const m of this.shares.values()) if (m.has(member)) throw new ReplayedReleaseError(member, toHex(this.requestId))
    const opened = openRelease(release, { request: this.request, requestId: this.requestId, keys: this.keys, doctor: this.doctor })
    for (const [epoch, share] of opened) {
      let m = this.shares.get(epoch)
      if (m === undefined) { m = new Map(); this.shares.set(epoch, m) }
      m.set(member, share)
    }
  }

  /** Releases opened so far (distinct members). */
  get released (): number { return this.members().length }

  /** The accounting nodes (hex IDs) whose releases were opened, in the order they came. */
  members (): string[] { return [...new Set([...this.shares.values()].flatMap((m) => [...m.keys()]))] }

  /** How many releases open an epoch (the escrow's t; the largest when the requested epochs differ), 0 without escrow. */
  get threshold (): number { return Math.max(0, ...this.keys.map((k) => k.escrow?.threshold ?? 0)) }

  /** Ik of each requested epoch; throws NotEnoughReleasesError below t, EscrowMismatchError when no t shares match C(Ik). */
  async open (): Promise<Map<number, Uint8Array>> {
    const out = new Map<number, Uint8Array>()
    for (const epoch of this.request.epochs) {
      const key = this.keys.find((k) => k.epoch === epoch && equalBytes(k.user, this.request.patient))!
      const t = key.escrow!.threshold
      const have = [...(this.shares.get(epoch)?.values() ?? [])]
      if (have.length < t) throw new NotEnoughReleasesError(epoch, have.length, t)
      const ik = await firstMatching(have, t, async (subset) => {
        const ik = await combine(subset)
        return equalBytes(ikCommitment(this.request.patient, ik), key.ikCommit!) ? ik : null
      })
      if (ik === null) throw new EscrowMismatchError(epoch)
      out.set(epoch, ik)
    }
    return out
  }
}

/** The first t-subset of `items` (in order) for which `f` answers something. */
async function firstMatching<T, R> (items: readonly T[], t: number, f: (subset: T[]) => Promise<R | null>): Promise<R | null> {
  const pick = async (from: number, chosen: T[]): Promise<R | null> => {
    if (chosen.length === t) return await f(chosen)
    for (let i = from; i <= items.length - (t - chosen.length); i++) {
      const r = await pick(i + 1, [...chosen, items[i]!])
      if (r !== null) return r
    }
    return null
  }
  return await pick(0, [])
}
