/**
 * Many request/response exchanges on ONE long-lived libp2p stream (DESIGN §6;
 * paper §IV-B3: doctors submit tx_diag to an accounting node). reqresp.ts
 * opens a stream per exchange: a multistream-select round trip and about
 * 1.5 ms of CPU on each side, which at 100 tx_diag/s, one exchange each, was
 * a quarter of the CPU of a 4-node consortium and its doctor. Here a client
 * keeps one stream per peer and tags each request with an id; the server
 * runs the exchanges concurrently and answers each when its handler settles,
 * in any order. Frames (length-prefixed, checked against the limit from the
 * prefix before they are read, as in reqresp.ts):
 *   request = id varint ‖ body (≤ spec.maxRequestBytes)
 *   answer  = id varint ‖ status u8 ‖ OK: the frames as a list (≤ maxFrames
 *             of ≤ maxFrameBytes) | else: reason (utf-8)
 * Server bounds: a token bucket per peer (RATE_LIMITED answer + penalty),
 * at most `maxInFlight` open exchanges per stream (it stops reading beyond:
 * backpressure), each exchange answered within `timeoutMs` (ERROR "timed
 * out" after), an oversize or malformed frame ends the stream (penalty).
 * Client: each exchange bounded by its timeout; a broken stream fails every
 * exchange waiting on it with a typed error and the next request opens a
 * new one. Answers are matched by id only, so a late answer is dropped.
 */
