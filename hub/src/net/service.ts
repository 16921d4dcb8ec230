/**
 * The network side of a core user node in one piece (paper §III-A, §IV-B2):
 * the libp2p node, the request/response protocols served from the chain,
 * gossip wired to the chain (received data validated by it; what it admits
 * or mines published), compact block relay and header-first sync.
 */
import type { NetworkParams } from '../core/index.ts'
import type { NetChain } from './chain.ts'
import { CompactRelay } from './compact.ts'
import { chainHandlers, Gossip, type GossipOptions, type Handler } from './gossip.ts'
import { createNetNode, type NetNode, type NetNodeOptions } from './node.ts'
import { ChainClient, serveChain, type ServeChainOptions } from './protocols.ts'
import { Syncer, type SyncOptions } from './sync.ts'

export interface CoreNetOptions extends Omit<NetNodeOptions, 'network'> {
  readonly chain: NetChain
  readonly params: NetworkParams
  readonly serve?: ServeChainOptions
  readonly sync?: SyncOptions
  /** Docchain blocks (gossip.dblockHandler), when this process follows Docchain. */
  readonly dblock?: Handler
  /** How this node announces the blocks it mines (gossip.ts GossipOptions.relay; default compact). */
  readonly relay?: GossipOptions['relay']
}

export class CoreNet {
  readonly net: NetNode
  readonly gossip: Gossip
  readonly sync: Syncer
  readonly compact: CompactRelay
  readonly chain: NetChain
  private readonly unserve: () => Promise<void>

  private constructor (net: NetNode, chain: NetChain, gossip: Gossip, sync: Syncer, compact: CompactRelay, unserve: () => Promise<void>) {
    this.compact = compact
    this.net = net
    this.chain = chain
    this.gossip = gossip
    this.sync = sync
    this.unserve = unserve
  }

  static async start (opts: CoreNetOptions): Promise<CoreNet> {
    const net = await createNetNode({ ...opts, network: opts.chain.network })
    try {
      const unserve = await serveChain(net.libp2p, opts.chain, {
        onAbuse: (peer, points, reason) => { net.peers.penalise(peer, points, reason) },
        ...opts.serve
      })
      const client = new ChainClient(net.libp2p, opts.chain.network, opts.sync?.timeoutMs === undefined ? {} : { timeoutMs: opts.sync.timeoutMs })
      const compact = new CompactRelay(net, opts.chain, opts.params, client)
      const handlers = { ...chainHandlers(opts.chain), cmpct: compact.handle, ...(opts.dblock === undefined ? {} : { dblock: opts.dblock }) }
      const gossip = new Gossip(net, handlers, opts.relay === undefined ? {} : { relay: opts.relay })
      gossip.start()
      gossip.attachChain(opts.chain)
      const sync = new Syncer(net, opts.chain, opts.params, { ...opts.sync, gossip })
      sync.on('error', () => {}) // a failed round is retried on the next event; peers were penalised already
      sync.start()
      return new CoreNet(net, opts.chain, gossip, sync, compact, unserve)
    } catch (err) {
      await net.stop()
      throw err
    }
  }

  async stop (): Promise<void> {
    this.gossip.stop()
    await this.sync.stop()
    await this.unserve().catch(() => {})
    await this.net.stop()
  }
}
