/**
 * Storage-node role (paper §III-A: storage nodes run by the consortium keep
 * the encrypted data; §IV-B2; DESIGN §6). A storage node
 *  - pins every CID that a tx_IoT or tx_diag names: the chain follower calls
 *    `onChainCid(digest)` on sight in the mempool and again on confirmation;
 *  - accepts uploads (store-protocol PUT / ANNOUNCE), pins them and
 *    acknowledges, so the uploader can publish its transaction;
 *  - fetches what it lacks from the uploader or the other replicas,
 *    verifying every block against its CID;
 *  - reports replication status: per CID here, and how many replicas hold it.
 * Pins are Helia pins in LevelDB, so they survive restarts and GC.
 */
import type { PeerId } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import type { Tx } from '../../core/index.ts'
import { cidFromDigest, toCid } from '../../ipfs/cid.ts'
import type { CidLike } from '../../ipfs/cid.ts'
import { BlockUnavailableError } from '../../ipfs/errors.ts'
import { IpfsNode, providerLabel } from '../../ipfs/node.ts'
import type { IpfsNodeOptions, Provider } from '../../ipfs/node.ts'
import { HAVE } from '../../ipfs/protocol.ts'

/** The content digest a transaction names: HEIoT (tx_IoT, Eq. 1) or HEdm (tx_diag, Eq. 3). */
export function contentDigestOfTx (tx: Tx): Uint8Array | undefined {
  if (tx.kind === 'iot') return tx.heiot
  if (tx.kind === 'diag') return tx.hedm
  return undefined
}

export type PinState = 'pinned' | 'pending' | 'failed'

export interface CidStatus {
  cid: string
  state: PinState
  /** Why the node pins it: seen on chain, pushed by an uploader, or both. */
  sources: Array<'chain' | 'upload'>
  attempts: number
  lastError?: string
}

export interface StorageReport {
  pinned: number
  pending: number
  failed: CidStatus[]
}

export interface StorageNodeOptions extends IpfsNodeOptions {
  /** The other storage nodes (replicas) to fetch from. */
  replicas?: Provider[]
  /** Fetch attempts per onChainCid call before the CID is marked failed (default 3). */
  fetchAttempts?: number
  /** Delay between fetch attempts, doubled each time (default 200 ms). */
  retryDelayMs?: number
}

export class StorageNode {
  readonly ipfs: IpfsNode
  private readonly replicas: Provider[]
  private readonly fetchAttempts: number
  private readonly retryDelayMs: number
  private readonly status = new Map<string, CidStatus>()
  private readonly inflight = new Map<string, Promise<CidStatus>>()

  private constructor (ipfs: IpfsNode, opts: StorageNodeOptions) {
    this.ipfs = ipfs
    this.replicas = [...(opts.replicas ?? [])]
    this.fetchAttempts = opts.fetchAttempts ?? 3
    this.retryDelayMs = opts.retryDelayMs ?? 200
    ipfs.setAcceptor({
      put: async (block, from) => await this.acceptPut(block, from),
      announce: async (digest, from) => {
        const st = await this.pinDigest(digest, 'upload', [from])
        if (st.state !== 'pinned') throw new Error(st.lastError ?? 'could not fetch the block')
      }
    })
  }

  static async create (opts: StorageNodeOptions): Promise<StorageNode> {
    return new StorageNode(await IpfsNode.create(opts), opts)
  }

  /** Adds a replica to fetch from (e.g. a storage node that came up later). */
  addReplica (p: Provider): void { this.replicas.push(p) }

  /**
   * Called by the chain follower for every HEIoT / HEdm digest it sees (in
   * the mempool or in a block). Resolves with the CID's status once it is
   * pinned or every attempt failed; `hints` are peers likely to hold it
   * (the uploader), asked before the replicas.
   */
  async onChainCid (digest: Uint8Array, hints: Provider[] = []): Promise<CidStatus> {
    return await this.pinDigest(digest, 'chain', hints)
  }

  /**
   * The chain follower's entry point per transaction: pins HEIoT of a tx_IoT
   * and HEdm of a tx_diag; other kinds name no stored content (undefined).
   */
  async onTx (tx: Tx, hints: Provider[] = []): Promise<CidStatus | undefined> {
    const digest = contentDigestOfTx(tx)
    return digest === undefined ? undefined : await this.onChainCid(digest, hints)
  }

  /** This node's status for one CID (undefined if never told of it and not pinned). */
  async statusOf (cidLike: CidLike): Promise<CidStatus | undefined> {
    const cid = toCid(cidLike)
    const known = this.status.get(cid.toString())
    if (known !== undefined) return { ...known }
    const meta = await this.ipfs.pinMetadata(cid)
    if (meta === undefined) return undefined
    const sources = String(meta.sources ?? '').split(',').filter((x): x is 'chain' | 'upload' => x === 'chain' || x === 'upload')
    return { cid: cid.toString(), state: 'pinned', sources, attempts: 0 }
  }

  /** Counts of pinned (persisted pins, so also those from before a restart), pending and failed CIDs. */
  async report (): Promise<StorageReport> {
    let pinned = 0
    for await (const _ of this.ipfs.pins()) pinned++
    const all = [...this.status.values()]
    return {
      pinned,
      pending: all.filter((s) => s.state === 'pending').length,
      failed: all.filter((s) => s.state === 'failed').map((s) => ({ ...s }))
    }
  }

