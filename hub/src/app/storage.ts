/**
 * The storage daemon (paper §III-A: the consortium's storage nodes keep the
 * encrypted data; §IV-B2; DESIGN §3.1, §6): one process, one libp2p node
 * (its key in `dataDir/libp2p.seed`) carrying
 * - the Helia storage node (roles/storage): uploads pushed or announced by
 *   hubs and doctors are pinned and acknowledged, blocks are served to any
 *   peer, what it lacks is fetched from the uploader, connected peers or the
 *   configured replicas;
 * - a non-mining core user node following Userchain from the configured
 *   core nodes (roles/core/follow.ts): the HEIoT of every tx_IoT seen in the
 *   mempool or in a connected block is pinned (fetched if needed), so every
 *   CID Userchain names stays stored even if its uploader never pushed it
 *   here.
 * HEdm of a tx_diag is named on Docchain, which this daemon does not follow
 * yet: until it does, an EDM is stored here only when its doctor uploads it
 * (the doctors upload with replication, Alg. 4).
 *
 * `startStorage` returns the daemon's service layer: plain async methods
 * with JSON-able answers. `healthchain storage` (cli/storage.ts) runs it.
 */
import { join } from 'node:path'
import { NETWORKS } from '../core/index.ts'
import type { StorageConfig } from '../config/storage.ts'
import { followUserchain, onUserchainTxs } from '../roles/core/follow.ts'
import { StorageNode, type CidStatus } from '../roles/storage/index.ts'
import { listenError } from '../config/ports.ts'

export interface StorageDeps {
  /** Progress lines (Userchain tips, fetch failures, retries); default: none. */
  readonly log?: (line: string) => void
}

export interface StorageStatus {
  readonly peerId: string
  /** Where hubs, doctors and replicas reach this node (with /p2p/<peer id>). */
  readonly multiaddrs: string[]
  /** CIDs pinned (persisted: those from before a restart count too). */
  readonly pinned: number
  /** CIDs being fetched now. */
  readonly pending: number
  /** CIDs named on chain whose every fetch attempt failed (tried again every retryFailedEveryMs). */
  readonly failed: number
  readonly userchainHeight: number
  /** libp2p peers connected. */
  readonly peers: number
}

export interface StorageDaemon {
  status(): Promise<StorageStatus>
  /** This node's state for one CID (base32 string), or null when it never heard of it. */
  cid(cid: string): Promise<CidStatus | null>
  /** The CIDs whose fetch failed, with the last error. */
  failed(): Promise<CidStatus[]>
  /** Tries every failed CID again now. */
  retryFailed(): Promise<CidStatus[]>
  /** Verifies every pinned block against its CID, fetching a damaged or missing one again. */
  audit(): Promise<{ checked: number, repaired: string[], failed: string[] }>
  /** Stops following Userchain and serving blocks, and closes the stores. */
  stop(): Promise<void>
}

export async function startStorage (cfg: StorageConfig, deps: StorageDeps = {}): Promise<StorageDaemon> {
  const log = deps.log ?? (() => {})
  const params = NETWORKS[cfg.network]
  const follower = await followUserchain({ params, chainDir: join(cfg.dataDir, 'userchain', params.name), netDir: cfg.dataDir, listen: cfg.listen, bootstrap: cfg.userchain.bootstrap })
    .catch((err: unknown) => { throw listenError(err, 'listen') })
  // subscribed before anything can arrive, so no tx is missed while Helia opens
  let resolveNode!: (n: StorageNode | undefined) => void
  const nodeReady = new Promise<StorageNode | undefined>((resolve) => { resolveNode = resolve })
  const onTip = (e: { height: number, hex: string }): void => { log(`userchain ${e.height} ${e.hex}`) }
  follower.core.on('tip', onTip)
  const unsubscribe = onUserchainTxs(follower.core, (tx) => {
    void nodeReady.then(async (node) => {
      const st = await node?.onTx(tx)
      if (st?.state === 'failed') log(`fetch failed ${st.cid}: ${st.lastError ?? 'unknown'} (retried every ${cfg.retryFailedEveryMs} ms)`)
    }).catch((err: Error) => { log(`pin: ${err.message}`) })
  })
  let node: StorageNode
  try {
    node = await StorageNode.create({
      dataDir: cfg.dataDir,
      libp2p: follower.net.net.libp2p,
      replicas: [...cfg.replicas],
      fetchAttempts: cfg.fetchAttempts,
      retryDelayMs: cfg.retryDelayMs
    })
  } catch (err) {
    unsubscribe()
    follower.core.off('tip', onTip)
    resolveNode(undefined)
    await follower.stop()
    throw err
  }
  resolveNode(node)

  let retrying: Promise<unknown> = Promise.resolve()
  const retryFailed = async (): Promise<CidStatus[]> => {
    const out = await node.retryFailed()
    for (const s of out) if (s.state === 'pinned') log(`pinned ${s.cid} on retry`)
    return out
  }
  const timer = cfg.retryFailedEveryMs > 0
    ? setInterval(() => { retrying = retryFailed().catch((err: Error) => { log(`retry: ${err.message}`) }) }, cfg.retryFailedEveryMs)
    : undefined

  let stopped: Promise<void> | undefined
  return {
    async status () {
      const r = await node.report()
      return {
        peerId: follower.net.net.peerId.toString(),
        multiaddrs: follower.net.net.addrs().map(String),
        pinned: r.pinned,
        pending: r.pending,
        failed: r.failed.length,
        userchainHeight: follower.core.store.height,
        peers: follower.net.net.libp2p.getPeers().length
      }
    },
    async cid (cid) { return await node.statusOf(cid) ?? null },
    async failed () { return (await node.report()).failed },
    retryFailed,
    async audit () { return await node.audit() },
    async stop () {
      stopped ??= (async () => {
        clearInterval(timer)
        unsubscribe()
        follower.core.off('tip', onTip)
        await retrying
        try { await node.stop() } finally { await follower.stop() }
      })()
      await stopped
    }
  }
}
