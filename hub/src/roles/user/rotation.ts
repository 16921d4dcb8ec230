/**
 * Scheduled IoT-key rotation (paper §IV-B5: the user updates Ik and s
 * periodically, so a key stolen offline opens only one period's data). Every
 * `checkEveryMs` it asks UserKeys whether a rotation is due and, if so,
 * publishes the fresh tx_key through the same path as grants and revokes
 * (`publish`: submitted to the user's core node, which gossips it); one
 * rotation at a time. The hub runs it with `keyRotationDays` from its
 * config, the devnet with a 10-minute period.
 */
import type { TxKey } from '../../core/index.ts'
import { publishEpoch, type UserKeys } from './keys.ts'

export interface Timers {
  setInterval: (fn: () => void, ms: number) => unknown
  clearInterval: (handle: unknown) => void
}

export interface RotationOptions {
  readonly keys: UserKeys
  /** Submits the tx_key; rejects when the node refuses it. */
  readonly publish?: (tx: TxKey) => Promise<void>
  /** Commits a rotation through the epoch committer (commit.ts: applied only once the node accepted it); used instead of publish when given. */
  readonly commit?: () => Promise<{ readonly epoch: number }>
  readonly checkEveryMs: number
  readonly log?: (line: string) => void
  /** The timer functions (default: the global ones; tests pass their own). */
  readonly timers?: Timers
}

export interface RotationSchedule {
  /** Rotates now if a rotation is due and none is in flight; resolves true when one was published. */
  check: () => Promise<boolean>
  stop: () => void
}

export function scheduleRotation (o: RotationOptions): RotationSchedule {
  const timers: Timers = o.timers ?? { setInterval: (fn, ms) => setInterval(fn, ms), clearInterval: (h) => { clearInterval(h as NodeJS.Timeout) } }
  const log = o.log ?? (() => {})
  let inFlight = false
  let stopped = false
  const check = async (): Promise<boolean> => {
    if (stopped || inFlight || !o.keys.rotationDue()) return false
    inFlight = true
    try {
      const epoch = o.commit !== undefined ? (await o.commit()).epoch : await (async () => { const tx = o.keys.rotate(); await publishEpoch(o.keys, tx, o.publish ?? (async () => {})); return tx.epoch })()
      log(`renewed the IoT key (epoch ${epoch})`)
      return true
    } catch (err) {
      // the node refused it: publishEpoch left the keys those on Userchain, and the next check tries again
      log(`key rotation refused: ${(err as Error).message}`)
      return false
    } finally { inFlight = false }
  }
  const handle = timers.setInterval(() => { void check() }, o.checkEveryMs)
  ;(handle as { unref?: () => void }).unref?.()
  return { check, stop: () => { stopped = true; timers.clearInterval(handle) } }
}