import { lpStream } from '@libp2p/utils'
import type { Libp2p, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { HealthchainError, Reader, Writer } from '../core/index.ts'
import { BadResponseError, RequestTimeoutError } from './errors.ts'
import { dropConnections, failureAnswer, openConnection, RateLimiter, readFrame, statusError, STATUS, type Answer, type ProtocolSpec, type ServeOptions } from './reqresp.ts'

/** Largest exchange id (ids wrap around below it). */
const MAX_ID = 0xffffffff
const MAX_REASON_BYTES = 1024

export interface SessionServeOptions extends Omit<ServeOptions, 'allow'> {
  /** Open exchanges per stream before the server stops reading it. */
  readonly maxInFlight?: number
}

function answerBytes (spec: ProtocolSpec, id: number, a: Answer): Uint8Array {
  const w = new Writer(64).varint('id', id, MAX_ID)
  if ('frames' in a) return w.u8('status', STATUS.OK).list('answer', a.frames, spec.maxFrames, spec.maxFrameBytes).finish()
  return w.u8('status', a.status).bytes('reason', new TextEncoder().encode(a.reason.slice(0, 200)), MAX_REASON_BYTES).finish()
}

/** Largest answer frame of a protocol: every frame at its limit, with list overhead. */
function maxAnswerBytes (spec: ProtocolSpec): number { return spec.maxFrames * (spec.maxFrameBytes + 5) + MAX_REASON_BYTES + 32 }

/** Registers `handler` for `spec.id` as a session protocol; resolves to the unregister function. */
export async function serveSessions (libp2p: Libp2p, spec: ProtocolSpec, handler: (req: Uint8Array, peer: string) => Promise<Answer>, opts: SessionServeOptions = {}): Promise<() => Promise<void>> {
  const timeoutMs = opts.timeoutMs ?? 10_000
  const maxInFlight = opts.maxInFlight ?? 256
  const limiter = new RateLimiter(opts.rate ?? { perSecond: 50, burst: 100 }, opts.now)
  const open = new Set<Stream>()
  await libp2p.handle(spec.id, async (stream: Stream, conn) => {
    const peer = conn.remotePeer.toString()
    open.add(stream)
    const lp = lpStream(stream, { maxDataLength: spec.maxRequestBytes + 16 })
    const answer = (id: number, a: Answer): void => {
      lp.write(answerBytes(spec, id, a), { signal: AbortSignal.timeout(timeoutMs) }).catch((err: Error) => { stream.abort(err) })
    }
    let inFlight = 0
    let slot: (() => void) | null = null
    const run = async (id: number, req: Uint8Array): Promise<void> => {
      let timer: NodeJS.Timeout | undefined
      let a: Answer
      try {
        a = await Promise.race([
          handler(req, peer),
          new Promise<Answer>((resolve) => { timer = setTimeout(() => { resolve({ status: STATUS.ERROR, reason: `timed out after ${timeoutMs} ms` }) }, timeoutMs) })
        ])
      } catch (err) {
        a = failureAnswer(spec, peer, err, opts)
      } finally {
        clearTimeout(timer)
      }
      answer(id, a)
      inFlight--
      slot?.()
      slot = null
    }
    try {
      for (;;) {
        while (inFlight >= maxInFlight) await new Promise<void>((resolve) => { slot = resolve })
        const r = new Reader(await readFrame(lp, spec.maxRequestBytes + 16, 'request'))
        const id = r.varint('id', MAX_ID)
        const req = r.bytes('request', spec.maxRequestBytes)
        r.end('request')
        if (!limiter.take(peer)) {
          opts.onAbuse?.(peer, 5, `over its ${spec.id} rate`)
          answer(id, { status: STATUS.RATE_LIMITED, reason: `at most ${limiter.rate.perSecond}/s` })
          continue
        }
        inFlight++
        void run(id, req)
      }
    } catch (err) {
      if ((err as Error).name === 'UnexpectedEOFError') {
        // The peer closed its side (the normal end): the exchanges still open are answered first.
        while (inFlight > 0) await new Promise<void>((resolve) => { slot = resolve })
        await stream.close().catch(() => {})
      } else {
        // An oversize or malformed frame: reported (failureAnswer's penalty), and it ends the
        // stream, so there is no answer. (Or the stream broke.)
        if (err instanceof HealthchainError) failureAnswer(spec, peer, err, opts)
        stream.abort(err as Error)
      }
    } finally {
      open.delete(stream)
    }
  }, { maxInboundStreams: opts.maxInboundStreams ?? 32, force: true })
  return async () => {
    await libp2p.unhandle(spec.id)
    for (const s of open) s.abort(new Error('protocol unregistered'))
  }
}

interface Waiting {
  readonly pipe: Pipe
  readonly resolve: (frames: Uint8Array[]) => void
  readonly reject: (err: Error) => void
  readonly timer: NodeJS.Timeout
}

interface Pipe {
  readonly stream: Stream
  readonly lp: ReturnType<typeof lpStream>
}

/** The client side: exchanges with one peer on one stream, opened when first needed and again after it breaks. */
export class Session {
  private readonly libp2p: Libp2p
  private readonly peer: Multiaddr
  private readonly spec: ProtocolSpec
  private readonly label: string
  private pipe: Promise<Pipe> | null = null
  /** The open stream, once `pipe` resolved (null again when it breaks). */
  private current: Pipe | null = null
  private nextId = 1
  private readonly waiting = new Map<number, Waiting>()

  constructor (libp2p: Libp2p, peer: Multiaddr, spec: ProtocolSpec) {
    this.libp2p = libp2p
    this.peer = peer
    this.spec = spec
    this.label = peer.toString()
  }

  /** Exchanges waiting for their answer. */
  get pending (): number { return this.waiting.size }

  /** One exchange: the answer frames, or a typed error (timeout, remote status, broken stream). */
  async request (req: Uint8Array, opts: { timeoutMs?: number } = {}): Promise<Uint8Array[]> {
    const ms = opts.timeoutMs ?? 10_000
    const id = this.nextId
    this.nextId = this.nextId >= MAX_ID ? 1 : this.nextId + 1
    // Built (and its size checked) before anything waits for its answer.
    const frame = new Writer(req.length + 16).varint('id', id, MAX_ID).bytes('request', req, this.spec.maxRequestBytes).finish()
    const pipe = await this.open(ms)
    const answer = new Promise<Uint8Array[]>((resolve, reject) => {
      const timer = setTimeout(() => { this.waiting.delete(id); reject(new RequestTimeoutError(this.spec.id, this.label, ms)) }, ms)
      this.waiting.set(id, { pipe, resolve, reject, timer })
    })
    pipe.lp.write(frame, { signal: AbortSignal.timeout(ms) }).catch((err: Error) => { this.broken(pipe, err) })
    return await answer
  }

  /** Ends the stream; exchanges still waiting fail. */
  close (): void {
    if (this.current !== null) this.broken(this.current, new Error('session closed'))
  }

  private async open (ms: number): Promise<Pipe> {
    this.pipe ??= (async () => {
      const signal = AbortSignal.timeout(ms)
      try {
        const conn = openConnection(this.libp2p, this.peer)
        const stream = conn !== undefined ? await conn.newStream(this.spec.id, { signal }) : await this.libp2p.dialProtocol(this.peer, this.spec.id, { signal })
        const pipe: Pipe = { stream, lp: lpStream(stream, { maxDataLength: maxAnswerBytes(this.spec) }) }
        this.current = pipe
        void this.read(pipe)
        return pipe
      } catch (err) {
        this.pipe = null
        if ((err as Error).name === 'ConnectionClosedError') dropConnections(this.libp2p, this.peer, err as Error)
        if (signal.aborted) throw new RequestTimeoutError(this.spec.id, this.label, ms)
        if (err instanceof HealthchainError) throw err
        throw new BadResponseError(this.spec.id, `${this.label}: ${(err as Error).message}`)
      }
    })()
    return await this.pipe
  }

  private async read (pipe: Pipe): Promise<void> {
    try {
      for (;;) {
        const r = new Reader(await readFrame(pipe.lp, maxAnswerBytes(this.spec), 'answer'))
        const id = r.varint('id', MAX_ID)
        const status = r.u8('status')
        const w = this.waiting.get(id)
        if (status === STATUS.OK) {
          const frames = r.list('answer', this.spec.maxFrames, this.spec.maxFrameBytes)
          r.end('answer')
          if (w !== undefined) { this.settle(id, w); w.resolve(frames) }
        } else {
          const reason = new TextDecoder().decode(r.bytes('reason', MAX_REASON_BYTES))
          r.end('answer')
          if (w !== undefined) { this.settle(id, w); w.reject(statusError(this.spec, this.label, status, reason)) }
        }
      }
    } catch (err) {
      // The peer closed the stream (EOF: ours is closed gracefully too), or its answer was malformed (aborted).
      const ended = (err as Error).name === 'UnexpectedEOFError'
      this.broken(pipe, err instanceof HealthchainError ? err : new BadResponseError(this.spec.id, `${this.label}: ${(err as Error).message}`), ended)
    }
  }

  private settle (id: number, w: Waiting): void {
    clearTimeout(w.timer)
    this.waiting.delete(id)
  }

  /** The stream broke (or was closed): every exchange on it fails, the next request opens a new one. */
  private broken (pipe: Pipe, err: Error, ended = false): void {
    if (ended) pipe.stream.close().catch(() => {})
    else pipe.stream.abort(err)
    if (this.current === pipe) { this.current = null; this.pipe = null }
    for (const [id, w] of this.waiting) if (w.pipe === pipe) { this.settle(id, w); w.reject(err) }
  }
}

/** One session per (node, protocol, peer), opened on first use. */
const sessions = new WeakMap<Libp2p, Map<string, Session>>()

export function sessionFor (libp2p: Libp2p, peer: Multiaddr, spec: ProtocolSpec): Session {
  let m = sessions.get(libp2p)
  if (m === undefined) { m = new Map(); sessions.set(libp2p, m) }
  const k = `${spec.id} ${peer.toString()}`
  let s = m.get(k)
  if (s === undefined) { s = new Session(libp2p, peer, spec); m.set(k, s) }
  return s
}
