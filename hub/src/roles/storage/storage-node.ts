/**
 * Storage-node role (paper §III-A: storage nodes run by the consortium keep
 * the encrypted data; §IV-B2; DESIGN §6). A storage node
 *  - pins every CID that a tx_IoT or tx_diag names: the chain follower calls
 *    `onChainCid(digest)` on sight in the mempool and again on confirmation;
 *  - accepts uploads (store-protocol PUT / ANNOUNCE) that its Admission
 *    admits (roles/storage/admission.ts: signed by an established identity),
 *    holds them — pinned, so durable — and acknowledges, so the uploader can
 *    publish its transaction; an upload stays unconfirmed, counted against
 *    its signer's quota, until a transaction names it; one that no
 *    transaction names within the deadline is pruned (pruneUnconfirmed,
 *    which the daemon schedules);
 *  - fetches what it lacks from the uploader or the other replicas,
 *    verifying every block against its CID;
 *  - reports replication status: per CID here, and how many replicas hold it;
 *  - erases a patient who withdrew consent (`erase`, asked through
 *    erase-protocol.ts with the patient's signed tx_withdrawal): every pin
 *    of that patient's uploads and tx_IoT is dropped and collected, and the
 *    patient is remembered (<dataDir>/erased.json), so neither a re-upload
 *    nor the chain follower pins that data again.
 * Pins are Helia pins in LevelDB, so they survive restarts and GC; a chain
 * pin of a tx_IoT records its user (metadata `user`), an upload its signer
 * (`owner`): that is whose data a pin is.
 */
import type { PeerId } from '@libp2p/interface'
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { CID } from 'multiformats/cid'
import { toHex, type Tx } from '../../core/index.ts'
import { writeFileAtomic } from '../../store/keystore.ts'
import { cidFromDigest, toCid } from '../../ipfs/cid.ts'
import type { CidLike } from '../../ipfs/cid.ts'
import { BlockUnavailableError, UploadRefusedError } from '../../ipfs/errors.ts'
import { IpfsNode, providerLabel, VerifiedBlock } from '../../ipfs/node.ts'
import type { IpfsNodeOptions, Provider } from '../../ipfs/node.ts'
import { HAVE } from '../../ipfs/protocol.ts'

/** The content digest a transaction names: HEIoT (tx_IoT, Eq. 1) or HEdm (tx_diag, Eq. 3). */
export function contentDigestOfTx (tx: Tx): Uint8Array | undefined {
  if (tx.kind === 'iot') return tx.heiot
  if (tx.kind === 'diag') return tx.hedm
  return undefined
}

/**
 * pinned: kept for good (named on chain, or uploaded under open admission);
 * unconfirmed: an admitted upload held until a transaction names it or its
 * deadline passes; pending: being fetched; failed: every fetch failed.
 */
export type PinState = 'pinned' | 'unconfirmed' | 'pending' | 'failed'

export type PinSource = 'chain' | 'upload' | 'pinning'
const SOURCES: readonly string[] = ['chain', 'upload', 'pinning']

/**
 * Who may upload (DESIGN §6). `admit` resolves with the identity (hex ID)
 * an upload is held for — unconfirmed, under that identity's quota — or
 * null to pin it at once; it throws UploadRefusedError to refuse.
 */
export interface Admission {
  admit(upload: { digest: Uint8Array, from: PeerId, auth: Uint8Array | undefined }): Promise<string | null>
}

/**
 * Accepts every upload and pins it at once: for in-process nodes whose
 * every peer is the caller's own (tests, benches, the one-process devnet).
 * The storage daemon uses chainAdmission (./admission.ts).
 */
export const openAdmission: Admission = { admit: async () => null }

/** Per-identity limits on unconfirmed uploads (DESIGN §6: per-identity quotas). */
export interface UploadQuota {
  /** Bytes an identity may have held unconfirmed at once. */
  readonly bytes: number
  /** Uploads an identity may have held unconfirmed at once. */
  readonly uploads: number
}

/** What one identity holds unconfirmed here. */
export interface QuotaUse { bytes: number, uploads: number }

