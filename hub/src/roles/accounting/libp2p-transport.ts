/**
 * PBFT messages between accounting nodes over libp2p (paper §IV-B2 network
 * layer; DESIGN §6: request/response streams for PBFT). Each message is one
 * length-prefixed request on `/healthchain/pbft/1.0.0` (net/reqresp.ts) and
 * is answered with no frames. PBFT messages are signed end to end
 * (core/pbft/envelope.ts) and the replica tolerates loss, duplication and
 * reordering, so the transport only moves bytes; it accepts requests only
 * from the configured accounting peers, within a rate limit.
 */
import type { Libp2p } from '@libp2p/interface'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { toHex } from '../../core/index.ts'
import { request, serve, type ProtocolSpec } from '../../net/reqresp.ts'
import type { PbftTransport } from './transport.ts'

export const PBFT_PROTOCOL: ProtocolSpec = { id: '/healthchain/pbft/1.0.0', maxRequestBytes: 2 * 1024 * 1024, maxFrameBytes: 16, maxFrames: 0 }

export interface Libp2pPbftOptions {
  readonly libp2p: Libp2p
  /** This accounting node's ID (Ed25519 public key). */
  readonly self: Uint8Array
  /** Every accounting node's ID (hex) → its dialable multiaddr with /p2p/<peer id>. */
  readonly peers: ReadonlyMap<string, string>
  /** Called when a send fails (the replica's timers recover from the loss). */
  readonly onError?: (peer: string, err: Error) => void
}

export async function libp2pPbftTransport (o: Libp2pPbftOptions): Promise<PbftTransport> {
  const addrs = new Map<string, Multiaddr>([...o.peers].map(([id, a]) => [id, multiaddr(a)]))
  const allowed = new Set([...addrs.values()].map((a) => a.getComponents().find((c) => c.name === 'p2p')?.value).filter((x): x is string => x !== undefined))
  let handler: ((bytes: Uint8Array) => void) | null = null
  const unserve = await serve(o.libp2p, PBFT_PROTOCOL, async (req, peer) => {
    if (!allowed.has(peer)) return { status: 1, reason: 'not an accounting node' }
    handler?.(req)
    return { frames: [] }
  }, { rate: { perSecond: 20_000, burst: 40_000 }, maxInboundStreams: 1024 })
  const me = toHex(o.self)
  const sendTo = (id: string, bytes: Uint8Array): void => {
    const a = addrs.get(id)
    if (a === undefined) return
    request(o.libp2p, a, PBFT_PROTOCOL, bytes, { timeoutMs: 5000 }).catch((err: Error) => { o.onError?.(id, err) })
  }
  return {
    send: (to, bytes) => {
      if (to !== null) { sendTo(toHex(to), bytes); return }
      for (const id of addrs.keys()) if (id !== me) sendTo(id, bytes)
    },
    onMessage: (h) => { handler = h },
    close: async () => { handler = null; await unserve() }
  }
}
