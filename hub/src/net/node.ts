/**
 * The process's one libp2p node (DESIGN §2, §6; paper §IV-B2 network layer):
 * TCP + Noise + Yamux, identify, and @libp2p/gossipsub 17 for the gossip
 * topics. It listens on the configured addresses, dials the configured
 * bootstrap peers (and redials them while they are away), and keeps its
 * peer id in `<dataDir>/libp2p.seed` (32 random bytes, mode 0600 — the same
 * file the IPFS layer uses, so ipfs/ can run on this node instead of its
 * own: pass `net.libp2p` as IpfsNodeOptions.libp2p).
 *
 * Peer scoring: gossipsub's P4 (invalid messages) is weighted on every
 * Healthchain topic, and our PeerBook (./peers.ts) feeds its P5
 * application score; a banned or blocked peer is refused by the
 * connection gater.
 */
import { readFile, writeFile, mkdir } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { createLibp2p, type Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify, type Identify } from '@libp2p/identify'
import { gossipsub, type GossipSub, type GossipsubOpts } from '@libp2p/gossipsub'
import { createTopicScoreParams } from '@libp2p/gossipsub/score'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { checkBytes, sha256 } from '../core/index.ts'
import { ipOf, PeerBook, peerGater, type PeerBookOptions } from './peers.ts'
import { MAX_GOSSIP_RPC_BYTES, topicsFor, type Topics } from './topics.ts'

export const DEFAULT_LISTEN = ['/ip4/127.0.0.1/tcp/0']
export const PEER_KEY_FILE = 'libp2p.seed'

export interface NetNodeOptions {
  /** Where the peer key lives (`<dataDir>/libp2p.seed`); without it the peer id is fresh each run. */
  readonly dataDir?: string
  /** Network name: gossip topics are per network. */
  readonly network: string
  /** Listen multiaddrs (default 127.0.0.1, ephemeral port). */
  readonly listen?: readonly string[]
  /** Multiaddrs with /p2p/<id> to dial at start and redial while disconnected. */
  readonly bootstrap?: readonly string[]
  /** Redial period for bootstrap peers, ms (default 5000; 0 = dial once). */
  readonly redialMs?: number
  /** Largest gossipsub RPC frame accepted (default MAX_GOSSIP_RPC_BYTES). */
  readonly maxGossipBytes?: number
  readonly peerBook?: PeerBookOptions
  /** Extra gossipsub options (tests). */
  readonly gossip?: Partial<GossipsubOpts>
  /**
   * Addresses this node must not dial (default: none). Peers learn each
   * other's listen addresses by identify; a node that may reach its peers
   * only by given routes (a private network, or the fault tests' proxies)
   * refuses the others here.
   */
  readonly denyDialMultiaddr?: (ma: Multiaddr) => boolean
}

export type Services = { identify: Identify, pubsub: GossipSub }

export interface NetNode {
  readonly libp2p: Libp2p<Services>
  readonly pubsub: GossipSub
  readonly peers: PeerBook
  readonly topics: Topics
  readonly peerId: PeerId
  readonly network: string
  /** gossipsub's score of a peer (P1–P7, our PeerBook as P5). */
  gossipScore(peer: PeerId | string): number
  /** Multiaddrs to reach this node, each with /p2p/<id>. */
  addrs(): Multiaddr[]
  connect(addr: string | Multiaddr, timeoutMs?: number): Promise<void>
  /** Refuses `peer` until unblock (hangs up now). */
  block(peer: PeerId | string): Promise<void>
  unblock(peer: PeerId | string): void
  stop(): Promise<void>
}

/** The node key from `<dir>/libp2p.seed`, created (0600) on first use, so the peer id survives restarts. */
export async function loadOrCreatePeerKey (dir: string): Promise<PrivateKey> {
  const file = join(dir, PEER_KEY_FILE)
  let seed: Uint8Array
  try {
    seed = new Uint8Array(await readFile(file))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    await mkdir(dir, { recursive: true })
    seed = new Uint8Array(randomBytes(32))
    try {
      await writeFile(file, seed, { mode: 0o600, flag: 'wx' })
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
      seed = new Uint8Array(await readFile(file)) // another opener won the race
    }
  }
  return await generateKeyPairFromSeed('Ed25519', checkBytes(PEER_KEY_FILE, seed, 32))
}

/** Gossip message id: SHA-256 of the data (messages are unsigned: txs carry their signature, blocks their PoW). */
function msgId (msg: { data: Uint8Array }): Uint8Array { return sha256(msg.data) }

