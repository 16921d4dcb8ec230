/**
 * Sessions and CSRF tokens for the web pages (OWASP Session Management and
 * CSRF Prevention cheat sheets; RFC 6265bis SameSite). The cookie carries
 * only a random session ID and its HMAC-SHA256 under a random server
 * secret; it is HttpOnly, SameSite=Strict and Secure. A session ends after
 * an idle time and, however busy (the page refreshes itself every few
 * seconds), at an absolute lifetime from its login. Every session (also the
 * anonymous one the login form gets) holds a synchronizer token that each
 * state-changing POST must echo. Login replaces the session ID (no fixation).
 * State lives in memory: a restart logs everyone out. Pure logic; the clock
 * is passed in.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

export const COOKIE_NAME = 'hc_session'

export interface Flash { readonly kind: 'ok' | 'error', readonly text: string }

export interface Session {
  readonly id: string
  readonly csrf: string
  user?: string
  flash?: Flash
  readonly created: number
  lastSeen: number
}

export interface SessionOptions {
  readonly secret?: Uint8Array
  readonly now?: () => number
  /** Idle timeout in ms (default 2 h). */
  readonly idleMs?: number
  /** Absolute lifetime in ms from the session's creation (default 12 h). */
  readonly absoluteMs?: number
  /** Most sessions kept; the least recently seen go first (default 1000). */
  readonly max?: number
}

export class SessionStore {
  private readonly secret: Uint8Array
  private readonly now: () => number
  private readonly idleMs: number
  private readonly absoluteMs: number
  private readonly max: number
  /** Insertion order = least recently seen first. */
  private readonly sessions = new Map<string, Session>()

  constructor (opts: SessionOptions = {}) {
    this.secret = opts.secret ?? randomBytes(32)
    this.now = opts.now ?? Date.now
    this.idleMs = opts.idleMs ?? 2 * 3600_000
    this.absoluteMs = opts.absoluteMs ?? 12 * 3600_000
    this.max = opts.max ?? 1000
  }

  private sign (id: string): string { return createHmac('sha256', this.secret).update(id).digest('base64url') }

  cookieValue (s: Session): string { return `${s.id}.${this.sign(s.id)}` }

  create (user?: string): Session {
    const t = this.now()
    const s: Session = { id: randomBytes(24).toString('base64url'), csrf: randomBytes(24).toString('base64url'), created: t, lastSeen: t, ...(user === undefined ? {} : { user }) }
    this.sessions.set(s.id, s)
    if (this.sessions.size > this.max) this.evict()
    return s
  }

  /** Drops the least recently seen anonymous session (a flood of login-page visits cannot log anyone out), else the least recently seen. */
  private evict (): void {
    for (const [id, x] of this.sessions) {
      if (x.user === undefined) { this.sessions.delete(id); return }
    }
    this.sessions.delete(this.sessions.keys().next().value!)
  }

  /** The live session a cookie value names, or undefined (bad signature, unknown, expired). */
  fromCookie (value: string | undefined): Session | undefined {
    if (value === undefined) return undefined
    const dot = value.lastIndexOf('.')
    if (dot <= 0) return undefined
    const id = value.slice(0, dot)
    const sig = Buffer.from(value.slice(dot + 1))
    const want = Buffer.from(this.sign(id))
    if (sig.length !== want.length || !timingSafeEqual(sig, want)) return undefined
    const s = this.sessions.get(id)
    if (s === undefined) return undefined
    const t = this.now()
    if (t - s.lastSeen > this.idleMs || t - s.created > this.absoluteMs) { this.sessions.delete(id); return undefined }
    s.lastSeen = t
    this.sessions.delete(id)
    this.sessions.set(id, s)
    return s
  }

  destroy (s: Session): void { this.sessions.delete(s.id) }

  /** A logged-in session with a new ID and token, replacing `old`. */
  login (old: Session | undefined, user: string): Session {
    if (old !== undefined) this.destroy(old)
    return this.create(user)
  }

  get size (): number { return this.sessions.size }
}

/** Constant-time comparison of a submitted CSRF token with the session's. */
export function csrfMatches (s: Session, token: unknown): boolean {
  if (typeof token !== 'string') return false
  const a = Buffer.from(token)
  const b = Buffer.from(s.csrf)
  return a.length === b.length && timingSafeEqual(a, b)
}

/** Reads one cookie from a Cookie header (RFC 6265 §5.4). */
export function readCookie (header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq < 0) continue
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return undefined
}

export function sessionCookie (value: string, opts: { path: string, secure: boolean, clear?: boolean }): string {
  const attrs = [`${COOKIE_NAME}=${opts.clear === true ? '' : value}`, `Path=${opts.path}`, 'HttpOnly', 'SameSite=Strict']
  if (opts.secure) attrs.push('Secure')
  if (opts.clear === true) attrs.push('Max-Age=0')
  return attrs.join('; ')
}
