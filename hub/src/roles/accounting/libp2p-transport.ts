/**
 * PBFT messages between accounting nodes over libp2p (paper §IV-B2 network
 * layer; DESIGN §6: request/response streams for PBFT). Messages to one peer
 * are queued and sent in batches — one length-prefixed request on
 * `/healthchain/pbft/2.0.0` (net/reqresp.ts) carries every message queued
 * for that peer (a count, then each message), answered with no frames — with
 * at most MAX_IN_FLIGHT requests open per peer. Sending each message on its
 * own stream ran into libp2p's per-connection stream limit under load ("too
 * many outbound streams"), so messages failed in storms and the replicas
 * spent their time in view changes. PBFT messages are signed end to end
 * (core/pbft/envelope.ts) and the replica tolerates loss, duplication and
 * reordering, so the transport only moves bytes: a batch that fails is
 * sent once more ahead of newer messages, a queue past MAX_QUEUED messages
 * or MAX_QUEUED_BYTES drops its oldest (counted); the replica's timers
 * recover what is lost.
 * Requests are accepted only from the configured accounting peers (any other
 * peer is refused before its request is read, and reported), within a rate
 * limit.
 */
import type { Libp2p } from '@libp2p/interface'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { Reader, toHex, Writer } from '../../core/index.ts'
import { MAX_PBFT_MESSAGE_BYTES } from '../../core/pbft/envelope.ts'
import { request, serve, type ProtocolSpec } from '../../net/reqresp.ts'
import type { PbftTransport } from './transport.ts'

const MAX_REQUEST_BYTES = 4 * 1024 * 1024
export const PBFT_PROTOCOL: ProtocolSpec = { id: '/healthchain/pbft/2.0.0', maxRequestBytes: MAX_REQUEST_BYTES, maxFrameBytes: 16, maxFrames: 0 }
/** Requests open at once to one peer. */
export const MAX_IN_FLIGHT = 4
/** Messages waiting for one peer before the oldest are dropped. */
export const MAX_QUEUED = 50_000
const MAX_BATCH = 10_000

export interface Libp2pPbftOptions {
  readonly libp2p: Libp2p
  /** This accounting node's ID (Ed25519 public key). */
  readonly self: Uint8Array
  /** Every accounting node's ID (hex) → its dialable multiaddr with /p2p/<peer id>. */
  readonly peers: ReadonlyMap<string, string>
  /** Called when a send fails (the replica's timers recover from the loss). */
  readonly onError?: (peer: string, err: Error) => void
  /**
   * A peer misbehaved on the PBFT protocol — not an accounting node (refused
   * before its request is read), over its rate, a malformed batch: the node
   * scores it down (net/peers.ts bans it at the ban score).
   */
  readonly onAbuse?: (peer: string, points: number, reason: string) => void
}

/** Several PBFT messages as one request body: count, then each message. */
export function encodeBatch (msgs: readonly Uint8Array[]): Uint8Array {
  const w = new Writer(msgs.reduce((n, m) => n + m.length + 5, 8)).varint('count', msgs.length, MAX_BATCH)
  msgs.forEach((m, i) => w.bytes(`messages[${i}]`, m, MAX_PBFT_MESSAGE_BYTES))
  return w.finish()
}

export function decodeBatch (body: Uint8Array): Uint8Array[] {
  const r = new Reader(body)
  const n = r.varint('count', MAX_BATCH)
  const out: Uint8Array[] = []
  for (let i = 0; i < n; i++) out.push(r.bytes(`messages[${i}]`, MAX_PBFT_MESSAGE_BYTES))
  r.end('batch')
  return out
}

/** Bytes waiting for one peer before the oldest messages are dropped. */
export const MAX_QUEUED_BYTES = 64 * 1024 * 1024

/** Time allowed for one batch request: the base, plus a second per 256 KiB it carries (a loaded receiver reads it slowly). */
export function batchTimeoutMs (bytes: number, baseMs = 5000): number { return baseMs + Math.ceil(bytes / (256 * 1024)) * 1000 }

