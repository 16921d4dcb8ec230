/**
 * Login throttling (OWASP Authentication cheat sheet, "Protect against
 * automated attacks") with express-rate-limit, keyed twice: on the account
 * tried (`max` failures per window, wherever they come from: a botnet
 * guessing one password gains nothing from more addresses) and on the
 * client address (4 × `max`: one address cannot sweep many accounts).
 * A request is counted when it arrives, before the (slow) password check,
 * so a burst of parallel guesses cannot outrun the limit; a successful
 * login is taken back off both counts (skipSuccessfulRequests). Over either
 * limit a request is refused without checking the password. The store
 * (WindowStore) gives each key its own window from its first hit, on a
 * clock that tests can pass in, and keeps at most `maxKeys` keys.
 */
import type { Request, Response, RequestHandler } from 'express'
import { ipKeyGenerator, rateLimit, type ClientRateLimitInfo, type Options, type Store } from 'express-rate-limit'

export interface RateLimitOptions {
  /** failed logins per account per window (default 5); a client address gets 4 × this */
  readonly max?: number
  /** default 15 min */
  readonly windowMs?: number
  /** keys tracked at most per limiter (default 10,000; the oldest go first) */
  readonly maxKeys?: number
  readonly now?: () => number
}

/** An express-rate-limit store: a fixed window per key starting at its first hit. */
export class WindowStore implements Store {
  readonly localKeys = true
  #windowMs = 60_000
  readonly #now: () => number
  readonly #maxKeys: number
  readonly #hits = new Map<string, { n: number, reset: number }>()

  constructor (opts: { now?: () => number, maxKeys?: number } = {}) {
    this.#now = opts.now ?? Date.now
    this.#maxKeys = opts.maxKeys ?? 10_000
  }

  init (options: Options): void { this.#windowMs = options.windowMs }

  #live (key: string): { n: number, reset: number } | undefined {
    const e = this.#hits.get(key)
    if (e !== undefined && e.reset <= this.#now()) { this.#hits.delete(key); return undefined }
    return e
  }

  /** the reset time on the wall clock, which express-rate-limit compares with Date.now() */
  #resetTime (e: { reset: number }): Date { return new Date(Date.now() + e.reset - this.#now()) }

  async get (key: string): Promise<ClientRateLimitInfo | undefined> {
    const e = this.#live(key)
    return e === undefined ? undefined : { totalHits: e.n, resetTime: this.#resetTime(e) }
  }

  async increment (key: string): Promise<ClientRateLimitInfo> {
    let e = this.#live(key)
    if (e === undefined) {
      e = { n: 0, reset: this.#now() + this.#windowMs }
      this.#hits.set(key, e)
      if (this.#hits.size > this.#maxKeys) this.#hits.delete(this.#hits.keys().next().value!)
    }
    e.n++
    return { totalHits: e.n, resetTime: this.#resetTime(e) }
  }

  async decrement (key: string): Promise<void> {
    const e = this.#live(key)
    if (e !== undefined && e.n > 0) e.n--
  }

  async resetKey (key: string): Promise<void> { this.#hits.delete(key) }
}

/** How a refused login is answered: `wait` is the seconds until the caller may try again. */
export type LimitedHandler = (req: Request, res: Response, wait: number) => void

function clientKey (req: Request): string {
  return `ip:${ipKeyGenerator(req.ip ?? req.socket.remoteAddress ?? 'unknown')}`
}

export interface LoginLimiters {
  /** the client-address limiter, then the account limiter */
  readonly middleware: RequestHandler[]
  /** a login succeeded: the client's and the account's earlier failures are forgiven */
  readonly succeeded: (req: Request) => void
}

/** The two login limiters (client address, then account). */
export function loginLimiters (account: (req: Request) => string, opts: RateLimitOptions = {}, limited?: LimitedHandler): LoginLimiters {
  const max = opts.max ?? 5
  const windowMs = opts.windowMs ?? 15 * 60_000
  const handler = (req: Request, res: Response): void => {
    const reset = (req as Request & { rateLimit?: { resetTime?: Date } }).rateLimit?.resetTime
    const wait = Math.max(1, Math.ceil(((reset?.getTime() ?? Date.now() + windowMs) - Date.now()) / 1000))
    res.set('Retry-After', String(wait))
    if (limited !== undefined) { limited(req, res, wait); return }
    res.status(429).type('text').send(`Too many failed logins: try again in ${wait} s.`)
  }
  const common = { windowMs, skipSuccessfulRequests: true, standardHeaders: false, legacyHeaders: false, handler, validate: { trustProxy: false, xForwardedForHeader: false } } as const
  const accountKey = (req: Request): string => `acct:${account(req).slice(0, 128)}`
  const byClient = rateLimit({ ...common, store: new WindowStore(opts), limit: 4 * max, keyGenerator: clientKey })
  const byAccount = rateLimit({ ...common, store: new WindowStore(opts), limit: max, keyGenerator: accountKey })
  return {
    middleware: [byClient, byAccount],
    succeeded: (req) => { void byClient.resetKey(clientKey(req)); void byAccount.resetKey(accountKey(req)) }
  }
}

/** The user name of an HTTP Basic Authorization header (RFC 7617), or '' without one. */
export function basicUser (req: Request): string {
  const h = req.headers.authorization
  if (typeof h !== 'string' || !h.startsWith('Basic ')) return ''
  const text = Buffer.from(h.slice(6), 'base64').toString('utf8')
  const colon = text.indexOf(':')
  return colon < 0 ? text : text.slice(0, colon)
}
