/**
 * Application-level peer scores (paper §IV-B2: nodes verify what they
 * receive; DESIGN §6: "peers that send invalid data are scored down").
 *
 * Every misbehaviour seen above gossip (an invalid block or transaction,
 * a forged proof, a broken response, a rate-limit breach) costs points. The
 * score feeds gossipsub's P5 application-specific score, so the router
 * prunes the peer from its mesh and stops gossiping with it; at
 * `banScore` the peer is banned: hung up and refused by the connection
 * gater until the ban expires — and so is the IP address it was last seen
 * at, since peer IDs cost nothing to make (loopback is exempt by default:
 * a devnet and the tests run every node on 127.0.0.1). The book forgets: a
 * peer not penalised for `forgetMs` goes back to a clean slate, expired
 * bans are dropped, and at most `maxPeers` are remembered. Pure
 * bookkeeping (the clock is injected); the node wires the I/O.
 */
import type { Multiaddr } from '@multiformats/multiaddr'

export interface PenaltyRecord { readonly at: number, readonly points: number, readonly reason: string }

export interface PeerBookOptions {
  /** Score at or below which a peer is banned (default -100). */
  readonly banScore?: number
  /** How long a ban lasts, ms (default 10 min). */
  readonly banMs?: number
  /** Clock in ms (tests pass their own). */
  readonly now?: () => number
  /** Never ban a loopback address (peer IDs on it still are); default true. */
  readonly exemptLoopback?: boolean
  /** A peer neither penalised nor seen for this long is forgotten, ms (default 1 h). */
  readonly forgetMs?: number
  /** Peers remembered at most (default 10,000; the least recently active go first, bans last). */
  readonly maxPeers?: number
}

interface Entry { score: number, log: PenaltyRecord[], at: number, ip?: string }

export class PeerBook {
  readonly banScore: number
  readonly banMs: number
  private readonly now: () => number
  readonly exemptLoopback: boolean
  readonly forgetMs: number
  readonly maxPeers: number
  /** Per peer, in order of last activity (penalty or address noted). */
  private readonly entries = new Map<string, Entry>()
  private readonly banned = new Map<string, number>()
  private readonly bannedIps = new Map<string, number>()
  private sweptAt = 0
  /** Peers kept apart on purpose (operator block list, test partitions): refused until unblocked. */
  private readonly blocked = new Set<string>()
  /** Called when a peer crosses the ban score (the node hangs up on it). */
  onBan: ((peer: string, reason: string) => void) | undefined

  constructor (opts: PeerBookOptions = {}) {
    this.banScore = opts.banScore ?? -100
    this.banMs = opts.banMs ?? 10 * 60_000
    this.now = opts.now ?? Date.now
    this.exemptLoopback = opts.exemptLoopback ?? true
    this.forgetMs = opts.forgetMs ?? 60 * 60_000
    this.maxPeers = opts.maxPeers ?? 10_000
  }

  score (peer: string): number { return this.entries.get(peer)?.score ?? 0 }
  penalties (peer: string): readonly PenaltyRecord[] { return this.entries.get(peer)?.log ?? [] }
  /** Peers remembered now (scores, logs and addresses). */
  get size (): number { return this.entries.size }
  /** Bans in force now: peers, and IP addresses refused with them. */
  bans (): { readonly peers: number, readonly addresses: number } {
    const now = this.now()
    let peers = 0
    let addresses = 0
    for (const until of this.banned.values()) if (until > now) peers++
    for (const until of this.bannedIps.values()) if (until > now) addresses++
    return { peers, addresses }
  }

  /** The entry of `peer`, made the most recently active. */
  private touch (peer: string): Entry {
    const now = this.now()
    const e = this.entries.get(peer) ?? { score: 0, log: [], at: now }
    e.at = now
    this.entries.delete(peer)
    this.entries.set(peer, e)
    this.sweep()
    return e
  }

  /** A connection with `peer` from or to `ip` (the address it is banned by, if it comes to that). */
  noteAddress (peer: string, ip: string | undefined): void {
    if (ip === undefined) return
    this.touch(peer).ip = ip
  }

