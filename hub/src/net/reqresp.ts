/**
 * Request/response over libp2p streams (DESIGN §6: header sync, block fetch,
 * Merkle proofs, mempool query). One stream per exchange: the request is one
 * length-prefixed frame (unsigned varint length, as multistream and
 * it-length-prefixed), the answer a frame [status u8 ‖ count varint ‖
 * reason utf-8] followed by `count` frames. Every frame length is checked
 * against the protocol's limit from its prefix, before the frame is read,
 * so an oversize frame is refused without being allocated.
 *
 * The server side keeps a token bucket per peer and protocol (a peer over
 * its rate gets RATE_LIMITED and a penalty) and bounds each exchange by a
 * timeout; the client side bounds each exchange by a timeout too.
 */
import { lpStream } from '@libp2p/utils'
import type { Connection, Libp2p, PeerId, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { HealthchainError, Reader, Writer } from '../core/index.ts'
import { BadResponseError, FrameTooLargeError, RateLimitedError, RemoteError, RequestTimeoutError } from './errors.ts'

export const STATUS = { OK: 0, ERROR: 1, RATE_LIMITED: 2, TOO_LARGE: 3, NOT_FOUND: 4 } as const
export type Status = typeof STATUS[keyof typeof STATUS]
const STATUS_NAME = ['OK', 'ERROR', 'RATE_LIMITED', 'TOO_LARGE', 'NOT_FOUND']

export interface ProtocolSpec {
  readonly id: string
  readonly maxRequestBytes: number
  /** Largest answer frame. */
  readonly maxFrameBytes: number
  /** Most answer frames. */
  readonly maxFrames: number
}

export interface RateLimit { readonly perSecond: number, readonly burst: number }

export interface ServeOptions {
  readonly timeoutMs?: number
  readonly rate?: RateLimit
  readonly maxInboundStreams?: number
  /**
   * Peers that may use the protocol at all (e.g. the accounting nodes on the
   * PBFT protocol). Any other peer is answered ERROR without its request
   * being read, and reported (onAbuse).
   */
  readonly allow?: (peer: string) => boolean
  /** A peer misbehaved (bad request, over its rate, not allowed): the node scores it down. */
  readonly onAbuse?: (peer: string, points: number, reason: string) => void
  readonly now?: () => number
}

/** What a handler answers: frames, or a status with a reason. */
export type Answer = { readonly frames: readonly Uint8Array[] } | { readonly status: Exclude<Status, 0>, readonly reason: string }

/** Token buckets, one per key. */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number, at: number }>()
  readonly rate: RateLimit
  private readonly now: () => number
  constructor (rate: RateLimit, now: () => number = Date.now) { this.rate = rate; this.now = now }
  take (key: string): boolean {
    const t = this.now()
    const b = this.buckets.get(key) ?? { tokens: this.rate.burst, at: t }
    b.tokens = Math.min(this.rate.burst, b.tokens + ((t - b.at) / 1000) * this.rate.perSecond)
    b.at = t
    const ok = b.tokens >= 1
    if (ok) b.tokens -= 1
    this.buckets.set(key, b)
    if (this.buckets.size > 10_000) this.buckets.delete(this.buckets.keys().next().value!)
    return ok
  }
}

/** The answer refusing a peer (ERROR with a reason), as serve() sends it: for protocols that refuse before reading. */
export function refusal (reason: string): Uint8Array { return head(STATUS.ERROR, 0, reason) }

function head (status: Status, count: number, reason = ''): Uint8Array {
  const w = new Writer(16 + reason.length * 3).u8('status', status).varint('count', count)
  if (reason !== '') w.bytes('reason', new TextEncoder().encode(reason.slice(0, 200)), 1024)
  return w.finish()
}

function isTooLong (err: unknown): boolean {
  return (err as Error)?.name === 'InvalidDataLengthError' || (err as Error)?.name === 'InvalidDataLengthLengthError'
}

/** Registers `handler` for `spec.id`; resolves to the unregister function. */
export async function serve (libp2p: Libp2p, spec: ProtocolSpec, handler: (req: Uint8Array, peer: string) => Promise<Answer>, opts: ServeOptions = {}): Promise<() => Promise<void>> {
  const timeoutMs = opts.timeoutMs ?? 10_000
  const limiter = new RateLimiter(opts.rate ?? { perSecond: 50, burst: 100 }, opts.now)
  await libp2p.handle(spec.id, async (stream: Stream, conn) => {
    const peer = conn.remotePeer.toString()
    const signal = AbortSignal.timeout(timeoutMs)
    const lp = lpStream(stream, { maxDataLength: Math.max(spec.maxRequestBytes, spec.maxFrameBytes) })
    let answer: Answer
    try {
      if (opts.allow !== undefined && !opts.allow(peer)) {
        opts.onAbuse?.(peer, 20, `not allowed on ${spec.id}`)
        answer = { status: STATUS.ERROR, reason: 'not allowed' }
      } else if (!limiter.take(peer)) {
        opts.onAbuse?.(peer, 5, `over its ${spec.id} rate`)
        answer = { status: STATUS.RATE_LIMITED, reason: `at most ${limiter.rate.perSecond}/s` }
      } else {
        const req = await readFrame(lp, spec.maxRequestBytes, 'request', signal)
        answer = await handler(req, peer)
      }
    } catch (err) {
      if (signal.aborted) { stream.abort(err as Error); return }
      answer = failureAnswer(spec, peer, err, opts)
    }
    try {
      if ('frames' in answer) await lp.writeV([head(STATUS.OK, answer.frames.length), ...answer.frames], { signal })
      else await lp.write(head(answer.status, 0, answer.reason), { signal })
      await stream.close({ signal })
    } catch (err) {
      stream.abort(err as Error)
    }
  }, { maxInboundStreams: opts.maxInboundStreams ?? 32, force: true })
  return async () => { await libp2p.unhandle(spec.id) }
}

