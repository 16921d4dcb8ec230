/**
 * The IPFS node of a Healthchain process (paper §III-A storage, §IV-B2;
 * DESIGN §6): a Helia node whose blocks live in LevelDB (`blockstore-level`)
 * and whose pins live in a LevelDB datastore under the data dir, on the
 * process's libp2p node (passed in, or created by ./libp2p.ts).
 *
 * Healthchain blocks are encrypted batches (tx_IoT's HEIoT) and encrypted
 * diagnoses (tx_diag's HEdm): one raw block each, CIDv1 raw sha2-256, at
 * most 1 MiB. Every byte read — from disk or from a peer — is checked
 * against its CID before it is returned.
 *
 * Peers exchange blocks over the store protocol (./protocol.ts); Helia's
 * bitswap also runs, so standard IPFS peers (Kubo) can fetch from us.
 *
 * Both LevelDBs sync every put and batch (fdatasync before it resolves), so
 * a block and its pin are on disk before a storage node acknowledges an
 * upload: a power cut cannot lose what an uploader was told is stored. Only
 * unpinned cache copies are written without a sync.
 */
import { join } from 'node:path'
import { mkdir } from 'node:fs/promises'
import type { Helia } from 'helia'
import type { HeliaWithLibp2p } from '@helia/libp2p'
import { ClassicLevel } from 'classic-level'
import type { LevelSizes } from '../store/chain.ts'
import { LevelBlockstore } from 'blockstore-level'
import { base32upper } from 'multiformats/bases/base32'
import { LevelDatastore } from 'datastore-level'
import { lpStream } from '@libp2p/utils'
import type { Libp2p, PeerId, Connection, Stream } from '@libp2p/interface'
import { multiaddr, isMultiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { CID } from 'multiformats/cid'
import { concatBytes, contentDigest, equalBytes, LimitExceededError } from '../core/index.ts'
import { cidFromDigest, cidString, digestOfCid, toCid } from './cid.ts'
import type { CidLike } from './cid.ts'
import { BlockUnavailableError, CidMismatchError, NodeNotRunningError, StoreRequestError, StoreTimeoutError, UploadRefusedError } from './errors.ts'
import { createIpfsLibp2p, loadOrCreateKey } from './libp2p.ts'
import {
  decodeRequest, decodeResponse, encodeResponse, requestFrame, HAVE, KIND, MAX_BATCH_BYTES, MAX_FRAME_BYTES,
  STATUS, STATUS_NAME, STORE_PROTOCOL
} from './protocol.ts'
import type { Have, Kind, StoreRequest, StoreResponse } from './protocol.ts'

/**
 * Bytes and the CID they hashed to in this process: what a storage node
 * received, or what an uploader sends. Passing it on spares the next step
 * hashing the same megabyte again; only `VerifiedBlock.of` makes one, so
 * the CID is never a peer's word.
 */
export class VerifiedBlock {
  readonly cid: CID
  readonly bytes: Uint8Array
  private constructor (cid: CID, bytes: Uint8Array) { this.cid = cid; this.bytes = bytes }
  /** Hashes `bytes` (at most MAX_BATCH_BYTES). */
  static of (bytes: Uint8Array): VerifiedBlock {
    if (bytes.length > MAX_BATCH_BYTES) throw new LimitExceededError('batch', MAX_BATCH_BYTES, bytes.length)
    return new VerifiedBlock(cidFromDigest(contentDigest(bytes)), bytes)
  }
}

/** Where a block may be fetched from: a multiaddr (string or object) or a PeerId already known. */
export type Provider = string | Multiaddr | PeerId

/** What a storage node does with blocks pushed or announced to it (roles/storage). */
export interface BlockAcceptor {
  /** Stores and holds the block (hashed here, on arrival); resolves with its digest (the acknowledgement). `auth` is the uploader's encoded UploadAuth, if sent. */
  put(block: VerifiedBlock, from: PeerId, auth?: Uint8Array): Promise<Uint8Array>
  announce(digest: Uint8Array, from: PeerId, auth?: Uint8Array): Promise<void>
}

/**
 * Helia's light constructor without its package index: `import 'helia'`
 * also loads @helia/libp2p's default libp2p stack (WebRTC, the DHT,
 * UPnP …), some 67 MB of resident memory for code this node never runs (it
 * shares the hub's libp2p). The package exports only its index, so the
 * class is loaded from the file beside it; `createHeliaLight` in the index
 * is this very constructor call.
 */
async function createHeliaLight (init: { blockstore: LevelBlockstore, datastore: LevelDatastore }): Promise<Helia> {
  const index = import.meta.resolve('helia')
  const [{ Helia: HeliaClass }, { name, version }] = await Promise.all([
    import(new URL('./helia.js', index).href) as Promise<{ Helia: new (init: object) => Helia }>,
    import(new URL('./version.js', index).href) as Promise<{ name: string, version: string }>
  ])
  return new HeliaClass({ name, version, ...init })
}

export interface IpfsNodeOptions {
  /** LevelDB cache and write buffer of the block and data stores (store/chain.ts LevelSizes). */
  readonly leveldb?: LevelSizes
  /** Blocks go to `<dataDir>/blocks`, pins to `<dataDir>/datastore`. */
  dataDir: string
  /** The process's libp2p node; when absent one is created (key in `<dataDir>/libp2p.seed`) and owned. */
  libp2p?: Libp2p
  /** Listen addresses of an owned libp2p node. */
  listen?: string[]
  /** Per-request timeout for the store protocol (default 10 s). */
  requestTimeoutMs?: number
  /** Unpinned bytes (fetched copies, uploaded batches) stored before a GC runs (default 64 MiB). */
  maxCacheBytes?: number
  /** Run Helia's bitswap too (default true). */
  bitswap?: boolean
  /** Concurrent inbound store-protocol streams (default 64). */
  maxInboundStreams?: number
}

export interface GetOptions {
  /** Peers to ask, in order, before the peers we are connected to. */
  providers?: Provider[]
  /** Also ask the peers we are connected to (default true). */
  askConnected?: boolean
  /** Pin a fetched block with this metadata instead of keeping it as cache. */
  pin?: PinMetadata
  /** Per-request timeout (default the node's). */
  timeoutMs?: number
  signal?: AbortSignal
}

export interface RequestOptions {
  timeoutMs?: number
  signal?: AbortSignal
}

export type PinMetadata = Record<string, string | number | boolean>

const DEFAULT_TIMEOUT_MS = 10_000
const DEFAULT_MAX_CACHE = 64 * 1024 * 1024

export class IpfsNode {
  readonly libp2p: Libp2p
  readonly helia: Helia
  readonly dataDir: string
  readonly requestTimeoutMs: number
  private readonly ownsLibp2p: boolean
  private readonly blockstore: LevelBlockstore
  private readonly datastore: LevelDatastore
  private readonly maxCacheBytes: number
  private acceptor: BlockAcceptor | undefined
  private cacheBytes = 0
  private gcRunning: Promise<void> | undefined
  private activeWrites = 0
  private readonly writesIdle: Array<() => void> = []
  private running = true

  private constructor (init: { libp2p: Libp2p, ownsLibp2p: boolean, helia: Helia, blockstore: LevelBlockstore, datastore: LevelDatastore, opts: IpfsNodeOptions }) {
    this.libp2p = init.libp2p
    this.ownsLibp2p = init.ownsLibp2p
    this.helia = init.helia
    this.blockstore = init.blockstore
    this.datastore = init.datastore
    this.dataDir = init.opts.dataDir
    this.requestTimeoutMs = init.opts.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS
    this.maxCacheBytes = init.opts.maxCacheBytes ?? DEFAULT_MAX_CACHE
  }

  /** Opens the stores, starts Helia (and libp2p if owned) and serves the store protocol. */
  static async create (opts: IpfsNodeOptions): Promise<IpfsNode> {
    await mkdir(opts.dataDir, { recursive: true })
    const blockstore = new Blockstore(syncedLevel(join(opts.dataDir, 'blocks'), opts.leveldb) as LevelOf<typeof LevelBlockstore>)
    const datastore = new LevelDatastore(syncedLevel(join(opts.dataDir, 'datastore'), opts.leveldb) as LevelOf<typeof LevelDatastore>)
    await blockstore.open()
    await datastore.open()
    let libp2p = opts.libp2p
    const ownsLibp2p = libp2p === undefined
    let helia: Helia | undefined
    try {
      libp2p ??= await createIpfsLibp2p({ privateKey: await loadOrCreateKey(opts.dataDir), ...(opts.listen === undefined ? {} : { listen: opts.listen }) })
      helia = await createHeliaLight({ blockstore, datastore })
      // Helia's own libp2p mixin always creates a new node; this one shares ours.
      Object.defineProperty(helia, 'libp2p', { value: libp2p, enumerable: true })
      // loaded only when it runs: a node without it (a light hub) never holds its code
      if (opts.bitswap !== false) (await import('@helia/bitswap')).withBitswap(helia as unknown as HeliaWithLibp2p)
      await helia.start()
      const node = new IpfsNode({ libp2p, ownsLibp2p, helia, blockstore, datastore, opts })
      await libp2p.handle(STORE_PROTOCOL, (stream, conn) => { void node.serve(stream, conn) }, {
        maxInboundStreams: opts.maxInboundStreams ?? 64
      })
      return node
    } catch (err) {
      if (helia?.status === 'started') await helia.stop().catch(() => {})
      if (ownsLibp2p) await libp2p?.stop()
      await blockstore.close()
      await datastore.close()
      throw err
    }
  }

  get peerId (): PeerId { return this.libp2p.peerId }
  get multiaddrs (): Multiaddr[] { return this.libp2p.getMultiaddrs() }

  /** Lets a storage node accept PUT / ANNOUNCE requests; without one they are refused. */
  setAcceptor (acceptor: BlockAcceptor | undefined): void { this.acceptor = acceptor }

  /**
   * Stores an encrypted batch and returns its CID (CIDv1 raw sha2-256 of
   * exactly these bytes). With `pin`, the block is pinned with that metadata
   * (or the metadata a function of the CID returns); without, it is cache
   * and GC may drop it.
   */
  async put (bytes: Uint8Array | VerifiedBlock, opts: { pin?: PinMetadata | ((cid: CID) => PinMetadata) } = {}): Promise<CID> {
    this.assertRunning()
    const { cid, bytes: data } = bytes instanceof VerifiedBlock ? bytes : VerifiedBlock.of(bytes)
    await this.storeVerified(cid, data, typeof opts.pin === 'function' ? opts.pin(cid) : opts.pin)
    return cid
  }

  /** The block if stored here and intact; a corrupt copy is deleted and reported as absent. */
  async getLocal (cidLike: CidLike): Promise<Uint8Array | undefined> {
    this.assertRunning()
    const cid = toCid(cidLike)
    if (!await this.helia.blockstore.has(cid)) return undefined
    const chunks: Uint8Array[] = []
    for await (const c of this.helia.blockstore.get(cid, { offline: true })) chunks.push(c)
    const bytes = chunks.length === 1 ? chunks[0]! : concatBytes(...chunks)
    if (!equalBytes(contentDigest(bytes), cid.multihash.digest)) {
      // below Helia's pin check on purpose: the pin stays, the bad copy goes, a re-fetch repairs it
      await this.blockstore.delete(cid)
      return undefined
    }
    return bytes
  }

  /**
   * The block named by `cid`, verified against it: from the local store, else
   * from each provider in turn (the named ones, then connected peers). A
   * provider that times out, lacks the block or serves other bytes is
   * skipped; the fetched block is kept as (unpinned) cache.
   */
  async get (cidLike: CidLike, opts: GetOptions = {}): Promise<Uint8Array> {
    this.assertRunning()
    const cid = toCid(cidLike)
    const attempts: Array<{ provider: string, error: Error }> = []
    const local = await this.getLocalChecked(cid, attempts)
    if (local !== undefined) {
      if (opts.pin !== undefined) await this.pin(cid, opts.pin)
      return local
    }
    for (const provider of this.providersFor(opts)) {
      opts.signal?.throwIfAborted()
      try {
        const bytes = await this.fetchFrom(provider, cid, opts)
        await this.storeVerified(cid, bytes, opts.pin)
        return bytes
      } catch (err) {
        if (opts.signal?.aborted === true) throw err
        attempts.push({ provider: providerLabel(provider), error: err as Error })
      }
    }
    throw new BlockUnavailableError(cid.toString(), attempts)
  }

  /** GET from one peer; the answer must hash to the CID. */
  async fetchFrom (provider: Provider, cidLike: CidLike, opts: RequestOptions = {}): Promise<Uint8Array> {
    const cid = toCid(cidLike)
    const res = await this.request(provider, { kind: KIND.GET, digest: cid.multihash.digest }, opts)
    const block = okOrThrow(provider, res).block!
    if (!equalBytes(contentDigest(block), cid.multihash.digest)) throw new CidMismatchError(cid.toString(), providerLabel(provider))
    return block
  }

  /** Asks a peer whether it holds (and pins) a block. */
  async peerHas (provider: Provider, cidLike: CidLike, opts: RequestOptions = {}): Promise<Have> {
    const res = await this.request(provider, { kind: KIND.HAS, digest: digestOfCid(toCid(cidLike)) }, opts)
    return okOrThrow(provider, res).have ?? HAVE.ABSENT
  }

  /** One store-protocol exchange with `provider`, bounded by a timeout. */
  async request (provider: Provider, req: StoreRequest, opts: RequestOptions = {}): Promise<StoreResponse> {
    this.assertRunning()
    const ms = opts.timeoutMs ?? this.requestTimeoutMs
    const timeout = AbortSignal.timeout(ms)
    const signal = opts.signal === undefined ? timeout : AbortSignal.any([timeout, opts.signal])
    let stream: Stream | undefined
    try {
      // one protocol, so the request rides with its name (multistream-select's answer is read with
      // the response) instead of waiting a round trip for the remote to confirm it first; on an open
      // connection, a new stream straight away (a dial would also merge the address into the peer store)
      const streamOpts = { signal, negotiateFully: false }
      const conn = this.openConnectionTo(provider)
      stream = conn !== undefined
        ? await conn.newStream(STORE_PROTOCOL, streamOpts)
        : await this.libp2p.dialProtocol(dialTarget(provider), STORE_PROTOCOL, streamOpts)
      const lp = lpStream(stream, { maxDataLength: MAX_FRAME_BYTES })
      for (const part of requestFrame(req)) if (!stream.send(part)) await stream.onDrain({ signal })
      const frame = await lp.read({ signal })
      const res = decodeResponse(req.kind, frame.subarray())
      await stream.close({ signal }).catch(() => {})
      return res
    } catch (err) {
      stream?.abort(err as Error)
      if (timeout.aborted && opts.signal?.aborted !== true) throw new StoreTimeoutError(`${kindName(req.kind)} ${providerLabel(provider)}`, ms)
      throw err
    }
  }

  async has (cidLike: CidLike): Promise<boolean> {
    this.assertRunning()
    return await this.helia.blockstore.has(toCid(cidLike))
  }

  async isPinned (cidLike: CidLike): Promise<boolean> {
    return await this.pinMetadata(cidLike) !== undefined
  }

  /** The metadata of a pin, or undefined if the CID is not pinned here. */
  async pinMetadata (cidLike: CidLike): Promise<PinMetadata | undefined> {
    this.assertRunning()
    try {
      return (await this.helia.pins.get(toCid(cidLike))).metadata
    } catch (err) {
      if ((err as Error).name === 'NotFoundError') return undefined
      throw err
    }
  }

  /** Pins a block already stored here (merging metadata if already pinned). */
  async pin (cidLike: CidLike, metadata: PinMetadata = {}): Promise<void> {
    this.assertRunning()
    const cid = toCid(cidLike)
    await this.guarded(async () => { await this.pinStored(cid, metadata) })
  }

  async unpin (cidLike: CidLike): Promise<void> {
    this.assertRunning()
    const cid = toCid(cidLike)
    if (!await this.isPinned(cid)) return
    for await (const _ of this.helia.pins.rm(cid, { walker: rootOnly })) { /* drain */ }
  }

  /** Every pin with its metadata. */
  async * pins (): AsyncGenerator<{ cid: CID, metadata: PinMetadata }> {
    this.assertRunning()
    for await (const p of this.helia.pins.ls()) yield { cid: p.cid, metadata: p.metadata }
  }

  /**
   * Deletes every unpinned block (Helia GC). Pinned blocks are never
   * removed: a GC waits for stores-then-pins in progress, and those wait for
   * a running GC, so no block is collected between its store and its pin.
   */
  async gc (): Promise<void> {
    this.assertRunning()
    if (this.gcRunning === undefined) {
      this.cacheBytes = 0
      this.gcRunning = (async () => {
        try {
          while (this.activeWrites > 0) await new Promise<void>((resolve) => { this.writesIdle.push(resolve) })
          await this.helia.gc()
        } finally {
          this.gcRunning = undefined
        }
      })()
    }
    await this.gcRunning
  }

  /** Bytes of unpinned cache stored since the last GC. */
  get unpinnedBytes (): number { return this.cacheBytes }

  /** Stops serving, stops Helia (and libp2p if owned) and closes the stores. */
  async stop (): Promise<void> {
    if (!this.running) return
    this.running = false
    await this.gcRunning?.catch(() => {})
    await this.libp2p.unhandle(STORE_PROTOCOL).catch(() => {})
    // an upload being pinned finishes before the stores close under it
    if (this.activeWrites > 0) await new Promise<void>((resolve) => { this.writesIdle.push(resolve) })
    await this.helia.stop()
    if (this.ownsLibp2p) await this.libp2p.stop()
    await this.blockstore.close()
    await this.datastore.close()
  }

  /** Connects to a peer (so it is asked on get and can fetch from us). */
  async connect (provider: Provider, opts: RequestOptions = {}): Promise<void> {
    await this.libp2p.dial(dialTarget(provider), { signal: AbortSignal.timeout(opts.timeoutMs ?? this.requestTimeoutMs) })
  }

  /** An open connection to the peer `provider` names, if any. */
  private openConnectionTo (provider: Provider): Connection | undefined {
    const id = providerPeerId(provider)
    if (id === undefined) return undefined
    return this.libp2p.getConnections().find((c) => c.status === 'open' && c.remotePeer.toString() === id)
  }

  private async getLocalChecked (cid: CID, attempts: Array<{ provider: string, error: Error }>): Promise<Uint8Array | undefined> {
    const had = await this.helia.blockstore.has(cid)
    const bytes = await this.getLocal(cid)
    if (had && bytes === undefined) attempts.push({ provider: 'local store', error: new CidMismatchError(cid.toString(), 'local store') })
    return bytes
  }

  private async storeVerified (cid: CID, bytes: Uint8Array, pin: PinMetadata | undefined): Promise<void> {
    if (pin !== undefined) {
      await this.guarded(async () => {
        await this.helia.blockstore.put(cid, bytes)
        await this.pinStored(cid, pin)
      })
      return
    }
    // a pinned block's copy is repaired durably; a cache copy skips the fsync: GC may drop it
    // anyway, and a copy a crash loses (or tears) reads as absent (getLocal checks every read)
    const pinned = await this.isPinned(cid)
    await this.helia.blockstore.put(cid, bytes, pinned ? {} : CACHE_WRITE)
    if (pinned) return
    this.cacheBytes += bytes.length
    if (this.cacheBytes > this.maxCacheBytes) await this.gc()
  }

  /** Runs a store-then-pin with no GC in between (see gc). Not re-entrant. */
  private async guarded (fn: () => Promise<void>): Promise<void> {
    while (this.gcRunning !== undefined) await this.gcRunning.catch(() => {})
    this.activeWrites++
    try {
      await fn()
    } finally {
      if (--this.activeWrites === 0) for (const resolve of this.writesIdle.splice(0)) resolve()
    }
  }

  /** Pins a stored block; call inside guarded(). */
  private async pinStored (cid: CID, metadata: PinMetadata): Promise<void> {
    // a pin names a block held here (the rootOnly walk does not read it)
    if (!await this.helia.blockstore.has(cid)) {
      throw new BlockUnavailableError(cid.toString(), [{ provider: 'local store', error: new Error('not stored here, cannot pin') }])
    }
    try {
      for await (const _ of this.helia.pins.add(cid, { metadata, depth: 0, walker: rootOnly, signal: AbortSignal.timeout(this.requestTimeoutMs) })) { /* raw blocks have no links */ }
      return
    } catch (err) {
      if ((err as Error).name !== 'AlreadyPinnedError') throw err
    }
    const existing = await this.helia.pins.get(cid)
    await this.helia.pins.setMetadata(cid, { ...existing.metadata, ...metadata })
  }

  private * providersFor (opts: GetOptions): Generator<Provider> {
    const seen = new Set<string>([this.peerId.toString()])
    for (const p of opts.providers ?? []) {
      const id = providerPeerId(p)
      if (id !== undefined && seen.has(id)) continue
      if (id !== undefined) seen.add(id)
      yield p
    }
    if (opts.askConnected === false) return
    for (const conn of this.libp2p.getConnections()) {
      const id = conn.remotePeer.toString()
      if (seen.has(id) || conn.status !== 'open') continue
      seen.add(id)
      yield conn.remotePeer
    }
  }

  /** Answers one inbound store-protocol stream. */
  private async serve (stream: Stream, conn: Connection): Promise<void> {
    const signal = AbortSignal.timeout(this.requestTimeoutMs)
    const lp = lpStream(stream, { maxDataLength: MAX_FRAME_BYTES })
    let kind: Kind = KIND.GET
    let res: StoreResponse
    try {
      const req = decodeRequest((await lp.read({ signal })).subarray())
      kind = req.kind
      res = await this.answer(req, conn.remotePeer)
    } catch (err) {
      const e = err as Error
      res = e.name === 'InvalidDataLengthError' || e instanceof LimitExceededError
        ? { status: STATUS.TOO_LARGE, reason: `a request may carry at most ${MAX_BATCH_BYTES} bytes` }
        : { status: STATUS.INVALID, reason: e.message }
    }
    try {
      await lp.write(encodeResponse(kind, res), { signal })
      await stream.close({ signal })
    } catch (err) {
      stream.abort(err as Error)
    }
  }

  private async answer (req: StoreRequest, from: PeerId): Promise<StoreResponse> {
    if (!this.running) return { status: STATUS.FAILED, reason: 'node is stopping' }
    switch (req.kind) {
      case KIND.GET: {
        const block = await this.getLocal(req.digest)
        return block === undefined ? { status: STATUS.NOT_FOUND, reason: `${cidString(req.digest)} not held here` } : { status: STATUS.OK, block }
      }
      case KIND.HAS: {
        const have = await this.isPinned(req.digest) ? HAVE.PINNED : await this.getLocal(req.digest) !== undefined ? HAVE.STORED : HAVE.ABSENT
        return { status: STATUS.OK, have }
      }
      case KIND.PUT:
      case KIND.ANNOUNCE: {
        if (this.acceptor === undefined) return { status: STATUS.REFUSED, reason: 'not a storage node' }
        try {
          if (req.kind === KIND.PUT) return { status: STATUS.OK, digest: await this.acceptor.put(VerifiedBlock.of(req.block), from, req.auth) }
          await this.acceptor.announce(req.digest, from, req.auth)
          return { status: STATUS.OK, digest: req.digest }
        } catch (err) {
          return { status: err instanceof UploadRefusedError ? STATUS.REFUSED : STATUS.FAILED, reason: (err as Error).message }
        }
      }
    }
  }

  private assertRunning (): void {
    if (!this.running) throw new NodeNotRunningError()
  }
}

type PinWalker = NonNullable<NonNullable<Parameters<Helia['pins']['add']>[1]>['walker']>
/**
 * The graph walk of Helia's pins.add and pins.rm for a Healthchain block:
 * a raw block has no links, so the walk is its root alone. Helia's default
 * walker reads the block back from the blockstore (up to 1 MiB) to find the
 * links it cannot have. The pin records written are the same.
 */
const rootOnly = ((): unknown => ({
  async * walk (cid: CID) { yield { block: { cid }, depth: 0, path: [cid] } }
})) as PinWalker

/** Blockstore put option: a cache copy, written without fsync. */
const CACHE_WRITE: { signal?: AbortSignal, cache: true } = { cache: true }

/**
 * blockstore-level with two changes: `has` asks LevelDB for the key alone
 * (blockstore-level reads the whole value, up to 1 MiB, and Helia asks
 * before every put and pin), and a put marked CACHE_WRITE is not synced.
 * Keys are blockstore-level's: '/' and the base32upper multihash.
 */
class Blockstore extends LevelBlockstore {
  override async has (cid: CID, options?: { signal?: AbortSignal }): Promise<boolean> {
    options?.signal?.throwIfAborted()
    return await this.db.has(blockKey(cid))
  }

  override async put (cid: CID, value: Parameters<LevelBlockstore['put']>[1], options?: { signal?: AbortSignal, cache?: boolean }): Promise<CID> {
    if (options?.cache !== true || !(value instanceof Uint8Array)) return await super.put(cid, value, options)
    options.signal?.throwIfAborted()
    await this.db.put(blockKey(cid), value, { sync: false })
    return cid
  }
}

function blockKey (cid: CID): string { return `/${base32upper.encode(cid.multihash.bytes)}` }

/** classic-level's write hooks, which its typings leave out. */
interface LevelWriteHooks {
  _put: (this: object, key: string, value: Uint8Array, options: object) => Promise<void>
  _batch: (this: object, ops: unknown[], options: object) => Promise<void>
}
const hooks = ClassicLevel.prototype as unknown as LevelWriteHooks
/** The Level type a store's constructor takes: `level`'s, which is classic-level at run time but typed apart. */
type LevelOf<S extends new (db: never) => unknown> = Exclude<ConstructorParameters<S>[0], string>

/**
 * The LevelDB of blockstore-level / datastore-level (they take a Level
 * instance and use only its put, batch and del), with every put and batch
 * synced: neither store passes write options through, and syncing the
 * write itself, not a later marker, is what makes it durable (a synced
 * write flushes only the LevelDB log file it lands in, and an earlier write
 * may sit in the previous one). A put that asks for `sync: false` (a cache
 * copy, see Blockstore) is left unsynced. Deletes (GC, unpin) stay unsynced: a lost
 * one leaves a block or pin that the next GC or prune removes again. The
 * encodings are the ones those packages give the Level they create.
 */
function syncedLevel (dir: string, sizes: LevelSizes = {}): unknown {
  class SyncedLevel extends ClassicLevel<string, Uint8Array> {
    async _put (key: string, value: Uint8Array, options: { sync?: boolean }): Promise<void> { await hooks._put.call(this, key, value, { ...options, sync: options.sync !== false }) }
    async _batch (ops: unknown[], options: object): Promise<void> { await hooks._batch.call(this, ops, { ...options, sync: true }) }
  }
  return new SyncedLevel(dir, { keyEncoding: 'utf8', valueEncoding: 'view', ...sizes })
}

/** The response if OK, else a StoreRequestError naming the peer and status. */
export function okOrThrow (provider: Provider, res: StoreResponse): Extract<StoreResponse, { status: 0 }> {
  if (res.status !== STATUS.OK) throw new StoreRequestError(providerLabel(provider), STATUS_NAME[res.status] ?? String(res.status), res.reason)
  return res
}

export function providerLabel (p: Provider): string {
  return typeof p === 'string' ? p : p.toString()
}

function kindName (k: Kind): string {
  return Object.entries(KIND).find(([, v]) => v === k)?.[0] ?? String(k)
}

function dialTarget (p: Provider): PeerId | Multiaddr {
  if (typeof p === 'string') return multiaddr(p)
  return p
}

/** The PeerId string a provider names, if it names one (a multiaddr without /p2p/ does not). */
export function providerPeerId (p: Provider): string | undefined {
  if (typeof p === 'string') return multiaddr(p).getComponents().find((c) => c.name === 'p2p')?.value
  if (isMultiaddr(p)) return p.getComponents().find((c) => c.name === 'p2p')?.value
  return p.toString()
}
