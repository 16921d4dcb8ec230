/**
 * PBFT messages between accounting nodes over libp2p (paper §IV-B2 network
 * layer; DESIGN §6). Each node keeps ONE long-lived outbound stream on
 * `/healthchain/pbft/5.0.0` to every other accounting node and writes
 * length-prefixed batches on it (a count, then each message: every message
 * queued for that peer while the last batch was being written), with no
 * answers. Earlier versions sent each batch as a request on a fresh stream
 * (net/reqresp.ts) and waited for its answer: opening and negotiating a
 * stream cost about 1.2 ms of CPU per message on each side, which at a few
 * messages per peer per Dblock was most of a node's CPU at 100 tx/s, and
 * added a round trip to every PBFT phase.
 *
 * PBFT messages are signed end to end (core/pbft/envelope.ts) and the replica
 * tolerates loss, duplication and reordering, so the transport only moves
 * bytes: a batch whose write fails is written once more on a new stream
 * ahead of newer messages (a second failure drops it, counted), a queue past
 * MAX_QUEUED messages or MAX_QUEUED_BYTES drops its oldest (counted), a
 * broken stream is opened again with backoff; the replica's timers recover
 * what is lost.
 * Streams are accepted only from the configured accounting peers: any other
 * peer is answered "not allowed" (net/reqresp.ts's refusal, so a stranger's
 * request gets a clear error) before anything it sent is read, and reported;
 * an accounting peer's batches are rate limited, and an oversize or
 * malformed batch ends its stream and is reported.
 */
import type { Libp2p, Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { HealthchainError, Reader, toHex, Writer } from '../../core/index.ts'
import { MAX_PBFT_MESSAGE_BYTES } from '../../core/pbft/envelope.ts'
import { dropConnections, RateLimiter, refusal, type RateLimit } from '../../net/reqresp.ts'
import type { PbftTransport } from './transport.ts'

/** Largest batch frame on the stream. */
export const MAX_BATCH_BYTES = 4 * 1024 * 1024
/**
 * 5.0.0: a REQUEST carries a batch of txs (core/pbft/request.ts). 4.0.0:
 * COMMIT signs the certificate message (core dblock.ts commitMessage) and
 * REPLY is gone. Older nodes do not interoperate.
 */
export const PBFT_PROTOCOL = '/healthchain/pbft/5.0.0'
/** Batch frames per second an accounting peer may send (token bucket), beyond which they are dropped and reported. */
const PEER_RATE: RateLimit = { perSecond: 20_000, burst: 40_000 }
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
  return new Writer(msgs.reduce((n, m) => n + m.length + 5, 8)).list('messages', msgs, MAX_BATCH, MAX_PBFT_MESSAGE_BYTES).finish()
}

export function decodeBatch (body: Uint8Array): Uint8Array[] {
  const r = new Reader(body)
  const out = r.list('messages', MAX_BATCH, MAX_PBFT_MESSAGE_BYTES)
  r.end('batch')
  return out
}

/** Bytes waiting for one peer before the oldest messages are dropped. */
export const MAX_QUEUED_BYTES = 64 * 1024 * 1024

/** Time allowed to write one batch: the base, plus a second per 256 KiB it carries (a loaded receiver reads it slowly). */
export function batchTimeoutMs (bytes: number, baseMs = 5000): number { return baseMs + Math.ceil(bytes / (256 * 1024)) * 1000 }

/** An open outbound stream to one peer, as PeerLink uses it. */
export interface Pipe {
  /** False once the stream closed (e.g. libp2p's idle timeout): the link opens a new one before writing. */
  readonly writable: () => boolean
  write: (body: Uint8Array) => Promise<void>
  abort: (err: Error) => void
}

/** Reconnect backoff after a failed open or write (ms): doubles up to the max. */
const BACKOFF_MIN_MS = 50
const BACKOFF_MAX_MS = 2000

/**
 * The messages for one peer and the stream they go out on: queued, written
 * in batches (one at a time, so a batch carries everything queued while the
 * last was written), the stream opened again when it breaks.
 */
export class PeerLink {
  private queue: Uint8Array[] = []
  private bytes = 0
  private pipe: Pipe | null = null
  private writing = false
  private closed = false
  private backoff = BACKOFF_MIN_MS
  dropped = 0
  /** Messages written again after their batch failed. */
  resent = 0
  /** Messages already written again once: a second failure drops them (the replica's timers take over). */
  private readonly retried = new WeakSet<Uint8Array>()
  private readonly open: () => Promise<Pipe>
  private readonly onError: (err: Error) => void

  constructor (open: () => Promise<Pipe>, onError: (err: Error) => void = () => {}) {
    this.open = open
    this.onError = onError
  }

  get size (): number { return this.queue.length }

  push (msg: Uint8Array): void {
    if (this.closed) return
    this.queue.push(msg)
    this.bytes += msg.length
    this.trim()
    void this.pump()
  }

  close (): void {
    this.closed = true
    this.pipe?.abort(new Error('transport closed'))
    this.pipe = null
    this.queue = []
    this.bytes = 0
  }

  private trim (): void {
    let drop = 0
    while (this.queue.length - drop > MAX_QUEUED || (this.bytes > MAX_QUEUED_BYTES && drop < this.queue.length - 1)) this.bytes -= this.queue[drop++]!.length
    if (drop > 0) { this.queue.splice(0, drop); this.dropped += drop }
  }

