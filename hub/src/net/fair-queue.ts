/**
 * Per-peer fair queueing of what peers ask us to validate (paper §III-B: a
 * network attacker may flood a node; DESIGN §6: validate network input
 * before it costs anything). Served first come, first served, a peer that
 * sends thousands of transactions — even ones refused cheaply — made every
 * other peer's wait for its own; here each peer waits in its own bounded
 * queue and the queues are served by deficit round robin (Shreedhar and
 * Varghese, 1995), by size:
 * - Validation runs in rounds. A round takes from every peer with something
 *   waiting its quantum of bytes (`roundBytes` shared by those peers, at
 *   least `minCost`, at most `maxQuantum`; what a peer does not use is
 *   carried while it stays backlogged), starts all of it at once — so the
 *   signatures of a round are checked in one batch — and the next round
 *   starts only when every
 *   verdict of this one is in, on a later turn of the event loop (what
 *   arrived meanwhile competes in it). So a peer never has more than its
 *   quantum in validation at once: one peer's flood costs each other peer at
 *   most a round of waiting, and takes at most its share of a round however
 *   cheaply its items are refused; and what a peer is penalised or banned
 *   for (by the caller, from the verdicts) takes effect by its next round,
 *   where the caller's gate drops a banned peer's items unread.
 * - An item costs its size, but at least `minCost`: hashing, decoding and a
 *   signature cost about the same for every small item. What the caller
 *   refuses it may `charge` to the peer again, so a peer sending what is
 *   refused gets less of the next rounds (the scheduler's counterpart of the
 *   penalty scores); a peer whose queue empties starts afresh (DRR).
 * - Memory is bounded. A peer may have `maxItemsPerPeer` items and
 *   `maxBytesPerPeer` bytes waiting; what it sends beyond is dropped unread
 *   (QueueFullError, for the caller to count and penalise). All queues
 *   together hold at most `maxBytes`: past that, the peer with the most
 *   waiting loses its newest item (longest queue drop), which keeps the
 *   bound without taking from peers within their share.
 * The queue knows peers only by name, and nothing of what it validates.
 */
import { QueueClosedError, QueueFullError } from './errors.ts'

export interface FairQueueOptions {
  /** Items one peer may have waiting (default 1,024). */
  readonly maxItemsPerPeer?: number
  /** Bytes (costs) one peer may have waiting (default 1 MiB). */
  readonly maxBytesPerPeer?: number
  /** Bytes (costs) all peers together may have waiting (default 16 MiB). */
  readonly maxBytes?: number
  /** Bytes a round serves, shared among the peers with items waiting (default 128 KiB). */
  readonly roundBytes?: number
  /** The least an item costs (default 512 B). */
  readonly minCost?: number
  /** The most one peer gets of a round, even alone (default 8 KiB, 16 small txs: what it has in validation at once stays small, so its refusals and a ban take effect within a round; 16 a round is still thousands a second). */
  readonly maxQuantum?: number
  /** Runs the next round later (default setImmediate: after the I/O and timers due). */
  readonly defer?: (next: () => void) => void
}

interface Item {
  readonly cost: number
  readonly work: () => Promise<unknown>
  readonly resolve: (v: unknown) => void
  readonly reject: (err: unknown) => void
}

interface PeerQueue { items: Item[], head: number, bytes: number, deficit: number }

export interface FairQueueStats {
  /** Items waiting and their cost, and the peers they belong to. */
  readonly waiting: number
  readonly waitingBytes: number
  readonly peers: number
  /** Items served (handed to validation) and dropped (queue full), and rounds run. */
  readonly served: number
  readonly dropped: number
  readonly rounds: number
}

export class FairQueue {
  readonly maxItemsPerPeer: number
  readonly maxBytesPerPeer: number
  readonly maxBytes: number
  readonly roundBytes: number
  readonly minCost: number
  readonly maxQuantum: number
  private readonly defer: (next: () => void) => void
  /** Peers with items waiting, in the order they are visited. */
  private readonly queues = new Map<string, PeerQueue>()
  private waitingItems = 0
  private waitingBytes = 0
  private served = 0
  private dropped = 0
  private rounds = 0
  /** The round running (or about to), or null when idle. */
  private running: Promise<void> | null = null
  private closed = false

  constructor (opts: FairQueueOptions = {}) {
    this.maxItemsPerPeer = opts.maxItemsPerPeer ?? 1024
    this.maxBytesPerPeer = opts.maxBytesPerPeer ?? 1024 * 1024
    this.maxBytes = opts.maxBytes ?? 16 * 1024 * 1024
    this.roundBytes = opts.roundBytes ?? 128 * 1024
    this.minCost = opts.minCost ?? 512
    this.maxQuantum = opts.maxQuantum ?? 8 * 1024
    this.defer = opts.defer ?? ((next) => { setImmediate(next) })
  }

