/**
 * A loopback TCP proxy for network-fault tests: listens on 127.0.0.1 port 0
 * and forwards to a target port. Put one between every ordered pair of libp2p
 * nodes (node A dials B at the proxy's address) and a partition is `cut()` on
 * the links that cross it: open connections are destroyed, new ones refused
 * until `heal()`. `delayMs` holds each chunk back (seeded jitter), so links
 * can be slow without being down; `onData` sees every byte in both
 * directions (what an observer on the wire would capture — Noise-encrypted
 * for libp2p).
 */
import { createServer, connect, type Server, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'

export interface ProxyOptions {
  /** Extra latency per chunk, ms (default 0). */
  delayMs?: number
  /** Up to this much more, uniformly (default 0). */
  jitterMs?: number
  /** Seed of the jitter. */
  seed?: number
  onData?: (dir: 'out' | 'in', chunk: Buffer) => void
}

export class TcpProxy {
  readonly server: Server
  private readonly target: number
  private readonly opts: ProxyOptions
  private readonly sockets = new Set<Socket>()
  private down = false
  private x: number
  /** Connections refused or cut while the link was down. */
  refused = 0

  private constructor (server: Server, target: number, opts: ProxyOptions) {
    this.server = server
    this.target = target
    this.opts = opts
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

  private jitter (): number {
    this.x ^= this.x << 13; this.x >>>= 0; this.x ^= this.x >>> 17; this.x ^= this.x << 5; this.x >>>= 0
    return (this.opts.delayMs ?? 0) + (this.x / 0x100000000) * (this.opts.jitterMs ?? 0)
  }

  private pipe (from: Socket, to: Socket, dir: 'out' | 'in'): void {
    // chunks keep their order: each waits for the one before it
    let chain = Promise.resolve()
    from.on('data', (chunk: Buffer) => {
      this.opts.onData?.(dir, chunk)
      const wait = this.jitter()
      chain = chain.then(async () => {
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
        if (!to.destroyed) to.write(chunk)
      })
    })
    from.on('end', () => { void chain.then(() => { to.end() }) })
  }

  private accept (client: Socket): void {
    if (this.down) { this.refused++; client.destroy(); return }
    const upstream = connect(this.target, '127.0.0.1')
    for (const s of [client, upstream]) {
      this.sockets.add(s)
      s.on('error', () => {})
      s.on('close', () => { this.sockets.delete(s); client.destroy(); upstream.destroy() })
    }
    this.pipe(client, upstream, 'out')
    this.pipe(upstream, client, 'in')
  }

  /** Partition: destroy open connections and refuse new ones. */
  cut (): void {
    this.down = true
    for (const s of this.sockets) { this.refused++; s.destroy() }
  }

  heal (): void { this.down = false }

  async close (): Promise<void> {
    this.cut()
    await new Promise<void>((resolve) => { this.server.close(() => { resolve() }) })
  }
}
