/**
 * Login throttling (OWASP Authentication cheat sheet, "Protect against
 * automated attacks"): after `max` failed logins from one client within
 * `windowMs` further attempts are refused without checking the password
 * until the oldest failure leaves the window. A success clears the client's
 * record. Bounded memory: at most `maxClients` clients are tracked. Pure;
 * the clock is passed in.
 */

export interface RateLimitOptions {
  readonly max?: number
  readonly windowMs?: number
  readonly maxClients?: number
  readonly now?: () => number
}

export class LoginLimiter {
  readonly max: number
  readonly windowMs: number
  private readonly maxClients: number
  private readonly now: () => number
  private readonly failures = new Map<string, number[]>()

  constructor (opts: RateLimitOptions = {}) {
    this.max = opts.max ?? 5
    this.windowMs = opts.windowMs ?? 15 * 60_000
    this.maxClients = opts.maxClients ?? 10_000
    this.now = opts.now ?? Date.now
  }

  private recent (client: string): number[] {
    const t = this.now()
    const list = (this.failures.get(client) ?? []).filter((x) => t - x < this.windowMs)
    if (list.length === 0) this.failures.delete(client)
    else this.failures.set(client, list)
    return list
  }

  /** 0 when the client may try now, else the seconds until it may. */
  retryAfter (client: string): number {
    const list = this.recent(client)
    if (list.length < this.max) return 0
    return Math.max(1, Math.ceil((list[0]! + this.windowMs - this.now()) / 1000))
  }

  fail (client: string): void {
    const list = this.recent(client)
    list.push(this.now())
    this.failures.delete(client)
    this.failures.set(client, list)
    while (this.failures.size > this.maxClients) this.failures.delete(this.failures.keys().next().value!)
  }

  succeed (client: string): void { this.failures.delete(client) }
}