export class PeerQueue {
  private queue: Uint8Array[] = []
  private bytes = 0
  private inFlight = 0
  dropped = 0
  /** Messages sent again after their batch failed. */
  resent = 0
  /** Messages already sent again once: a second failure drops them (the replica's timers take over). */
  private readonly retried = new WeakSet<Uint8Array>()
  private readonly send: (body: Uint8Array) => Promise<boolean>
  /** `send` resolves false when the batch did not get through. */
  constructor (send: (body: Uint8Array) => Promise<boolean>) { this.send = send }

  get size (): number { return this.queue.length }

  push (msg: Uint8Array): void {
    this.queue.push(msg)
    this.bytes += msg.length
    this.trim()
    this.pump()
  }

  private trim (): void {
    let drop = 0
    while (this.queue.length - drop > MAX_QUEUED || (this.bytes > MAX_QUEUED_BYTES && drop < this.queue.length - 1)) this.bytes -= this.queue[drop++]!.length
    if (drop > 0) { this.queue.splice(0, drop); this.dropped += drop }
  }

  private pump (): void {
    while (this.inFlight < MAX_IN_FLIGHT && this.queue.length > 0) {
      let bytes = 16
      let k = 0
      while (k < this.queue.length && k < MAX_BATCH && bytes + this.queue[k]!.length + 5 <= MAX_REQUEST_BYTES) bytes += this.queue[k++]!.length + 5
      const batch = this.queue.splice(0, Math.max(1, k))
      for (const m of batch) this.bytes -= m.length
      this.inFlight++
      void this.send(encodeBatch(batch)).then((ok) => {
        if (ok) return
        // A batch that failed (timed out under load, stream refused, peer restarting) is sent once more,
        // ahead of newer messages: dropping it cost a retransmission round or a view change.
        const again = batch.filter((m) => !this.retried.has(m))
        for (const m of again) { this.retried.add(m); this.bytes += m.length }
        this.resent += again.length
        this.queue.unshift(...again)
        this.trim()
      }).finally(() => { this.inFlight--; this.pump() })
    }
  }
}

export async function libp2pPbftTransport (o: Libp2pPbftOptions): Promise<PbftTransport> {
  const addrs = new Map<string, Multiaddr>([...o.peers].map(([id, a]) => [id, multiaddr(a)]))
  const allowed = new Set([...addrs.values()].map((a) => a.getComponents().find((c) => c.name === 'p2p')?.value).filter((x): x is string => x !== undefined))
  let handler: ((bytes: Uint8Array) => void) | null = null
  const unserve = await serve(o.libp2p, PBFT_PROTOCOL, async (req) => {
    const msgs = decodeBatch(req) // a malformed batch is a typed error: answered as invalid
    for (const m of msgs) handler?.(m)
    return { frames: [] }
  }, { rate: { perSecond: 20_000, burst: 40_000 }, maxInboundStreams: 1024, allow: (peer) => allowed.has(peer), ...(o.onAbuse === undefined ? {} : { onAbuse: o.onAbuse }) })
  const me = toHex(o.self)
  const queues = new Map<string, PeerQueue>()
  for (const [id, a] of addrs) {
    if (id === me) continue
    queues.set(id, new PeerQueue(async (body) => {
      try {
        await request(o.libp2p, a, PBFT_PROTOCOL, body, { timeoutMs: batchTimeoutMs(body.length) })
        return true
      } catch (err) {
        o.onError?.(id, err as Error)
        return false
      }
    }))
  }
  // Dial the other accounting nodes now: the first round of PBFT then does not wait for
  // TCP + Noise + Yamux set-up to each peer (under load that alone outlasted the request timeout).
  for (const [id, a] of addrs) if (id !== me) void o.libp2p.dial(a).catch(() => {})
  return {
    send: (to, bytes) => {
      if (to !== null) { queues.get(toHex(to))?.push(bytes); return }
      for (const q of queues.values()) q.push(bytes)
    },
    onMessage: (h) => { handler = h },
    close: async () => { handler = null; await unserve() }
  }
}
