/**
 * Network faults on loopback for libp2p nodes: a TCP proxy per link.
 *
 * A `TcpProxy` listens on 127.0.0.1 port 0 and forwards each connection to a
 * target port; a `ProxyMesh` puts one between every ordered pair of nodes
 * (node i dials node j at `mesh.addr(i, j, peerIdOfJ)`, i.e.
 * /ip4/127.0.0.1/tcp/<proxy port>/p2p/<peer id>). Per link:
 *  - partition: `cut()` destroys the open connections (RST, as when a
 *    route disappears) and refuses new ones until `heal()`; `cut('stall')`
 *    instead freezes them — bytes are held, new connections wait unconnected
 *    — and `heal()` delivers everything in order (a long outage TCP rides
 *    out, or does not if the endpoints time out first);
 *  - latency: `delayMs` plus seeded uniform `jitterMs` per chunk, chunks
 *    delivered in order;
 *  - bandwidth: `bytesPerSecond` paces delivery (reading pauses while a
 *    MiB is waiting, so the sender feels TCP backpressure);
 *  - capture: `onData(dir, chunk)` sees every byte as it arrives
 *    ('out' = dialer → target, 'in' = target → dialer) — what an observer
 *    on the wire would see (Noise ciphertext for libp2p).
 *
 * Why a proxy rather than libp2p's connection gater: the gater only refuses
 * at the libp2p layer and closes connections politely, so it never exercises
 * what a real outage does — connections reset or stalled mid-stream,
 * requests timing out, redial loops against a refusing port, Noise/Yamux
 * state on a half-dead socket. With the proxy the nodes run unmodified. The
 * one precondition is that the proxies are the only routes: a node must not
 * dial the target ports directly (identify tells peers the real listen
 * address), so the Userchain test keeps each node to its links with
 * NetNodeOptions.denyDialMultiaddr, and the PBFT transport dials only the
 * multiaddrs it is configured with.
 */
import { createServer, connect, type Server, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'

export interface LinkShape {
  /** Extra latency per chunk, ms (default 0). */
  delayMs?: number
  /** Up to this much more, uniformly, seeded (default 0). */
  jitterMs?: number
  /** Delivery pace per direction, bytes/s (default 0 = unlimited). */
  bytesPerSecond?: number
}

export interface ProxyOptions extends LinkShape {
  /** Seed of the jitter. */
  seed?: number
  onData?: (dir: 'out' | 'in', chunk: Buffer) => void
}

/** 'reset': connections destroyed, new ones refused. 'stall': everything held until heal. */
export type CutMode = 'reset' | 'stall'

/** Bytes waiting in one direction before reading from the source pauses. */
const HIGH_WATER = 1024 * 1024

/** One direction of one proxied connection: an ordered queue with delivery times. */
class Pipe {
  private readonly queue: Array<{ at: number, chunk: Buffer | null }> = []
  private readonly from: Socket
  private readonly to: Socket
  private readonly proxy: TcpProxy
  private timer: NodeJS.Timeout | undefined
  private last = 0
  private free = 0
  private held = 0

  constructor (proxy: TcpProxy, from: Socket, to: Socket, dir: 'out' | 'in') {
    this.proxy = proxy
    this.from = from
    this.to = to
    from.on('data', (chunk: Buffer) => {
      proxy.opts.onData?.(dir, chunk)
      proxy.bytes += chunk.length
      this.push(chunk)
    })
    from.on('end', () => { this.push(null) })
  }

  private push (chunk: Buffer | null): void {
    const now = Date.now()
    let at = Math.max(now + this.proxy.latency(), this.last)
    const bps = this.proxy.opts.bytesPerSecond ?? 0
    if (chunk !== null && bps > 0) {
      at = Math.max(at, this.free)
      this.free = at + (chunk.length * 1000) / bps
    }
    this.last = at
    this.queue.push({ at, chunk })
    if (chunk !== null) {
      this.held += chunk.length
      if (this.held > HIGH_WATER) this.from.pause()
    }
    this.kick()
  }

  /** Delivers what is due, then waits for the next chunk's time (not while the link is stalled). */
  kick (): void {
    if (this.timer !== undefined || this.proxy.state !== 'up') return
    const now = Date.now()
    while (this.queue.length > 0 && this.queue[0]!.at <= now) {
      const { chunk } = this.queue.shift()!
      if (this.to.destroyed) continue
      if (chunk === null) { this.to.end(); continue }
      this.to.write(chunk)
      this.held -= chunk.length
    }
    if (this.held <= HIGH_WATER && this.from.isPaused()) this.from.resume()
    const head = this.queue[0]
    if (head !== undefined) this.timer = setTimeout(() => { this.timer = undefined; this.kick() }, head.at - now)
  }

  stop (): void { if (this.timer !== undefined) { clearTimeout(this.timer); this.timer = undefined } }
}

export class TcpProxy {
  readonly server: Server
  /** The options, shape included (change with `shape`). */
  readonly opts: ProxyOptions
  private target: number
  private readonly sockets = new Set<Socket>()
  private readonly pipes = new Set<Pipe>()
  /** Connections accepted during a stall: connected upstream on heal. */
  private waiting: Socket[] = []
  private x: number
  state: 'up' | CutMode = 'up'
  /** Connections refused or cut while the link was down. */
  refused = 0
  /** Connections forwarded. */
  accepted = 0
  /** Bytes seen, both directions. */
  bytes = 0

  private constructor (server: Server, target: number, opts: ProxyOptions) {
    this.server = server
    this.target = target
    this.opts = { ...opts }
    this.x = (opts.seed ?? 1) >>> 0 || 1
  }

  static async start (target: number, opts: ProxyOptions = {}): Promise<TcpProxy> {
    let proxy: TcpProxy | null = null
    const server = createServer((s) => { proxy!.accept(s) })
    proxy = new TcpProxy(server, target, opts)
    await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(0, '127.0.0.1', resolve) })
    return proxy
  }

  get port (): number { return (this.server.address() as AddressInfo).port }

  /** Open proxied connections (each counted once). */
  get connections (): number { return this.sockets.size / 2 }

  /** Latency of the next chunk: delay plus seeded jitter (xorshift32). */
  latency (): number {
    this.x ^= this.x << 13; this.x >>>= 0; this.x ^= this.x >>> 17; this.x ^= this.x << 5; this.x >>>= 0
    return (this.opts.delayMs ?? 0) + (this.x / 0x100000000) * (this.opts.jitterMs ?? 0)
  }

  /** Changes delay, jitter or bandwidth from now on (chunks already queued keep their times). */
  shape (s: LinkShape): void { Object.assign(this.opts, s) }

  /** Forward to another port from now on (a node that restarted elsewhere). */
  retarget (port: number): void { this.target = port }

  private accept (client: Socket): void {
    if (this.state === 'reset') { this.refused++; client.destroy(); return }
    client.on('error', () => {})
    if (this.state === 'stall') {
      client.pause()
      this.waiting.push(client)
      client.on('close', () => { this.waiting = this.waiting.filter((s) => s !== client) })
      return
    }
    this.forward(client)
  }

  private forward (client: Socket): void {
    this.accepted++
    const upstream = connect(this.target, '127.0.0.1')
    const pipes = [new Pipe(this, client, upstream, 'out'), new Pipe(this, upstream, client, 'in')]
    for (const p of pipes) this.pipes.add(p)
    for (const s of [client, upstream]) {
      this.sockets.add(s)
      s.on('error', () => {})
      s.on('close', () => {
        this.sockets.delete(s)
        for (const p of pipes) { p.stop(); this.pipes.delete(p) }
        client.destroy(); upstream.destroy()
      })
    }
    client.resume()
  }

  /** Partition this link (see the file header for the two modes). */
  cut (mode: CutMode = 'reset'): void {
    this.state = mode
    for (const p of this.pipes) p.stop()
    if (mode === 'stall') return
    const open = [...this.sockets, ...this.waiting]
    this.refused += this.sockets.size / 2 + this.waiting.length
    this.waiting = []
    for (const s of open) s.destroy()
  }

  heal (): void {
    if (this.state === 'up') return
    this.state = 'up'
    const waiting = this.waiting
    this.waiting = []
    for (const c of waiting) if (!c.destroyed) this.forward(c)
    for (const p of this.pipes) p.kick()
  }

  async close (): Promise<void> {
    this.cut()
    await new Promise<void>((resolve) => { this.server.close(() => { resolve() }) })
  }
}