export interface CidStatus {
  cid: string
  state: PinState
  /** Why the node pins it: seen on chain, pushed by an uploader, asked by an operator through the Pinning Service API. */
  sources: PinSource[]
  attempts: number
  lastError?: string
  /** The patient (hex ID) whose tx_IoT named it, when one did. */
  user?: string
}

export interface StorageReport {
  /** Pins of every kind (unconfirmed uploads included). */
  pinned: number
  pending: number
  /** Uploads held until a transaction names them. */
  unconfirmed: number
  failed: CidStatus[]
}

export interface StorageNodeOptions extends IpfsNodeOptions {
  /** The other storage nodes (replicas) to fetch from. */
  replicas?: Provider[]
  /** Fetch attempts per onChainCid call before the CID is marked failed (default 3). */
  fetchAttempts?: number
  /** Delay between fetch attempts, doubled each time (default 200 ms). */
  retryDelayMs?: number
  /** Who may upload: required, so a node open to every peer is a choice made in code (openAdmission). */
  admission: Admission
  /** Limits per identity on what it holds unconfirmed (default 64 MiB and 256 uploads). */
  quota?: UploadQuota
}

const DEFAULT_QUOTA: UploadQuota = { bytes: 64 * 1024 * 1024, uploads: 256 }

/** An upload held until a transaction names it (its pin's metadata says the same, so this survives a restart). */
interface Held { owner: string | null, bytes: number, pinnedAt: number }

export class StorageNode {
  readonly ipfs: IpfsNode
  private readonly replicas: Provider[]
  private readonly fetchAttempts: number
  private readonly retryDelayMs: number
  private readonly status = new Map<string, CidStatus>()
  private readonly inflight = new Map<string, Promise<CidStatus>>()
  private readonly admission: Admission
  readonly quota: UploadQuota
  /** Unconfirmed uploads by CID string. */
  private readonly held = new Map<string, Held>()
  /** Unconfirmed bytes and uploads per identity (reserved before the block is stored). */
  private readonly use = new Map<string, QuotaUse>()
  /** Uploads refused, by reason (DESIGN §6: refused and counted). */
  readonly refused: Record<UploadRefusedError['reason'], number> = { unsigned: 0, 'bad-signature': 0, 'not-established': 0, quota: 0, withdrawn: 0 }
  /** Patients (hex ID) who withdrew consent: their data is not pinned here again. */
  private readonly erased = new Set<string>()

  private constructor (ipfs: IpfsNode, opts: StorageNodeOptions) {
    this.ipfs = ipfs
    this.replicas = [...(opts.replicas ?? [])]
    this.fetchAttempts = opts.fetchAttempts ?? 3
    this.retryDelayMs = opts.retryDelayMs ?? 200
    this.admission = opts.admission
    this.quota = opts.quota ?? DEFAULT_QUOTA
    ipfs.setAcceptor({
      put: async (block, from, auth) => await this.counted(this.acceptPut(block, from, auth)),
      announce: async (digest, from, auth) => { await this.counted(this.acceptAnnounce(digest, from, auth)) }
    })
  }

  static async create (opts: StorageNodeOptions): Promise<StorageNode> {
    const node = new StorageNode(await IpfsNode.create(opts), opts)
    try {
      await node.loadHeld()
      await node.loadErased()
    } catch (err) {
      await node.ipfs.stop()
      throw err
    }
    return node
  }

