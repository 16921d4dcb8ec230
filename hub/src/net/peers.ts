/**
 * Application-level peer scores (paper §IV-B2: nodes verify what they
 * receive; DESIGN §6: "peers that send invalid data are scored down").
 *
 * Every misbehaviour seen above gossip (an invalid block or transaction,
 * a forged proof, a broken response, a rate-limit breach) costs points. The
 * score feeds gossipsub's P5 application-specific score, so the router
 * prunes the peer from its mesh and stops gossiping with it; at
 * `banScore` the peer is banned: hung up and refused by the connection
 * gater until the ban expires. Pure bookkeeping; the node wires the I/O.
 */

export interface PenaltyRecord { readonly at: number, readonly points: number, readonly reason: string }

export interface PeerBookOptions {
  /** Score at or below which a peer is banned (default -100). */
  readonly banScore?: number
  /** How long a ban lasts, ms (default 10 min). */
  readonly banMs?: number
  /** Clock in ms (tests pass their own). */
  readonly now?: () => number
}

export class PeerBook {
  readonly banScore: number
  readonly banMs: number
  private readonly now: () => number
  private readonly scores = new Map<string, number>()
  private readonly log = new Map<string, PenaltyRecord[]>()
  private readonly banned = new Map<string, number>()
  /** Peers kept apart on purpose (operator block list, test partitions): refused until unblocked. */
  private readonly blocked = new Set<string>()
  /** Called when a peer crosses the ban score (the node hangs up on it). */
  onBan: ((peer: string, reason: string) => void) | undefined

  constructor (opts: PeerBookOptions = {}) {
    this.banScore = opts.banScore ?? -100
    this.banMs = opts.banMs ?? 10 * 60_000
    this.now = opts.now ?? Date.now
  }

  score (peer: string): number { return this.scores.get(peer) ?? 0 }
  penalties (peer: string): readonly PenaltyRecord[] { return this.log.get(peer) ?? [] }

  /** Costs `points` (> 0) for `reason`; returns true when this bans the peer. */
  penalise (peer: string, points: number, reason: string): boolean {
    const s = this.score(peer) - Math.abs(points)
    this.scores.set(peer, s)
    const l = this.log.get(peer) ?? []
    l.push({ at: this.now(), points: Math.abs(points), reason })
    if (l.length > 32) l.shift()
    this.log.set(peer, l)
    if (s <= this.banScore && !this.isBanned(peer)) {
      this.banned.set(peer, this.now() + this.banMs)
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
    this.scores.set(peer, 0)
    return false
  }

  block (peer: string): void { this.blocked.add(peer) }
  unblock (peer: string): void { this.blocked.delete(peer) }
  /** True when connections to or from `peer` must be refused. */
  refuses (peer: string): boolean { return this.blocked.has(peer) || this.isBanned(peer) }
}
