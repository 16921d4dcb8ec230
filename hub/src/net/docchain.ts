/**
 * Docchain catch-up over libp2p (paper §IV-B3: Docchain is readable by
 * anyone; DESIGN §6), over ./reqresp.ts:
 *
 *   docchain/1  from (varint ≥ 1) + max (≤ MAX_DBLOCKS_PER_REQUEST) → the
 *               server's Docchain height, then up to `max` certified
 *               Dblocks from height `from` on, in order, one frame each.
 *
 * An accounting node serves it to anyone, rate-limited per peer; a follower
 * (roles/docchain/follower.ts) asks any member and verifies every
 * certificate itself, so a server that lies only costs the follower a
 * request. Committed Dblocks are also gossiped on the `dblock` topic
 * (./topics.ts) as they commit.
 */
import type { Libp2p, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { dblockProposal, decodeDblock, encodeDblock, Reader, Writer, type Dblock } from '../core/index.ts'
import { BadResponseError } from './errors.ts'
import { dblockHandler, Gossip } from './gossip.ts'
import type { NetNode } from './node.ts'
import { request, serve, type Answer, type ProtocolSpec, type RateLimit, type RequestOptions } from './reqresp.ts'
import { MAX_DBLOCK_MESSAGE } from './topics.ts'

/** Dblocks in one answer: at most ~17 MiB when every block is full, typically a few KiB. */
export const MAX_DBLOCKS_PER_REQUEST = 16
const MAX_HEIGHT = 2 ** 32 - 1

export function docchainProtocol (network: string): ProtocolSpec {
  return { id: `/healthchain/${network}/docchain/1`, maxRequestBytes: 16, maxFrameBytes: MAX_DBLOCK_MESSAGE, maxFrames: 1 + MAX_DBLOCKS_PER_REQUEST }
}

/** Dblock 0 of a consortium: fixed by configuration (its genesis time), the same on every node and follower. */
export function docchainGenesis (gtime: number): Dblock {
  return dblockProposal({ index: 0, gtime, prehash: new Uint8Array(32), view: 0, leader: new Uint8Array(32), txs: [] })
}

/** What a server reads: its committed height and each certified Dblock (roles/accounting: the AccountingNode). */
export interface DocchainSource {
  readonly height: number
  block: (height: number) => Promise<Dblock | undefined>
}

/** Committed Dblocks `from`…, at most `limit`, stopping at the first one missing. */
async function blocksFrom (source: DocchainSource, from: number, limit: number): Promise<Dblock[]> {
  const out: Dblock[] = []
  for (let h = from; out.length < limit && h <= source.height; h++) {
    const b = await source.block(h)
    if (b === undefined) break
    out.push(b)
  }
  return out
}

export interface ServeDocchainOptions {
  readonly rate?: RateLimit
  readonly timeoutMs?: number
  readonly onAbuse?: (peer: string, points: number, reason: string) => void
}

export function encodeDocchainRequest (from: number, max: number): Uint8Array {
  return new Writer(16).varint('from', from, MAX_HEIGHT).varint('max', max, MAX_DBLOCKS_PER_REQUEST).finish()
}

export function decodeDocchainRequest (b: Uint8Array): { from: number, max: number } {
  const r = new Reader(b)
  const from = r.varint('from', MAX_HEIGHT)
  const max = r.varint('max', MAX_DBLOCKS_PER_REQUEST)
  r.end('docchain request')
  return { from: Math.max(1, from), max }
}

/** Serves `source` on the docchain protocol of `network`; resolves to the function that stops serving. */
export async function serveDocchain (libp2p: Libp2p, network: string, source: DocchainSource, opts: ServeDocchainOptions = {}): Promise<() => Promise<void>> {
  const spec = docchainProtocol(network)
  return await serve(libp2p, spec, async (req): Promise<Answer> => {
    const { from, max } = decodeDocchainRequest(req)
    const height = source.height
    const blocks = await blocksFrom(source, from, max)
    return { frames: [new Writer(8).varint('height', height, MAX_HEIGHT).finish(), ...blocks.map(encodeDblock)] }
  }, {
    rate: opts.rate ?? { perSecond: 20, burst: 40 },
    ...(opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }),
    ...(opts.onAbuse === undefined ? {} : { onAbuse: opts.onAbuse })
  })
}

export interface DocchainAnswer {
  /** The server's Docchain height. */
  readonly height: number
  /** Dblocks from the asked height on, decoded but not verified (the caller checks certificates and chaining). */
  readonly blocks: ReadonlyArray<{ readonly block: Dblock, readonly bytes: Uint8Array }>
}

/** One docchain/1 exchange: the server's height and the Dblocks it sent; an answer that does not decode, or is out of order, is BadResponseError. */
export async function requestDocchain (libp2p: Libp2p, peer: PeerId | Multiaddr, network: string, from: number, max = MAX_DBLOCKS_PER_REQUEST, opts: RequestOptions = {}): Promise<DocchainAnswer> {
  const spec = docchainProtocol(network)
  const frames = await request(libp2p, peer, spec, encodeDocchainRequest(from, max), opts)
  try {
    if (frames.length === 0 || frames.length > max + 1) throw new BadResponseError(spec.id, `${frames.length} frames for at most ${max} Dblocks`)
    const r = new Reader(frames[0]!)
    const height = r.varint('height', MAX_HEIGHT)
    r.end('docchain height')
    const blocks = frames.slice(1).map((bytes, i) => {
      const block = decodeDblock(bytes)
      if (block.header.index !== from + i) throw new BadResponseError(spec.id, `Dblock ${block.header.index} where ${from + i} was due`)
      return { block, bytes }
    })
    return { height, blocks }
  } catch (err) {
    if (err instanceof BadResponseError) throw err
    throw new BadResponseError(spec.id, `${peer.toString()}: ${(err as Error).message}`)
  }
}

export interface DocchainPublisher {
  /** Gossips a committed Dblock (with its certificate) on the `dblock` topic. */
  publish: (block: Dblock) => void
  stop: () => Promise<void>
}

/**
 * A member's side of Docchain for readers: serves docchain/1 from `source`
 * to any peer (rate-limited, abuse scored in the node's PeerBook), and
 * gossips each Dblock it is handed. Dblocks other members publish are
 * relayed when their certificate verifies against `members`, so a follower
 * connected to one member hears every member's.
 */
export async function publishDocchain (net: NetNode, members: readonly Uint8Array[], source: DocchainSource, opts: ServeDocchainOptions = {}): Promise<DocchainPublisher> {
  const gossip = new Gossip(net, { dblock: dblockHandler(() => members, () => ({ accepted: true })) })
  gossip.start()
  const unserve = await serveDocchain(net.libp2p, net.network, source, { onAbuse: (peer, points, reason) => { net.peers.penalise(peer, points, reason) }, ...opts })
  return {
    // no subscriber yet is not an error: followers catch up over docchain/1
    publish: (block) => { void gossip.publish('dblock', encodeDblock(block)).catch(() => {}) },
    stop: async () => { gossip.stop(); await unserve() }
  }
}