export async function createNetNode (opts: NetNodeOptions): Promise<NetNode> {
  const peers = new PeerBook(opts.peerBook)
  const topics = topicsFor(opts.network)
  const topicScore = createTopicScoreParams({
    topicWeight: 1,
    // Healthchain topics are low-traffic (a Ublock a minute): no penalty for quiet mesh peers.
    meshMessageDeliveriesWeight: 0,
    meshFailurePenaltyWeight: 0,
    // P4: each invalid message (validator Reject) costs its square × 10.
    invalidMessageDeliveriesWeight: -10,
    invalidMessageDeliveriesDecay: 0.9
  })
  const privateKey = opts.dataDir === undefined ? undefined : await loadOrCreatePeerKey(opts.dataDir)
  const libp2p = await createLibp2p({
    ...(privateKey === undefined ? {} : { privateKey }),
    addresses: { listen: [...(opts.listen ?? DEFAULT_LISTEN)] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    peerDiscovery: [],
    connectionGater: peerGater(peers, opts.denyDialMultiaddr),
    services: {
      identify: identify(),
      pubsub: gossipsub({
        globalSignaturePolicy: 'StrictNoSign',
        msgIdFn: msgId,
        allowPublishToZeroTopicPeers: true,
        ignoreDuplicatePublishError: true,
        emitSelf: false,
        maxInboundDataLength: opts.maxGossipBytes ?? MAX_GOSSIP_RPC_BYTES,
        maxOutboundBufferSize: 8 * (opts.maxGossipBytes ?? MAX_GOSSIP_RPC_BYTES),
        allowedTopics: [topics.tx, topics.ublock, topics.cmpct, topics.dblock, topics.prelim],
        scoreParams: {
          topics: { [topics.tx]: topicScore, [topics.ublock]: topicScore, [topics.cmpct]: topicScore, [topics.dblock]: topicScore, [topics.prelim]: topicScore },
          appSpecificScore: (p) => peers.score(p),
          appSpecificWeight: 1
        },
        ...opts.gossip
      })
    }
  })
  const pubsub = libp2p.services.pubsub
  const hangUp = async (peer: string): Promise<void> => {
    await Promise.all(libp2p.getConnections().filter((c) => c.remotePeer.toString() === peer).map(async (c) => { await c.close().catch(() => { c.abort(new Error('hung up')) }) }))
  }
  peers.onBan = (peer) => {
    void hangUp(peer)
    // and every other peer behind the address now banned
    for (const c of libp2p.getConnections()) { const ip = ipOf(c.remoteAddr); if (ip !== undefined && peers.isBannedAddress(ip)) void hangUp(c.remotePeer.toString()) }
  }
  libp2p.addEventListener('connection:open', (evt) => { peers.noteAddress(evt.detail.remotePeer.toString(), ipOf(evt.detail.remoteAddr)) })

  let stopped = false
  const bootstrap = (opts.bootstrap ?? []).map((a) => multiaddr(a))
  const dialBootstrap = async (): Promise<void> => {
    const connected = new Set(libp2p.getConnections().map((c) => c.remotePeer.toString()))
    await Promise.all(bootstrap.map(async (ma) => {
      const id = ma.getComponents().find((c) => c.name === 'p2p')?.value
      if (id !== undefined && (connected.has(id) || peers.refuses(id))) return
      await libp2p.dial(ma, { signal: AbortSignal.timeout(10_000) }).catch(() => {})
    }))
  }
  void dialBootstrap()
  const redialMs = opts.redialMs ?? 5000
  const timer = redialMs > 0 && bootstrap.length > 0 ? setInterval(() => { if (!stopped) void dialBootstrap() }, redialMs) : undefined
  timer?.unref()

  return {
    libp2p,
    pubsub,
    peers,
    topics,
    peerId: libp2p.peerId,
    network: opts.network,
    addrs: () => libp2p.getMultiaddrs(),
    gossipScore: (peer) => (pubsub as unknown as { getScore: (p: string) => number }).getScore(peer.toString()),
    async connect (addr, timeoutMs = 10_000) {
      await libp2p.dial(typeof addr === 'string' ? multiaddr(addr) : addr, { signal: AbortSignal.timeout(timeoutMs) })
    },
    async block (peer) {
      const id = typeof peer === 'string' ? peer : peer.toString()
      peers.block(id)
      await hangUp(id)
    },
    unblock (peer) { peers.unblock(typeof peer === 'string' ? peer : peer.toString()) },
    async stop () {
      stopped = true
      if (timer !== undefined) clearInterval(timer)
      await libp2p.stop()
    }
  }
}