  /** Costs `points` (> 0) for `reason`; returns true when this bans the peer. */
  penalise (peer: string, points: number, reason: string): boolean {
    const e = this.touch(peer)
    e.score -= Math.abs(points)
    e.log.push({ at: this.now(), points: Math.abs(points), reason })
    if (e.log.length > 32) e.log.shift()
    if (e.score <= this.banScore && !this.isBanned(peer)) {
      const until = this.now() + this.banMs
      this.banned.set(peer, until)
      if (e.ip !== undefined && !(this.exemptLoopback && isLoopback(e.ip))) this.bannedIps.set(e.ip, until)
      this.onBan?.(peer, reason)
      return true
    }
    return false
  }

  isBanned (peer: string): boolean {
    const until = this.banned.get(peer)
    if (until === undefined) return false
    if (until > this.now()) return true
    this.banned.delete(peer)
    this.entries.delete(peer) // a clean slate
    return false
  }

  /** Whether connections from or to this IP address are refused (a peer banned there, the ban not expired). */
  isBannedAddress (ip: string): boolean {
    const until = this.bannedIps.get(ip)
    if (until === undefined) return false
    if (until > this.now()) return true
    this.bannedIps.delete(ip)
    return false
  }

  /**
   * Forgets what is stale, at most once a minute (or when over maxPeers):
   * expired bans, peers inactive for forgetMs, then the least recently
   * active unbanned peers beyond maxPeers.
   */
  private sweep (): void {
    const now = this.now()
    if (now - this.sweptAt < 60_000 && this.entries.size <= this.maxPeers) return
    this.sweptAt = now
    for (const [peer, until] of this.banned) if (until <= now) { this.banned.delete(peer); this.entries.delete(peer) }
    for (const [ip, until] of this.bannedIps) if (until <= now) this.bannedIps.delete(ip)
    for (const [peer, e] of this.entries) {
      if (this.entries.size <= this.maxPeers && e.at > now - this.forgetMs) break // the rest is more recent
      if (!this.banned.has(peer)) this.entries.delete(peer)
    }
  }

  block (peer: string): void { this.blocked.add(peer) }
  unblock (peer: string): void { this.blocked.delete(peer) }
  /** True when connections to or from `peer` must be refused. */
  refuses (peer: string): boolean { return this.blocked.has(peer) || this.isBanned(peer) }
}

/** The IP address of a multiaddr (/ip4 or /ip6), if it has one. */
export function ipOf (ma: Multiaddr): string | undefined {
  return ma.getComponents().find((c) => c.name === 'ip4' || c.name === 'ip6')?.value
}

/** 127.0.0.0/8, ::1 and IPv4-mapped loopback. */
export function isLoopback (ip: string): boolean {
  const v4 = ip.startsWith('::ffff:') ? ip.slice(7) : ip
  return v4.startsWith('127.') || ip === '::1' || ip === '0:0:0:0:0:0:0:1'
}

/**
 * The libp2p connection gater of a node: refuses banned or blocked peer IDs
 * (dial, and once a connection says who it is) and banned IP addresses
 * (inbound connections before they are upgraded, and dials), plus the
 * node's own dial filter.
 */
export function peerGater (peers: PeerBook, denyDial?: (ma: Multiaddr) => boolean): {
  denyDialPeer: (peer: { toString: () => string }) => boolean
  denyDialMultiaddr: (ma: Multiaddr) => boolean
  denyInboundConnection: (conn: { readonly remoteAddr: Multiaddr }) => boolean
  denyInboundEncryptedConnection: (peer: { toString: () => string }) => boolean
  denyOutboundEncryptedConnection: (peer: { toString: () => string }) => boolean
} {
  const bannedAt = (ma: Multiaddr): boolean => { const ip = ipOf(ma); return ip !== undefined && peers.isBannedAddress(ip) }
  return {
    denyDialPeer: (p) => peers.refuses(p.toString()),
    denyDialMultiaddr: (ma) => bannedAt(ma) || (denyDial?.(ma) ?? false),
    denyInboundConnection: (conn) => bannedAt(conn.remoteAddr),
    denyInboundEncryptedConnection: (p) => peers.refuses(p.toString()),
    denyOutboundEncryptedConnection: (p) => peers.refuses(p.toString())
  }
}