  /** How many nodes — this one and each replica that answers — hold the CID pinned. */
  async replication (cidLike: CidLike, timeoutMs?: number): Promise<{ pinnedBy: string[], unreachable: string[] }> {
    const cid = toCid(cidLike)
    const pinnedBy: string[] = []
    const unreachable: string[] = []
    if (await this.ipfs.isPinned(cid)) pinnedBy.push(this.ipfs.peerId.toString())
    await Promise.all(this.replicas.map(async (r) => {
      try {
        if (await this.ipfs.peerHas(r, cid, timeoutMs === undefined ? {} : { timeoutMs }) === HAVE.PINNED) pinnedBy.push(providerLabel(r))
      } catch {
        unreachable.push(providerLabel(r))
      }
    }))
    return { pinnedBy, unreachable }
  }

  /**
   * Verifies every pinned block against its CID; a missing or altered copy
   * is fetched again from the replicas. Returns what was found.
   */
  async audit (): Promise<{ checked: number, repaired: string[], failed: string[] }> {
    const out = { checked: 0, repaired: [] as string[], failed: [] as string[] }
    const cids: CID[] = []
    for await (const p of this.ipfs.pins()) cids.push(p.cid)
    for (const cid of cids) {
      out.checked++
      if (await this.ipfs.getLocal(cid) !== undefined) continue
      const st = await this.pinDigest(cid.multihash.digest, 'chain', [])
      ;(st.state === 'pinned' ? out.repaired : out.failed).push(cid.toString())
    }
    return out
  }

  /**
   * Unpins uploads that no chain has named within `maxAgeMs` of their
   * arrival (pass the network's txMaxAge: a tx_IoT older than that can no
   * longer be mined, so its batch will never be referenced), then runs GC.
   * Pins seen on chain, and pins this role did not make, are never touched.
   */
  async pruneUnconfirmed (maxAgeMs: number, now = Date.now()): Promise<string[]> {
    const stale: CID[] = []
    for await (const p of this.ipfs.pins()) {
      if (p.metadata.sources !== 'upload') continue
      const at = p.metadata.pinnedAt
      if (typeof at === 'number' && now - at < maxAgeMs) continue
      if (this.inflight.has(p.cid.toString())) continue
      stale.push(p.cid)
    }
    for (const cid of stale) {
      await this.ipfs.unpin(cid)
      this.status.delete(cid.toString())
    }
    if (stale.length > 0) await this.ipfs.gc()
    return stale.map((c) => c.toString())
  }

  /** Tries every failed CID again. */
  async retryFailed (): Promise<CidStatus[]> {
    const failed = [...this.status.values()].filter((s) => s.state === 'failed')
    return await Promise.all(failed.map(async (s) => await this.pinDigest(toCid(s.cid).multihash.digest, s.sources[0] ?? 'chain', [])))
  }

  async stop (): Promise<void> {
    this.ipfs.setAcceptor(undefined)
    await Promise.allSettled(this.inflight.values())
    await this.ipfs.stop()
  }

  /** PUT: the uploader sent the bytes (≤ 1 MiB, checked by put); store, pin, then the protocol acks. */
  private async acceptPut (block: Uint8Array, _from: PeerId): Promise<Uint8Array> {
    let st: CidStatus | undefined
    const cid = await this.ipfs.put(block, {
      pin: (c) => {
        st = this.entry(c, 'upload')
        return { sources: st.sources.join(','), pinnedAt: Date.now() }
      }
    })
    st!.state = 'pinned'
    delete st!.lastError
    return cid.multihash.digest
  }

  private entry (cid: CID, source: 'chain' | 'upload'): CidStatus {
    const key = cid.toString()
    let st = this.status.get(key)
    if (st === undefined) {
      st = { cid: key, state: 'pending', sources: [], attempts: 0 }
      this.status.set(key, st)
    }
    if (!st.sources.includes(source)) st.sources.push(source)
    return st
  }

  /** Pins a CID, fetching it if needed; concurrent calls for one CID share the work. */
  private async pinDigest (digest: Uint8Array, source: 'chain' | 'upload', hints: Provider[]): Promise<CidStatus> {
    const cid = cidFromDigest(digest)
    const key = cid.toString()
    const st = this.entry(cid, source)
    const running = this.inflight.get(key)
    if (running !== undefined) return await running
    const work = (async (): Promise<CidStatus> => {
      const meta = (): Record<string, string | number> => ({ sources: st.sources.join(','), pinnedAt: Date.now() })
      if (await this.ipfs.getLocal(cid) !== undefined) {
        await this.ipfs.pin(cid, meta())
        st.state = 'pinned'
        return { ...st }
      }
      st.state = 'pending'
      for (let i = 0; i < this.fetchAttempts; i++) {
        st.attempts++
        try {
          await this.ipfs.get(cid, { providers: [...hints, ...this.replicas], pin: meta() })
          st.state = 'pinned'
          delete st.lastError
          return { ...st }
        } catch (err) {
          st.lastError = err instanceof BlockUnavailableError ? err.message : `${(err as Error).name}: ${(err as Error).message}`
          if (i + 1 < this.fetchAttempts) await new Promise((resolve) => setTimeout(resolve, this.retryDelayMs * 2 ** i))
        }
      }
      st.state = 'failed'
      return { ...st }
    })()
    this.inflight.set(key, work)
    try { return await work } finally { this.inflight.delete(key) }
  }
}