/**
 * A proxy for every ordered pair of `n` nodes: `link(i, j)` is how node i
 * reaches node j (so a one-way fault is one link, a partition both).
 */
export class ProxyMesh {
  readonly n: number
  private readonly links: TcpProxy[][]

  private constructor (links: TcpProxy[][]) { this.links = links; this.n = links.length }

  /** `targets[j]`: node j's listen port. Every link gets `shape`; link (i, j) is seeded with `seed + i * n + j`. */
  static async start (targets: readonly number[], shape: LinkShape & { seed?: number } = {}): Promise<ProxyMesh> {
    const n = targets.length
    const links: TcpProxy[][] = []
    for (let i = 0; i < n; i++) {
      const row: TcpProxy[] = []
      for (let j = 0; j < n; j++) row.push(await TcpProxy.start(targets[j]!, { ...shape, seed: (shape.seed ?? 1) + i * n + j }))
      links.push(row)
    }
    return new ProxyMesh(links)
  }

  link (i: number, j: number): TcpProxy { return this.links[i]![j]! }

  /** The multiaddr node i dials to reach node j. */
  addr (i: number, j: number, peerId: string): string { return `/ip4/127.0.0.1/tcp/${this.link(i, j).port}/p2p/${peerId}` }

  /** Every port node i may dial (its outgoing links). */
  ports (i: number): Set<number> { return new Set(this.links[i]!.map((p) => p.port)) }

  private all (): TcpProxy[] { return this.links.flat() }

  /**
   * Splits the nodes into `groups` (nodes in no group form one more group):
   * links between groups are cut, links inside a group healed.
   */
  partition (groups: ReadonlyArray<readonly number[]>, mode: CutMode = 'reset'): void {
    const side = new Map<number, number>()
    groups.forEach((g, k) => { for (const i of g) side.set(i, k) })
    for (let i = 0; i < this.n; i++) {
      for (let j = 0; j < this.n; j++) {
        if ((side.get(i) ?? -1) === (side.get(j) ?? -1)) this.link(i, j).heal(); else this.link(i, j).cut(mode)
      }
    }
  }

  /** Cuts node i off from everyone (both directions). */
  isolate (i: number, mode: CutMode = 'reset'): void { this.partition([[i]], mode) }

  heal (): void { for (const p of this.all()) p.heal() }

  shape (s: LinkShape): void { for (const p of this.all()) p.shape(s) }

  /** Node j now listens on `port`. */
  retarget (j: number, port: number): void { for (const row of this.links) row[j]!.retarget(port) }

  get refused (): number { return this.all().reduce((s, p) => s + p.refused, 0) }
  get bytes (): number { return this.all().reduce((s, p) => s + p.bytes, 0) }

  async close (): Promise<void> { await Promise.all(this.all().map(async (p) => { await p.close() })) }
}