  private async pump (): Promise<void> {
    if (this.writing) return
    this.writing = true
    try {
      while (this.queue.length > 0 && !this.closed) {
        if (this.pipe !== null && !this.pipe.writable()) this.pipe = null
        if (this.pipe === null) {
          try {
            this.pipe = await this.open()
          } catch (err) {
            this.onError(err as Error)
            await new Promise((resolve) => setTimeout(resolve, this.backoff))
            this.backoff = Math.min(BACKOFF_MAX_MS, this.backoff * 2)
            continue
          }
          if (this.closed) { this.pipe.abort(new Error('transport closed')); this.pipe = null; return }
        }
        let size = 16
        let k = 0
        while (k < this.queue.length && k < MAX_BATCH && size + this.queue[k]!.length + 5 <= MAX_BATCH_BYTES) size += this.queue[k++]!.length + 5
        const batch = this.queue.splice(0, Math.max(1, k))
        for (const m of batch) this.bytes -= m.length
        try {
          await this.pipe.write(encodeBatch(batch))
          this.backoff = BACKOFF_MIN_MS
        } catch (err) {
          // The stream broke (peer restarting, connection reset, write timed out): a new one next
          // round, and this batch goes out once more ahead of newer messages.
          this.pipe?.abort(err as Error)
          this.pipe = null
          this.onError(err as Error)
          const again = batch.filter((m) => !this.retried.has(m))
          for (const m of again) { this.retried.add(m); this.bytes += m.length }
          this.resent += again.length
          this.queue.unshift(...again)
          this.trim()
        }
      }
    } finally {
      this.writing = false
    }
  }
}

export async function libp2pPbftTransport (o: Libp2pPbftOptions): Promise<PbftTransport> {
  const addrs = new Map<string, Multiaddr>([...o.peers].map(([id, a]) => [id, multiaddr(a)]))
  const allowed = new Set([...addrs.values()].map((a) => a.getComponents().find((c) => c.name === 'p2p')?.value).filter((x): x is string => x !== undefined))
  const limiter = new RateLimiter(PEER_RATE)
  let handler: ((bytes: Uint8Array) => void) | null = null
  const inbound = new Set<Stream>()
  await o.libp2p.handle(PBFT_PROTOCOL, async (stream, conn) => {
    const peer = conn.remotePeer.toString()
    if (!allowed.has(peer)) {
      // refused before anything it sent is read
      o.onAbuse?.(peer, 20, `not allowed on ${PBFT_PROTOCOL}`)
      try { await lpStream(stream).write(refusal('not allowed'), { signal: AbortSignal.timeout(5000) }); await stream.close() } catch (err) { stream.abort(err as Error) }
      return
    }
    inbound.add(stream)
    const lp = lpStream(stream, { maxDataLength: MAX_BATCH_BYTES })
    try {
      for (;;) {
        const frame = await lp.read()
        if (!limiter.take(peer)) { o.onAbuse?.(peer, 5, `over its ${PBFT_PROTOCOL} rate`); continue }
        const msgs = decodeBatch(frame.subarray()) // malformed: a typed error, ends the stream
        for (const m of msgs) handler?.(m)
      }
    } catch (err) {
      const e = err as Error
      if (e.name === 'InvalidDataLengthError' || e.name === 'InvalidDataLengthLengthError') o.onAbuse?.(peer, 20, `oversize ${PBFT_PROTOCOL} batch`)
      else if (e instanceof HealthchainError) o.onAbuse?.(peer, 10, `bad ${PBFT_PROTOCOL} batch: ${e.message}`)
      stream.abort(e) // (also the normal end: the peer closed or went away)
    } finally {
      inbound.delete(stream)
    }
  }, { maxInboundStreams: 8, force: true })
  const me = toHex(o.self)
  const links = new Map<string, PeerLink>()
  for (const [id, a] of addrs) {
    if (id === me) continue
    links.set(id, new PeerLink(async () => {
      let stream: Stream
      try {
        stream = await o.libp2p.dialProtocol(a, PBFT_PROTOCOL, { signal: AbortSignal.timeout(10_000) })
      } catch (err) {
        if ((err as Error).name === 'ConnectionClosedError') dropConnections(o.libp2p, a, err as Error)
        throw err
      }
      const lp = lpStream(stream, { maxDataLength: MAX_BATCH_BYTES })
      return {
        writable: () => stream.status === 'open' && stream.writeStatus === 'writable',
        write: async (body) => { await lp.write(body, { signal: AbortSignal.timeout(batchTimeoutMs(body.length)) }) },
        abort: (err) => { stream.abort(err) }
      }
    }, (err) => { o.onError?.(id, err) }))
  }
  // Dial the other accounting nodes now: the first round of PBFT then does not wait for
  // TCP + Noise + Yamux set-up to each peer (under load that alone outlasted the request timeout).
  for (const [id, a] of addrs) if (id !== me) void o.libp2p.dial(a).catch(() => {})
  return {
    send: (to, bytes) => {
      if (to !== null) { links.get(toHex(to))?.push(bytes); return }
      for (const l of links.values()) l.push(bytes)
    },
    onMessage: (h) => { handler = h },
    close: async () => {
      handler = null
      for (const l of links.values()) l.close()
      await o.libp2p.unhandle(PBFT_PROTOCOL)
      for (const s of inbound) s.abort(new Error('transport closed'))
    }
  }
}