  stats (): FairQueueStats {
    return { waiting: this.waitingItems, waitingBytes: this.waitingBytes, peers: this.queues.size, served: this.served, dropped: this.dropped, rounds: this.rounds }
  }

  /**
   * Runs `work` when `peer`'s turn comes: resolves or rejects with it, or
   * rejects with QueueFullError when the item is dropped (at once if the
   * peer's queue is full, later if the shared bound evicts it).
   */
  async run<T> (peer: string, bytes: number, work: () => Promise<T>): Promise<T> {
    if (this.closed) throw new QueueClosedError()
    const cost = Math.max(this.minCost, bytes)
    let q = this.queues.get(peer)
    const items = q === undefined ? 0 : q.items.length - q.head
    if (items >= this.maxItemsPerPeer) return this.refuse(peer, `more than ${this.maxItemsPerPeer} messages waiting`)
    if ((q?.bytes ?? 0) + cost > this.maxBytesPerPeer) return this.refuse(peer, `more than ${this.maxBytesPerPeer} bytes waiting`)
    while (this.waitingBytes + cost > this.maxBytes) {
      const heaviest = this.heaviest()
      if (heaviest === undefined || heaviest[0] === peer || heaviest[1].bytes < (q?.bytes ?? 0) + cost) return this.refuse(peer, 'the node\'s validation queues are full')
      this.evictNewest(...heaviest)
    }
    if (q === undefined) { q = { items: [], head: 0, bytes: 0, deficit: 0 }; this.queues.set(peer, q) }
    const p = new Promise<T>((resolve, reject) => { q.items.push({ cost, work, resolve: resolve as (v: unknown) => void, reject }) })
    q.bytes += cost
    this.waitingItems++
    this.waitingBytes += cost
    this.schedule()
    return await p
  }

  /**
   * Charges `bytes` more to `peer`'s share while it has items waiting (its
   * next rounds shrink by that much); forgotten once its queue is empty.
   */
  charge (peer: string, bytes: number): void {
    const q = this.queues.get(peer)
    if (q !== undefined) q.deficit -= bytes
  }

  /** Drops what waits (QueueClosedError) and resolves once the round running is done. */
  async close (): Promise<void> {
    this.closed = true
    const err = new QueueClosedError()
    for (const q of this.queues.values()) for (let i = q.head; i < q.items.length; i++) q.items[i]!.reject(err)
    this.queues.clear()
    this.waitingItems = 0
    this.waitingBytes = 0
    await this.running
  }

  private refuse (peer: string, why: string): never {
    this.dropped++
    throw new QueueFullError(peer, why)
  }

  /** The peer with the most bytes waiting. */
  private heaviest (): [string, PeerQueue] | undefined {
    let best: [string, PeerQueue] | undefined
    for (const [p, q] of this.queues) if (best === undefined || q.bytes > best[1].bytes) best = [p, q]
    return best
  }

  private evictNewest (peer: string, q: PeerQueue): void {
    const item = q.items.pop()!
    q.bytes -= item.cost
    this.waitingItems--
    this.waitingBytes -= item.cost
    if (q.items.length === q.head) { this.queues.delete(peer) }
    this.dropped++
    item.reject(new QueueFullError(peer, 'dropped: the node\'s validation queues are full and this peer had the most waiting'))
  }

  private schedule (): void {
    if (this.running !== null || this.closed) return
    this.running = new Promise<void>((resolve) => { this.defer(() => { void this.round().finally(resolve) }) }).then(() => {
      this.running = null
      if (this.waitingItems > 0) this.schedule()
    })
  }

  /** The quantum of each peer in a round with `peers` peers waiting. */
  quantum (peers: number): number { return Math.max(this.minCost, Math.min(this.maxQuantum, Math.floor(this.roundBytes / peers))) }

  /** One round of deficit round robin: every peer waiting gets its quantum; all of it is validated before the next round. */
  private async round (): Promise<void> {
    if (this.closed || this.queues.size === 0) return
    this.rounds++
    const quantum = this.quantum(this.queues.size)
    const taken: Item[] = []
    for (const [peer, q] of this.queues) {
      q.deficit += quantum
      while (q.head < q.items.length && q.items[q.head]!.cost <= q.deficit) {
        const item = q.items[q.head++]!
        q.deficit -= item.cost
        q.bytes -= item.cost
        taken.push(item)
      }
      if (q.head === q.items.length) this.queues.delete(peer) // nothing waits: its deficit is not kept (DRR)
      else if (q.head > 64 && q.head * 2 > q.items.length) { q.items = q.items.slice(q.head); q.head = 0 }
    }
    this.waitingItems -= taken.length
    for (const item of taken) this.waitingBytes -= item.cost
    this.served += taken.length
    await Promise.all(taken.map(async (item) => {
      try { item.resolve(await item.work()) } catch (err) { item.reject(err) }
    }))
  }
}
