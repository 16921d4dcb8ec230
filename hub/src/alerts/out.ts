/**
 * Alerts out: every alert goes to every configured channel, each channel on
 * its own queue, so a dead one (broker down, SMTP refusing, webhook 500)
 * holds up neither the others nor the hub. A failed send is retried with
 * backoff (by default 1 s, 5 s, 30 s, 2 min, 10 min); after the last retry
 * the alert is given up on that channel. Every failure is counted and its
 * reason kept for the page and the status; nothing throws into the caller.
 */
import type { Alert } from './alert.ts'
import { AlertChannelOffError } from './errors.ts'
import type { ChannelName } from './settings.ts'

export interface Channel {
  readonly name: ChannelName
  /** Resolves once the channel took the alert (PUBACK, SMTP 250, HTTP 2xx); rejects with an AlertDeliveryError. */
  send: (a: Alert) => Promise<void>
  close: () => Promise<void>
}

export interface ChannelStats {
  readonly sent: number
  /** Failed attempts (each retry that failed counts). */
  readonly failed: number
  /** Alerts given up on after the last retry, or dropped because the queue was full. */
  readonly gaveUp: number
  readonly queued: number
  readonly lastError?: string
  readonly lastErrorAt?: number
  readonly lastSentAt?: number
}

export const DEFAULT_BACKOFF_MS: readonly number[] = [1000, 5000, 30_000, 120_000, 600_000]
/** Alerts waiting on one channel at most; beyond, the oldest is given up (a channel dead for days must not grow the hub's memory). */
const MAX_QUEUE = 200

interface Lane {
  readonly channel: Channel
  readonly queue: Alert[]
  stats: { sent: number, failed: number, gaveUp: number, lastError?: string, lastErrorAt?: number, lastSentAt?: number }
  busy: boolean
  timer?: NodeJS.Timeout
}

export class AlertsOut {
  private lanes = new Map<ChannelName, Lane>()
  private readonly backoff: readonly number[]
  private readonly log: (line: string) => void
  private readonly now: () => number
  private closed = false

  constructor (opts: { backoffMs?: readonly number[], log?: (line: string) => void, now?: () => number } = {}) {
    this.backoff = opts.backoffMs ?? DEFAULT_BACKOFF_MS
    this.log = opts.log ?? (() => {})
    this.now = opts.now ?? Date.now
  }

  /** Replaces the channels (new settings): the old ones are closed, their queues dropped, their counters kept per name. */
  async use (channels: readonly Channel[]): Promise<void> {
    const old = this.lanes
    this.lanes = new Map(channels.map((c) => [c.name, { channel: c, queue: [], stats: { ...(old.get(c.name)?.stats ?? { sent: 0, failed: 0, gaveUp: 0 }) }, busy: false }]))
    for (const l of old.values()) { clearTimeout(l.timer); await l.channel.close().catch(() => {}) }
  }

  get channels (): ChannelName[] { return [...this.lanes.keys()] }

  /** Queues `a` on every channel; returns at once. */
  raise (a: Alert): void {
    if (this.closed) return
    for (const l of this.lanes.values()) {
      l.queue.push(a)
      if (l.queue.length > MAX_QUEUE) { l.queue.shift(); l.stats.gaveUp++ }
      this.pump(l, 0)
    }
  }

  /** Sends `a` on one channel now, once, no retry (the page's test button): resolves when delivered, rejects with why not. */
  async test (name: ChannelName, a: Alert): Promise<void> {
    const l = this.lanes.get(name)
    if (l === undefined) throw new AlertChannelOffError(name)
    try {
      await l.channel.send(a)
      l.stats.sent++
      l.stats.lastSentAt = this.now()
    } catch (err) { this.failed(l, err as Error); throw err }
  }

  stats (): Partial<Record<ChannelName, ChannelStats>> {
    return Object.fromEntries([...this.lanes].map(([n, l]) => [n, { ...l.stats, queued: l.queue.length }]))
  }

  async close (): Promise<void> {
    this.closed = true
    await this.use([])
  }

  private failed (l: Lane, err: Error): void {
    l.stats.failed++
    l.stats.lastError = err.message
    l.stats.lastErrorAt = this.now()
  }

  /** Sends the lane's queue in order; a failure waits its backoff step, then retries the same alert. */
  private pump (l: Lane, attempt: number): void {
    if (l.busy || l.timer !== undefined || l.queue.length === 0 || this.lanes.get(l.channel.name) !== l) return
    l.busy = true
    const a = l.queue[0]!
    l.channel.send(a).then(() => {
      l.stats.sent++
      l.stats.lastSentAt = this.now()
      l.queue.shift()
      l.busy = false
      this.pump(l, 0)
    }, (err: Error) => {
      l.busy = false
      this.failed(l, err)
      if (attempt >= this.backoff.length) {
        l.queue.shift()
        l.stats.gaveUp++
        this.log(`alerts: ${l.channel.name}: gave up alert ${a.id} after ${attempt + 1} attempts: ${err.message}`)
        this.pump(l, 0)
        return
      }
      this.log(`alerts: ${l.channel.name}: ${err.message}; retry in ${this.backoff[attempt]! / 1000} s`)
      l.timer = setTimeout(() => { l.timer = undefined; this.pump(l, attempt + 1) }, this.backoff[attempt])
      l.timer.unref()
    })
  }
}
