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
 * - with a `docchain` section, a Docchain reader (roles/docchain/follower.ts):
 *   the HEdm of every committed tx_diag is pinned, and the registry folded
 *   from it says which doctors may upload.
 * - erase requests (roles/storage/erase-protocol.ts): a patient's signed
 *   withdrawal of consent drops every pin of its data here, and none is
 *   pinned again.
 * Uploads are admitted by roles/storage/admission.ts (signed by a user with a
 * confirmed tx_key or an active doctor), held unconfirmed under the signer's
 * quota until a transaction names them, and pruned every
 * `uploads.pruneEverySeconds` once `uploads.deadlineSeconds` passed.
 *
 * `startStorage` returns the daemon's service layer: plain async methods
 * with JSON-able answers. `healthchain storage` (cli/storage.ts) runs it.
 */
import { join } from 'node:path'
import { fromHex, NETWORKS } from '../core/index.ts'
import type { StorageConfig } from '../config/storage.ts'
import { registryOf } from '../config/docchain.ts'
import { followUserchain, onUserchainTxs } from '../roles/core/follow.ts'
import { DocchainFollower } from '../roles/docchain/follower.ts'
import { chainAdmission, contentDigestOfTx, serveErase, StorageNode, type CidStatus, type EraseRefusal, type EraseService, type EstablishedAs, type QuotaUse } from '../roles/storage/index.ts'
import { startPinningApi, type PinningApi } from './pinning-api.ts'
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
  /** Uploads held until a transaction names them (pruned after uploads.deadlineSeconds). */
  readonly unconfirmed: number
  /** Uploads refused since start, by reason. */
  readonly refused: Readonly<Record<'unsigned' | 'bad-signature' | 'not-established' | 'quota' | 'withdrawn', number>>
  /** Erase requests refused since start, by reason. */
  readonly eraseRefused: Readonly<Record<EraseRefusal, number>>
  /** Docchain height read, when this node follows Docchain. */
  readonly docchainHeight: number | null
  /** The Pinning Service API's base URL, when served. */
  readonly pinningApi: string | null
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
  /** Prunes the uploads no transaction named before their deadline now (also done every uploads.pruneEverySeconds). */
  prune(): Promise<string[]>
  /** What an identity (hex ID) holds here unconfirmed, against its quota. */
  usage(id: string): QuotaUse
  /** The storage node role (the Pinning Service API is built on it). */
  readonly node: StorageNode
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
  let created: StorageNode | undefined
  let docchain: DocchainFollower | undefined
  let pinning: PinningApi | undefined
  let erase: EraseService | undefined
  const peerId = follower.net.net.peerId.toString()
  // a user with a confirmed tx_key; a doctor active in the registry folded from Docchain
  const established = (id: Uint8Array): EstablishedAs | null =>
    follower.core.store.latestEpoch(id) > 0 ? 'user' : docchain?.registry.status(id) === 'active' ? 'doctor' : null
  try {
    created = await StorageNode.create({
      dataDir: cfg.dataDir,
      libp2p: follower.net.net.libp2p,
      replicas: [...cfg.replicas],
      fetchAttempts: cfg.fetchAttempts,
      retryDelayMs: cfg.retryDelayMs,
      quota: { bytes: cfg.uploads.quotaBytes, uploads: cfg.uploads.quotaUploads },
      admission: chainAdmission({
        peerId,
        maxSkewSeconds: cfg.uploads.maxSkewSeconds,
        established,
        catchUp: async (from) => { await Promise.race([follower.net.sync.schedule(from.toString()), new Promise((resolve) => setTimeout(resolve, 5_000).unref())]) }
      })
    })
    erase = await serveErase(follower.net.net.libp2p, created, { log })
    if (cfg.docchain !== undefined) {
      const dc = cfg.docchain
      docchain = await DocchainFollower.open({
        net: follower.net.net,
        members: dc.members.map((m) => fromHex('docchain.members', m.id)),
        genesisTime: dc.genesisTime,
        registry: registryOf(dc.registry),
        peers: dc.members.flatMap((m) => m.addr === undefined ? [] : [m.addr]),
        dir: join(cfg.dataDir, 'docchain'),
        onDblock: async (b) => {
          // the HEdm of each committed tx_diag (Eq. 3) is kept for good, like HEIoT on Userchain
          for (const t of b.txs) {
            const digest = contentDigestOfTx(t.tx)
            if (digest === undefined) continue
            const st = await created!.onChainCid(digest)
            if (st.state === 'failed') log(`fetch failed ${st.cid}: ${st.lastError ?? 'unknown'} (retried every ${cfg.retryFailedEveryMs} ms)`)
          }
          return false
        },
        log,
        pollMs: dc.pollSeconds * 1000
      })
      docchain.start()
    }
    if (cfg.pinningApi !== undefined) {
      pinning = await startPinningApi({
        ...cfg.pinningApi,
        node: created,
        dataDir: cfg.dataDir,
        established,
        maxSkewSeconds: cfg.uploads.maxSkewSeconds,
        deadlineSeconds: cfg.uploads.deadlineSeconds,
        log
      })
    }
  } catch (err) {
    unsubscribe()
    follower.core.off('tip', onTip)
    resolveNode(undefined)
    await erase?.stop().catch(() => {})
    await docchain?.stop().catch(() => {})
    await created?.stop().catch(() => {})
    await follower.stop()
    throw err
  }
  const node = created
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
  let pruning: Promise<unknown> = Promise.resolve()
  const prune = async (): Promise<string[]> => {
    const out = await node.pruneUnconfirmed(cfg.uploads.deadlineSeconds * 1000)
    for (const cid of out) log(`pruned ${cid}: no transaction named it within ${cfg.uploads.deadlineSeconds} s`)
    return out
  }
  const pruneTimer = cfg.uploads.pruneEverySeconds > 0
    ? setInterval(() => { pruning = prune().catch((err: Error) => { log(`prune: ${err.message}`) }) }, cfg.uploads.pruneEverySeconds * 1000)
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
        unconfirmed: r.unconfirmed,
        refused: { ...node.refused },
        eraseRefused: { ...erase!.refused },
        docchainHeight: docchain?.height ?? null,
        pinningApi: pinning?.url ?? null,
        userchainHeight: follower.core.store.height,
        peers: follower.net.net.libp2p.getPeers().length
      }
    },
    async cid (cid) { return await node.statusOf(cid) ?? null },
    async failed () { return (await node.report()).failed },
    retryFailed,
    async audit () { return await node.audit() },
    prune,
    usage: (id) => node.usage(id.toLowerCase()),
    node,
    async stop () {
      stopped ??= (async () => {
        clearInterval(timer)
        clearInterval(pruneTimer)
        unsubscribe()
        follower.core.off('tip', onTip)
        await pinning?.close().catch(() => {})
        await erase?.stop().catch(() => {})
        await retrying
        await pruning
        await docchain?.stop().catch(() => {})
        try { await node.stop() } finally { await follower.stop() }
      })()
      await stopped
    }
  }
}