  /** What an identity (hex ID) holds unconfirmed here. */
  usage (owner: string): QuotaUse { return { ...(this.use.get(owner) ?? { bytes: 0, uploads: 0 }) } }

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
    if (digest === undefined) return undefined
    if (tx.kind !== 'iot') return await this.onChainCid(digest, hints)
    // a patient's batch: whose it is goes with the pin; one who withdrew consent is not pinned again
    const user = toHex(tx.user)
    if (this.erased.has(user)) return undefined
    return await this.pinDigest(digest, 'chain', hints, { user })
  }

  /** Whether the patient (hex ID) withdrew consent here. */
  isErased (patient: string): boolean { return this.erased.has(patient) }

  /**
   * Erases a patient who withdrew consent (the caller checked the patient's
   * signed tx_withdrawal): remembers the patient first (a crash after it
   * leaves no pin that a restart would keep serving unasked-for: the next
   * erase finds and drops it), then unpins every upload it signed and every
   * tx_IoT batch of it, and collects the blocks, so this node serves none of
   * them. Returns the CIDs unpinned; a second erase unpins what is left.
   */
  async erase (patient: string): Promise<string[]> {
    if (!this.erased.has(patient)) {
      this.erased.add(patient)
      await writeFileAtomic(this.erasedFile(), JSON.stringify([...this.erased]))
    }
    const mine: CID[] = []
    for await (const p of this.ipfs.pins()) if (p.metadata.owner === patient || p.metadata.user === patient) mine.push(p.cid)
    for (const cid of mine) {
      const key = cid.toString()
      await this.inflight.get(key)?.catch(() => {})
      await this.ipfs.unpin(cid)
      this.release(key)
      this.status.delete(key)
    }
    // and what was never fetched: a failed CID of the patient is not tried again
    for (const [key, st] of this.status) if (st.user === patient) { await this.inflight.get(key)?.catch(() => {}); this.status.delete(key) }
    await this.ipfs.gc()
    return mine.map(String)
  }

  private erasedFile (): string { return join(this.ipfs.dataDir, 'erased.json') }

  private async loadErased (): Promise<void> {
    if (!existsSync(this.erasedFile())) return
    const list = JSON.parse(await readFile(this.erasedFile(), 'utf8')) as unknown
    if (Array.isArray(list)) for (const x of list) if (typeof x === 'string') this.erased.add(x)
  }

  /** This node's status for one CID (undefined if never told of it and not pinned). */
  async statusOf (cidLike: CidLike): Promise<CidStatus | undefined> {
    const cid = toCid(cidLike)
    const known = this.status.get(cid.toString())
    if (known !== undefined) return { ...known }
    const meta = await this.ipfs.pinMetadata(cid)
    if (meta === undefined) return undefined
    const sources = String(meta.sources ?? '').split(',').filter((x): x is PinSource => SOURCES.includes(x))
    return { cid: cid.toString(), state: this.held.get(cid.toString())?.owner != null ? 'unconfirmed' : 'pinned', sources, attempts: 0 }
  }

  /** Counts of pinned (persisted pins, so also those from before a restart), pending and failed CIDs. */
  async report (): Promise<StorageReport> {
    let pinned = 0
    for await (const _ of this.ipfs.pins()) pinned++
    const all = [...this.status.values()]
    return {
      pinned,
      pending: all.filter((s) => s.state === 'pending').length,
      unconfirmed: [...this.held.values()].filter((h) => h.owner !== null).length,
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
   * Unpins uploads that no transaction has named within `maxAgeMs` of their
   * arrival (the daemon passes its `pendingDeadlineSeconds`, at least the
   * network's txMaxAge: a tx_IoT older than that can no longer be mined, so
   * its batch will never be named), releases their signers' quota, then
   * runs GC. Pins seen on chain, and pins this role did not make, are never
   * touched.
   */
  async pruneUnconfirmed (maxAgeMs: number, now = Date.now()): Promise<string[]> {
    const stale: string[] = []
    for (const [key, h] of this.held) {
      if (now - h.pinnedAt < maxAgeMs || this.inflight.has(key)) continue
      stale.push(key)
    }
    for (const key of stale) {
      await this.ipfs.unpin(key)
      this.release(key)
      this.status.delete(key)
    }
    if (stale.length > 0) await this.ipfs.gc()
    return stale
  }

  /** Tries every failed CID again. */
  async retryFailed (): Promise<CidStatus[]> {
    const failed = [...this.status.values()].filter((s) => s.state === 'failed')
    return await Promise.all(failed.map(async (s) => await this.pinDigest(toCid(s.cid).multihash.digest, s.sources[0] ?? 'chain', [], s.user === undefined ? {} : { user: s.user })))
  }

  async stop (): Promise<void> {
    this.ipfs.setAcceptor(undefined)
    await Promise.allSettled(this.inflight.values())
    await this.ipfs.stop()
  }

  /** Counts a refusal by its reason, then passes it on (the protocol answers REFUSED). */
  private async counted<T> (p: Promise<T>): Promise<T> {
    try {
      return await p
    } catch (err) {
      if (err instanceof UploadRefusedError) this.refused[err.reason]++
      throw err
    }
  }

  /** Reserves quota for an upload by `owner`, or refuses it. */
  private reserve (owner: string, bytes: number): void {
    const u = this.use.get(owner) ?? { bytes: 0, uploads: 0 }
    if (u.uploads + 1 > this.quota.uploads || u.bytes + bytes > this.quota.bytes) {
      throw new UploadRefusedError('quota', `${owner.slice(0, 12)}… holds ${u.uploads} unconfirmed upload(s), ${u.bytes} bytes; the quota is ${this.quota.uploads} and ${this.quota.bytes} bytes until a transaction names them`)
    }
    this.use.set(owner, { bytes: u.bytes + bytes, uploads: u.uploads + 1 })
  }

  private unreserve (owner: string, bytes: number): void {
    const u = this.use.get(owner)
    if (u === undefined) return
    const next = { bytes: Math.max(0, u.bytes - bytes), uploads: Math.max(0, u.uploads - 1) }
    if (next.uploads === 0) this.use.delete(owner)
    else this.use.set(owner, next)
  }

  /** Forgets an upload as unconfirmed (named on chain, or pruned), returning its quota. */
  private release (key: string): void {
    const h = this.held.get(key)
    if (h === undefined) return
    this.held.delete(key)
    if (h.owner !== null) this.unreserve(h.owner, h.bytes)
  }

  /** Rebuilds the unconfirmed uploads and each identity's use from the pins' metadata (after a restart). */
  private async loadHeld (): Promise<void> {
    for await (const p of this.ipfs.pins()) {
      if (p.metadata.sources !== 'upload') continue
      const owner = typeof p.metadata.owner === 'string' ? p.metadata.owner : null
      const bytes = typeof p.metadata.bytes === 'number' ? p.metadata.bytes : 0
      this.held.set(p.cid.toString(), { owner, bytes, pinnedAt: typeof p.metadata.pinnedAt === 'number' ? p.metadata.pinnedAt : 0 })
      if (owner !== null) {
        const u = this.use.get(owner) ?? { bytes: 0, uploads: 0 }
        this.use.set(owner, { bytes: u.bytes + bytes, uploads: u.uploads + 1 })
      }
    }
  }

  /**
   * Stores and holds an admitted upload: pinned at once (open admission),
   * or unconfirmed under its signer's quota. One already pinned here is
   * acknowledged again without being counted twice.
   */
  private async hold (block: VerifiedBlock, owner: string | null): Promise<void> {
    const { cid, bytes } = block
    const key = cid.toString()
    const st = this.entry(cid, 'upload')
    if (this.held.has(key) || await this.ipfs.isPinned(cid)) {
      await this.ipfs.put(block) // repairs a missing or damaged copy; the pin stays as it was
      st.state = this.held.get(key)?.owner != null ? 'unconfirmed' : 'pinned'
      delete st.lastError
      return
    }
    if (owner !== null) this.reserve(owner, bytes.length)
    const pinnedAt = Date.now()
    try {
      await this.ipfs.put(block, { pin: { sources: 'upload', pinnedAt, bytes: bytes.length, ...(owner === null ? {} : { owner }) } })
    } catch (err) {
      if (owner !== null) this.unreserve(owner, bytes.length)
      throw err
    }
    this.held.set(key, { owner, bytes: bytes.length, pinnedAt })
    st.state = owner === null ? 'pinned' : 'unconfirmed'
    delete st.lastError
  }

  /** PUT: the uploader sent the bytes (≤ 1 MiB, hashed on arrival); admit, hold, then the protocol acks. */
  private async acceptPut (block: VerifiedBlock, from: PeerId, auth: Uint8Array | undefined): Promise<Uint8Array> {
    const digest = block.cid.multihash.digest
    const owner = this.notErased(await this.admission.admit({ digest, from, auth }))
    await this.hold(block, owner)
    return digest
  }

  /** ANNOUNCE: admit, fetch the block from the announcer (then connected peers and replicas), hold it. */
  private async acceptAnnounce (digest: Uint8Array, from: PeerId, auth: Uint8Array | undefined): Promise<void> {
    const owner = this.notErased(await this.admission.admit({ digest, from, auth }))
    if (owner !== null) { await this.pinFor(digest, [from], owner); return }
    const st = await this.pinDigest(digest, 'upload', [from])
    if (st.state !== 'pinned') throw new Error(st.lastError ?? 'could not fetch the block')
    this.held.set(cidFromDigest(digest).toString(), { owner: null, bytes: 0, pinnedAt: Date.now() })
  }

  /** The admitted uploader, unless it withdrew consent here (UploadRefusedError 'withdrawn'). */
  private notErased (owner: string | null): string | null {
    if (owner !== null && this.erased.has(owner)) throw new UploadRefusedError('withdrawn', `${owner.slice(0, 12)}… withdrew consent: this storage node holds nothing of it again`)
    return owner
  }

  /**
   * Refuses (UploadRefusedError 'quota') when `owner` could not hold one
   * more upload; the size is checked again once the block is here.
   */
  checkQuota (owner: string): void {
    const u = this.use.get(owner) ?? { bytes: 0, uploads: 0 }
    if (u.uploads + 1 > this.quota.uploads || u.bytes >= this.quota.bytes) this.reserve(owner, 0)
  }

  /**
   * Fetches a block from `providers` (then the replicas) and holds it: for
   * an identity, unconfirmed under its quota, as an upload; for an operator
   * (`owner` null), pinned for good. Used by ANNOUNCE and by the Pinning
   * Service API.
   */
  async pinFor (digest: Uint8Array, providers: Provider[], owner: string | null): Promise<void> {
    this.notErased(owner)
    const cid = cidFromDigest(digest)
    if (owner === null) {
      const st = await this.pinDigest(digest, 'pinning', providers)
      if (st.state !== 'pinned') throw new Error(st.lastError ?? 'could not fetch the block')
      return
    }
    if (this.held.has(cid.toString()) || await this.ipfs.isPinned(cid)) return
    this.checkQuota(owner)
    const bytes = await this.ipfs.get(cid, { providers: [...providers, ...this.replicas] })
    await this.hold(VerifiedBlock.of(bytes), owner)
  }

  /** True while the CID is held unconfirmed for an identity (pruned unless a transaction names it). */
  isUnconfirmed (cidLike: CidLike): boolean { return this.held.get(toCid(cidLike).toString())?.owner != null }

  /**
   * Gives up a pin asked through the Pinning Service API: an unconfirmed
   * upload is unpinned and its quota returned; an operator's pin is
   * unpinned unless something else (a chain, an upload) also keeps it.
   */
  async unpinRequested (cidLike: CidLike): Promise<void> {
    const cid = toCid(cidLike)
    const key = cid.toString()
    if (this.isUnconfirmed(cid) && !this.inflight.has(key)) {
      await this.ipfs.unpin(cid)
      this.release(key)
      this.status.delete(key)
      return
    }
    if ((await this.ipfs.pinMetadata(cid))?.sources === 'pinning') {
      await this.ipfs.unpin(cid)
      this.status.delete(key)
    }
  }

  private entry (cid: CID, source: PinSource): CidStatus {
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
  private async pinDigest (digest: Uint8Array, source: PinSource, hints: Provider[], extra: Record<string, string> = {}): Promise<CidStatus> {
    const cid = cidFromDigest(digest)
    const key = cid.toString()
    const st = this.entry(cid, source)
    if (extra.user !== undefined) st.user = extra.user
    const running = this.inflight.get(key)
    if (running !== undefined) return await running
    const work = (async (): Promise<CidStatus> => {
      const meta = (): Record<string, string | number> => ({ ...extra, sources: st.sources.join(','), pinnedAt: Date.now() })
      if (await this.ipfs.getLocal(cid) !== undefined) {
        await this.ipfs.pin(cid, meta())
        // named on chain: kept for good, and no longer on its uploader's quota
        if (source === 'chain') this.release(key)
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
