/**
 * A non-mining core user node that follows Userchain over libp2p (paper
 * §III-A: the consortium's nodes read Userchain; §IV-B2): the chain store
 * and mempool (CoreNode) with the network side (CoreNet: gossip, the served
 * protocols, header-first sync) dialling the configured core nodes. The
 * accounting node follows it for its tx_diag checks, the storage node for
 * the CIDs it must pin (DESIGN §6).
 */
import type { NetworkParams, Tx } from '../../core/index.ts'
import { CoreNet } from '../../net/service.ts'
import { coreChain } from '../../net/core-chain.ts'
import type { AddResult } from '../../store/chain.ts'
import { CoreNode } from './node.ts'

export interface UserchainFollowerOptions {
  readonly params: NetworkParams
  /** The chain store's directory. */
  readonly chainDir: string
  /** The libp2p node's directory (its key is `<netDir>/libp2p.seed`). */
  readonly netDir: string
  /** libp2p listen multiaddrs. */
  readonly listen: readonly string[]
  /** Core user nodes (multiaddrs with /p2p/<peer id>) to dial and sync from. */
  readonly bootstrap: readonly string[]
}

export interface UserchainFollower {
  readonly core: CoreNode
  readonly net: CoreNet
  /** Stops the network side, then closes the chain store. */
  stop(): Promise<void>
}

/** Opens the chain store (one signature thread: it verifies others' blocks, it mines none) and starts libp2p on it. */
export async function followUserchain (o: UserchainFollowerOptions): Promise<UserchainFollower> {
  const core = await CoreNode.open({ dir: o.chainDir, params: o.params, verifyThreads: 1 })
  let net: CoreNet
  try {
    net = await CoreNet.start({ chain: coreChain(core), params: o.params, dataDir: o.netDir, listen: o.listen, bootstrap: o.bootstrap })
  } catch (err) {
    await core.close()
    throw err
  }
  return {
    core,
    net,
    async stop () {
      try { await net.stop() } finally { await core.close() }
    }
  }
}

/**
 * Calls `fn` with every transaction the core node admits to its mempool
 * (the real-time path) and every transaction of each block connected to the
 * best chain (coinbase included); returns the unsubscribe.
 */
export function onUserchainTxs (core: CoreNode, fn: (tx: Tx) => void): () => void {
  const onTx = (id: string): void => {
    const e = core.mempool.get(id)
    if (e !== undefined) fn(e.bt.tx)
  }
  const onBlock = (r: AddResult): void => {
    for (const b of r.connected) for (const t of b.txs) fn(t.tx)
  }
  core.on('tx', onTx)
  core.on('block', onBlock)
  return () => { core.off('tx', onTx); core.off('block', onBlock) }
}
