/**
 * Is the hub's clock good enough to sign with? (README "A sane clock")
 *
 * The network's rule (core/pow.ts, store/ledger.ts): a Ublock's gtime must
 * be after the median time past (MTP) of its predecessors and at most
 * maxFutureDrift ahead of the validator's clock, and a transaction's ts at
 * most maxFutureDrift after its block's gtime and at most txMaxAge before
 * it. A Raspberry Pi has no real-time clock: booted without network time,
 * it signs transactions the network refuses, silently. So the hub compares
 * its clock with two witnesses it does not control:
 * - behind: the chain's MTP runs ahead of the clock by more than
 *   maxFutureDrift. Honest blocks are at most maxFutureDrift ahead of true
 *   time, so a right clock never trips this.
 * - ahead: Ublocks mined by others (not this hub's miner, whose gtimes
 *   follow this very clock): each tells true time was at least its gtime
 *   when it arrived, plus the time elapsed since on the monotonic clock
 *   (which a wall-clock jump does not move). The clock is ahead when it
 *   runs past the latest such estimate by more than maxFutureDrift plus ten
 *   block intervals (a block's gtime lags true time by its mining and
 *   propagation). A hub catching up after a long absence sees old blocks
 *   arrive; it may then find itself "ahead" until its tip is recent, and
 *   does not sign meanwhile — what it would sign on a stale chain is no
 *   better.
 * With no foreign Ublock seen yet, only the MTP check holds. The system's
 * own time sync (systemd-timesyncd's /run/systemd/timesync/synchronized)
 * is read, never changed, and shown beside the verdict.
 * While off, every signing path of the hub refuses (ClockOffError) and the
 * page and the log say why; once back in step, signing resumes.
 */
import { existsSync } from 'node:fs'
import { medianTimePast, type NetworkParams } from '../core/index.ts'
import { ClockOffError } from './errors.ts'

export interface ClockStatus {
  /** True when the hub may sign. */
  readonly ok: boolean
  /** Why not, in words for the page and the log. */
  readonly reason?: string
  /** The hub's clock minus the best estimate of the network's (seconds; null: no estimate yet). */
  readonly skewSeconds: number | null
  /** What the system's time sync says: synchronized, not, or unknown (no systemd-timesyncd). */
  readonly systemSynced: boolean | null
  /** The hub's clock (seconds since 1970). */
  readonly now: number
}

/** Foreign Ublocks kept for the "ahead" estimate. */
const KEEP = 11
const SYNC_DIR = '/run/systemd/timesync'

export class ClockCheck {
  private readonly seen: Array<{ readonly gtime: number, readonly mono: number }> = []
  private last: ClockStatus | null = null
  private readonly o: ClockCheckOptions
  constructor (o: ClockCheckOptions) { this.o = o }

  /** A Ublock connected to the best chain, `mine` when this hub's miner made it. */
  observe (gtime: number, mine: boolean): void {
    if (mine || this.seen.at(-1)?.gtime === gtime) return
    this.seen.push({ gtime, mono: this.o.mono() })
    if (this.seen.length > KEEP) this.seen.shift()
  }

  /** The verdict now; logs each change between in step and off. */
  check (): ClockStatus {
    const p = this.o.params
    const now = this.o.now()
    const times = this.o.recentTimes()
    const mtp = times.length === 0 ? null : medianTimePast(times.slice(-p.mtpWindow))
    const mono = this.o.mono()
    const est = this.seen.length === 0 ? null : Math.max(...this.seen.map((s) => s.gtime + (mono - s.mono) / 1000))
    const synced = this.o.systemSynced?.() ?? systemTimeSynced()
    const sys = synced === false ? ' The system says its time is not synchronized (timedatectl).' : ''
    let reason: string | undefined
    if (mtp !== null && now < mtp - p.maxFutureDrift) {
      reason = `the hub's clock (${iso(now)}) is ${span(mtp - now)} behind the Userchain's median time past (${iso(mtp)}); the network accepts ${p.maxFutureDrift} s of drift. Set the time (e.g. enable NTP: timedatectl set-ntp true).${sys}`
    } else if (est !== null && now - est > p.maxFutureDrift + 10 * p.blockSeconds) {
      reason = `the hub's clock (${iso(now)}) is ${span(now - est)} ahead of the time other miners' Ublocks show (${iso(Math.floor(est))}); the network accepts ${p.maxFutureDrift} s of drift (plus ${10 * p.blockSeconds} s for the Ublocks' own lag). Set the time (e.g. enable NTP: timedatectl set-ntp true).${sys}`
    }
    const skew = est !== null ? Math.round(now - est) : mtp !== null && now < mtp ? now - mtp : null
    const s: ClockStatus = { ok: reason === undefined, ...(reason === undefined ? {} : { reason }), skewSeconds: skew, systemSynced: synced, now }
    if (this.last !== null && this.last.ok !== s.ok) this.o.log(s.ok ? 'clock: back in step with the network: signing resumes' : `clock: refusing to sign: ${reason!}`)
    else if (this.last === null && !s.ok) this.o.log(`clock: refusing to sign: ${reason!}`)
    this.last = s
    this.o.onChange?.(s)
    return s
  }

  /** Throws ClockOffError (saying why) unless the clock is in step: called before the hub signs `what`. */
  assertCanSign (what: string): void {
    const s = this.check()
    if (!s.ok) throw new ClockOffError(what, s.reason!)
  }
}

export interface ClockCheckOptions {
  readonly params: Pick<NetworkParams, 'mtpWindow' | 'maxFutureDrift' | 'blockSeconds'>
  /** The hub's wall clock, seconds. */
  readonly now: () => number
  /** A monotonic clock, ms (performance.now). */
  readonly mono: () => number
  /** gtimes of the best chain's newest Ublocks, oldest first (empty: none known). */
  readonly recentTimes: () => readonly number[]
  readonly log: (line: string) => void
  /** The system's time sync (default: systemd-timesyncd's flag file). */
  readonly systemSynced?: () => boolean | null
  readonly onChange?: (s: ClockStatus) => void
}

/** systemd-timesyncd's verdict, read-only: its flag file exists once synchronized; no directory, no timesyncd (unknown). */
export function systemTimeSynced (): boolean | null {
  if (!existsSync(SYNC_DIR)) return null
  return existsSync(`${SYNC_DIR}/synchronized`)
}

const iso = (s: number): string => new Date(s * 1000).toISOString().replace('.000Z', 'Z')
function span (s: number): string {
  const a = Math.abs(Math.round(s))
  const min = Math.round(a / 60)
  return a >= 3600 ? `${Math.floor(min / 60)} h ${min % 60} min` : a >= 60 ? `${Math.floor(a / 60)} min ${a % 60} s` : `${a} s`
}