/** The answer to a request that failed: too large or malformed (the peer is reported), or an internal error. */
export function failureAnswer (spec: ProtocolSpec, peer: string, err: unknown, opts: Pick<ServeOptions, 'onAbuse'>): Answer {
  if (err instanceof FrameTooLargeError) {
    opts.onAbuse?.(peer, 20, `oversize ${spec.id} request`)
    return { status: STATUS.TOO_LARGE, reason: `a request may carry at most ${spec.maxRequestBytes} bytes` }
  }
  if (err instanceof HealthchainError) {
    opts.onAbuse?.(peer, 10, `bad ${spec.id} request: ${err.message}`)
    return { status: STATUS.ERROR, reason: err.message }
  }
  return { status: STATUS.ERROR, reason: 'internal error' }
}

/** The typed error of an answer whose status is not OK. */
export function statusError (spec: ProtocolSpec, label: string, status: number, reason: string): HealthchainError {
  if (status === STATUS.RATE_LIMITED) return new RateLimitedError(spec.id, label)
  return new RemoteError(spec.id, label, STATUS_NAME[status] ?? String(status), reason)
}

export async function readFrame (lp: ReturnType<typeof lpStream>, max: number, field: string, signal?: AbortSignal): Promise<Uint8Array> {
  let f
  try {
    f = await lp.read(signal === undefined ? {} : { signal })
  } catch (err) {
    if (isTooLong(err)) throw new FrameTooLargeError(field, max)
    throw err
  }
  if (f.byteLength > max) throw new FrameTooLargeError(field, max, f.byteLength)
  return f.subarray()
}

export interface RequestOptions {
  readonly timeoutMs?: number
  readonly signal?: AbortSignal
  /** Streams of this protocol this node may have open to one peer (libp2p's default: 64). */
  readonly maxOutboundStreams?: number
}

/**
 * Opening a stream failed with ConnectionClosedError on a connection libp2p
 * still holds as open: its muxer is closed underneath (seen: "the connection
 * muxer is closed" on every later request after the peer restarted, so an
 * accounting node never heard from it again). Abort the peer's connections,
 * so the next request dials afresh. (Other failures, e.g. too many streams,
 * are backpressure on a live connection and leave it alone.)
 */
export function dropConnections (libp2p: Libp2p, peer: PeerId | Multiaddr, err: Error): void {
  const id = peerIdOf(peer)
  if (id === undefined) return
  for (const c of libp2p.getConnections()) if (c.remotePeer.toString() === id) c.abort(err)
}

function peerIdOf (peer: PeerId | Multiaddr): string | undefined {
  return 'getComponents' in peer ? peer.getComponents().find((c) => c.name === 'p2p')?.value : peer.toString()
}

/** An open connection to `peer` (a multiaddr names it by its /p2p/ part), if there is one. */
export function openConnection (libp2p: Libp2p, peer: PeerId | Multiaddr): Connection | undefined {
  const id = peerIdOf(peer)
  if (id === undefined) return undefined
  return libp2p.getConnections().find((c) => c.status === 'open' && c.remotePeer.toString() === id)
}

/** One exchange with `peer`: the answer frames, or a typed error (timeout, remote status, oversize frame). */
export async function request (libp2p: Libp2p, peer: PeerId | Multiaddr, spec: ProtocolSpec, req: Uint8Array, opts: RequestOptions = {}): Promise<Uint8Array[]> {
  const ms = opts.timeoutMs ?? 10_000
  const timeout = AbortSignal.timeout(ms)
  const signal = opts.signal === undefined ? timeout : AbortSignal.any([timeout, opts.signal])
  const label = peer.toString()
  let stream: Stream | undefined
  try {
    const streamOpts = { signal, ...(opts.maxOutboundStreams === undefined ? {} : { maxOutboundStreams: opts.maxOutboundStreams }) }
    // On a connection already open to the peer, a new stream directly: libp2p's dialProtocol
    // goes through its dial queue and peer store on every call (a third more CPU per exchange).
    const conn = openConnection(libp2p, peer)
    stream = conn !== undefined ? await conn.newStream(spec.id, streamOpts) : await libp2p.dialProtocol(peer, spec.id, streamOpts)
    const lp = lpStream(stream, { maxDataLength: Math.max(spec.maxRequestBytes, spec.maxFrameBytes) })
    await lp.write(req, { signal })
    const r = new Reader(await readFrame(lp, 2048, 'answer', signal))
    const status = r.u8('status')
    const count = r.varint('count', spec.maxFrames)
    if (status !== STATUS.OK) throw statusError(spec, label, status, r.remaining > 0 ? new TextDecoder().decode(r.bytes('reason', 1024)) : '')
    const frames: Uint8Array[] = []
    for (let i = 0; i < count; i++) frames.push(await readFrame(lp, spec.maxFrameBytes, `answer[${i}]`, signal))
    await stream.close({ signal }).catch(() => {})
    return frames
  } catch (err) {
    stream?.abort(err as Error)
    if (stream === undefined && (err as Error).name === 'ConnectionClosedError') dropConnections(libp2p, peer, err as Error)
    if (timeout.aborted && opts.signal?.aborted !== true) throw new RequestTimeoutError(spec.id, label, ms)
    if (err instanceof HealthchainError) throw err
    throw new BadResponseError(spec.id, `${label}: ${(err as Error).message}`)
  }
}
