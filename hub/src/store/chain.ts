/**
 * The Userchain store of a core user node (paper §III-A, §IV-B3; DESIGN §3, §5)
 * on classic-level (LevelDB).
 *
 * Every block is kept (side branches too) with an index entry: header,
 * height, cumulative work (work = 2^256 / (target + 1)), first-seen order
 * and validity. The best chain — most cumulative work, the first seen
 * winning a tie — is "connected": its header index by height, transaction
 * index (id → block, position), per-user index (ID → tx ids, for light
 * nodes), Healthcoin accounts and key epochs are materialized.
 *
 * Each connect or disconnect of one block is ONE atomic LevelDB batch that
 * also moves the tip and writes (or drops) the block's undo record, so a
 * crash at any instant leaves the state of some fully connected tip. A reorg
 * is a series of such batches; on open the store resumes toward the best
 * known block by itself. Every write a connect depends on is synced
 * (fdatasync) before the connect resolves, so a power cut cannot take back
 * a tip the node already announced or answered with: the connect batch is
 * synced, and so is the block's body when it is written ahead of it (a
 * sync of LevelDB's log covers only the log file it is in, and the connect
 * may be the write that switches to a new log file, so an earlier unsynced
 * body could be lost while the connect naming it survives). Disconnects
 * are not synced: losing one leaves the older, fully connected tip.
 *
 * Key layout (one-byte prefix, binary keys):
 *   b‖hash → block bytes          e‖hash → index entry (JSON)
 *   H‖height(u32) → hash          T‖txid → {block, height, pos}
 *   U‖id‖height(u32) → (pos(u32)‖txid)* of the block's txs of that user
 *   A‖id → {balance, nonce}       K‖user → latest epoch (u32)
 *   E‖user‖epoch(u32) → tx_key id u‖hash → undo record (JSON)
 *   m‖name → meta (tip, network, layout)  p‖txid → mempool entry (./mempool.ts)
 * A store of an older index layout (m‖layout below LAYOUT) is reindexed on open.
 */
import { ClassicLevel, type ChainedBatch } from 'classic-level'
import {
  blockWork, IdMap, merkleProofs, decodeUblock, encodeUblock, encodeUblockHeader, decodeUblockHeader, equalBytes, fromHex, genesisUblock, bitsAfter,
  toHex, ublockHash, ublockTxsAt, utf8Bytes, type BodyTx, type NetworkParams, type Tx, type Ublock, type UblockHeader, type HeaderContext
} from '../core/index.ts'
import { HealthchainError } from '../core/index.ts'
import { EMPTY_ACCOUNT, LedgerOverlay, withConfirmed, type Account, type LatestKey, type LedgerView } from './ledger.ts'
import {
  KnownInvalidError, NetworkMismatchError, OrphanBlockError, StoreCorruptError, StoreLockedError
} from './errors.ts'

export type BlockStatus = 'valid' | 'invalid'

/** The in-memory index entry of one stored block. */
export interface BlockEntry {
  readonly hash: Uint8Array
  readonly hex: string
  readonly header: UblockHeader
  readonly height: number
  /** Cumulative work from genesis up to and including this block. */
  readonly work: bigint
  /** First-seen order: a tie in work keeps the lower. */
  readonly seq: number
  status: BlockStatus
  reason?: string
}

/** A transaction with what proves it is in a best-chain block. */
export interface TxProof {
  readonly tx: BodyTx
  readonly header: UblockHeader
  /** Position in the block and number of transactions in it (the Merkle tree size). */
  readonly pos: number
  readonly size: number
  readonly proof: readonly Uint8Array[]
}

export interface TxLocation { readonly block: Uint8Array, readonly height: number, readonly pos: number }

/** What adding a block did. */
export interface AddResult {
  readonly hash: string
  /** 'connected': on the best chain now; 'side': stored on a side branch; 'invalid': marked invalid. */
  readonly status: 'connected' | 'side' | 'invalid' | 'duplicate'
  readonly reason?: string
  readonly tipChanged: boolean
  /** Blocks connected / disconnected by this call, in order. */
  readonly connected: readonly Ublock[]
  readonly disconnected: readonly Ublock[]
  /** Blocks marked invalid by this call, with the reason. */
  readonly invalidated: ReadonlyArray<{ hash: string, reason: string }>
}

interface UndoRecord {
  /** Accounts as they were before: [idHex, balance, nonce] or [idHex] when absent. */
  a: Array<[string, number, number] | [string]>
  /** Latest epochs as they were: [userHex, epoch] (0 = none), with the raw record (hex) when it held more than the epoch. */
  k: Array<[string, number] | [string, number, string]>
}

const enc = new TextEncoder()
const dec = new TextDecoder()
const P = {
  block: 0x62, entry: 0x65, height: 0x48, tx: 0x54, user: 0x55, account: 0x41, latest: 0x4b, epoch: 0x45, undo: 0x75, meta: 0x6d, mempool: 0x70
} as const

function key (prefix: number, ...parts: Uint8Array[]): Uint8Array {
  let n = 1
  for (const p of parts) n += p.length
  const k = new Uint8Array(n)
  k[0] = prefix
  let o = 1
  for (const p of parts) { k.set(p, o); o += p.length }
  return k
}
/** Decoded transactions kept by ChainStore.confirmedTx. */
const TX_CACHE_MAX = 16_384

function u32 (n: number): Uint8Array { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, n); return b }
/** K‖user record: epoch (u32), then for a tx_key with an Ik commitment ikFrom (u32) ‖ C(Ik) (32 bytes) ‖ its doctors (32 bytes each). */
function latestValue (k: LatestKey): Uint8Array {
  if (k.ikCommit === null) return u32(k.epoch)
  const v = new Uint8Array(40 + 32 * k.doctors.length)
  const dv = new DataView(v.buffer)
  dv.setUint32(0, k.epoch)
  dv.setUint32(4, k.ikFrom)
  v.set(k.ikCommit, 8)
  k.doctors.forEach((d, i) => v.set(d, 40 + 32 * i))
  return v
}
function parseLatest (v: Uint8Array): LatestKey {
  const dv = new DataView(v.buffer, v.byteOffset, v.byteLength)
  const epoch = dv.getUint32(0)
  if (v.length < 40) return { epoch, ikFrom: epoch, ikCommit: null, doctors: [] }
  const doctors: Uint8Array[] = []
  for (let o = 40; o + 32 <= v.length; o += 32) doctors.push(v.slice(o, o + 32))
  return { epoch, ikFrom: dv.getUint32(4), ikCommit: v.slice(8, 40), doctors }
}
function json (v: unknown): Uint8Array { return enc.encode(JSON.stringify(v)) }
function parse<T> (b: Uint8Array): T { return JSON.parse(dec.decode(b)) as T }
/** Tx index value, written into `v` (40 bytes): block hash ‖ height (u32) ‖ position (u32). */
function txLocInto (v: Uint8Array, block: Uint8Array, height: number, pos: number): void {
  v.set(block)
  const dv = new DataView(v.buffer, v.byteOffset, 40)
  dv.setUint32(32, height)
  dv.setUint32(36, pos)
}
/** A tx index row: key T‖txid (33 bytes), then its value (40). */
const TX_ROW = 73
function parseTxLoc (v: Uint8Array): TxLocation {
  const dv = new DataView(v.buffer, v.byteOffset, 40)
  return { block: new Uint8Array(v.subarray(0, 32)), height: dv.getUint32(32), pos: dv.getUint32(36) }
}
/** LevelDB write option of every write a connect depends on: fdatasync before it resolves. */
const SYNC = { sync: true } as const
const META_TIP = key(P.meta, utf8Bytes('tip'))
const META_NET = key(P.meta, utf8Bytes('network'))
const META_LAYOUT = key(P.meta, utf8Bytes('layout'))
/** Index layout version: 2 = one per-user index entry per (user, block). */
const LAYOUT = 2
/** A per-user index entry: position (u32) ‖ tx id. */
const USER_ENTRY = 36

export const keys = { key, u32, P }

type Op = { type: 'put', key: Uint8Array, value: Uint8Array } | { type: 'del', key: Uint8Array }

export interface ChainStoreOptions {
  /** Deepest reorg to follow (default params.maxReorgDepth). */
  readonly maxReorgDepth?: number
  /** Called while the index loads: done, total. */
  readonly onProgress?: (done: number, total: number) => void
  /** LevelDB's block cache and write buffer (memtable), bytes (defaults: LevelDB's, 8 MiB and 4 MiB): a small board sizes them down. */
  readonly leveldb?: LevelSizes
}

/** How much memory a LevelDB database may hold: its block cache and its write buffer, bytes. */
export interface LevelSizes { readonly cacheSize?: number, readonly writeBufferSize?: number }

/** The positions of each user's transactions in a block (per-user index). */
function usersOf (txs: readonly BodyTx[]): Array<{ user: Uint8Array, at: number[] }> {
  const by = new IdMap<{ user: Uint8Array, at: number[] }>()
  txs.forEach((t, pos) => {
    for (const user of txUsers(t)) {
      const g = by.get(user)
      if (g === undefined) by.set(user, { user, at: [pos] })
      else g.at.push(pos)
    }
  })
  return [...by.values()]
}

function userEntries (txs: readonly BodyTx[], at: readonly number[]): Uint8Array {
  const v = new Uint8Array(USER_ENTRY * at.length)
  const dv = new DataView(v.buffer)
  at.forEach((pos, i) => { dv.setUint32(i * USER_ENTRY, pos); v.set(txs[pos]!.id, i * USER_ENTRY + 4) })
  return v
}

/** The users a transaction concerns, for the per-user index. */
export function txUsers (t: BodyTx): Uint8Array[] {
  const tx = t.tx
  switch (tx.kind) {
    case 'iot': case 'key': return [tx.user]
    case 'coin': return equalBytes(tx.from, tx.to) ? [tx.from] : [tx.from, tx.to]
    case 'coinbase': return [tx.to]
    case 'diag': return [tx.doctor]
    case 'reg': case 'release': return []
    case 'emergency': return [tx.doctor, tx.patient]
    case 'withdrawal': return [tx.patient]
  }
}

export class ChainStore implements LedgerView {
  readonly params: NetworkParams
  readonly db: ClassicLevel<Uint8Array, Uint8Array>
  readonly dir: string
  private readonly entries = new Map<string, BlockEntry>()
  /** Hashes (hex) of the best chain by height. */
  private main: string[] = []
  private seq = 0
  private readonly maxReorgDepth: number
  private readonly onProgress: ((done: number, total: number) => void) | undefined
  private lock: Promise<unknown> = Promise.resolve()
  /** The block being added, so connecting it needs no read back and decode. */
  private readonly fresh = new Map<string, Ublock>()
  /**
   * Transactions read by confirmedTx, by id. An id is the hash of the
   * transaction's bytes, so what it names never changes; whether it is
   * confirmed on the best chain is read from the index at every call.
   */
  private txCache = new IdMap<Tx>()

  private constructor (dir: string, params: NetworkParams, opts: ChainStoreOptions) {
    this.dir = dir
    this.params = params
    this.maxReorgDepth = opts.maxReorgDepth ?? params.maxReorgDepth
    this.onProgress = opts.onProgress
    this.db = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view', ...opts.leveldb })
  }

  /** Opens (or creates, with the network's genesis) the store in `dir`, and resumes toward the best known block. */
  static async open (dir: string, params: NetworkParams, opts: ChainStoreOptions = {}): Promise<ChainStore> {
    const s = new ChainStore(dir, params, opts)
    try {
      await s.db.open()
    } catch (err) {
      const cause = (err as { cause?: { code?: string, message?: string } }).cause
      if (cause?.code === 'LEVEL_LOCKED' || /lock/i.test(cause?.message ?? '')) throw new StoreLockedError(dir)
      throw err
    }
    try {
      await s.load()
      await s.upgradeLayout()
    } catch (err) {
      await s.db.close()
      throw err
    }
    return s
  }

  async close (): Promise<void> {
    await this.lock.catch(() => {})
    await this.db.close()
  }

  private async load (): Promise<void> {
    const net = this.db.getSync(META_NET)
    if (net === undefined) {
      const g = genesisUblock(this.params)
      const gh = ublockHash(g.header)
      const entry = this.makeEntry(g.header, gh, 0n)
      this.entries.set(entry.hex, entry)
      // Network, genesis block, its entry and its connection: one batch.
      await this.connect(entry, g, [
        { type: 'put', key: META_NET, value: utf8Bytes(this.params.name) },
        { type: 'put', key: META_LAYOUT, value: u32(LAYOUT) },
        { type: 'put', key: key(P.block, gh), value: encodeUblock(g) },
        { type: 'put', key: key(P.entry, gh), value: this.entryValue(entry) }
      ])
      return
    }
    if (dec.decode(net) !== this.params.name) throw new NetworkMismatchError(this.params.name, dec.decode(net))
    // Load every index entry; parents before children is not guaranteed by hash order, so resolve work after.
    const raw: Array<{ hash: Uint8Array, v: { h: string, s: number, st: BlockStatus, r?: string } }> = []
    for await (const [k, v] of this.db.iterator({ gt: Uint8Array.of(P.entry), lt: Uint8Array.of(P.entry + 1) })) {
      raw.push({ hash: k.slice(1), v: parse(v) })
    }
    const byHex = new Map(raw.map((r) => [toHex(r.hash), r]))
    const resolve = (hex: string): BlockEntry | undefined => {
      const have = this.entries.get(hex)
      if (have !== undefined) return have
      const stack: string[] = []
      let cur: string | undefined = hex
      while (cur !== undefined && !this.entries.has(cur)) {
        const r = byHex.get(cur)
        if (r === undefined) return undefined
        stack.push(cur)
        const h = decodeUblockHeader(fromHex('header', r.v.h))
        cur = h.index === 0 ? undefined : toHex(h.prehash)
      }
      let parentWork = cur === undefined ? 0n : this.entries.get(cur)!.work
      let e: BlockEntry | undefined
      while (stack.length > 0) {
        const r = byHex.get(stack.pop()!)!
        const h = decodeUblockHeader(fromHex('header', r.v.h))
        e = { hash: r.hash, hex: toHex(r.hash), header: h, height: h.index, work: parentWork + blockWork(h.bits), seq: r.v.s, status: r.v.st, ...(r.v.r !== undefined ? { reason: r.v.r } : {}) }
        this.entries.set(e.hex, e)
        parentWork = e.work
        this.seq = Math.max(this.seq, e.seq + 1)
      }
      return e ?? this.entries.get(hex)
    }
    let done = 0
    for (const hex of byHex.keys()) {
      resolve(hex)
      if (++done % 1000 === 0) this.onProgress?.(done, byHex.size)
    }
    this.onProgress?.(byHex.size, byHex.size)
    const tip = this.db.getSync(META_TIP)
    if (tip === undefined) throw new StoreCorruptError('no tip')
    let e = this.entries.get(toHex(tip))
    if (e === undefined) throw new StoreCorruptError(`tip ${toHex(tip)} has no index entry`)
    const main: string[] = new Array(e.height + 1)
    for (;;) {
      main[e.height] = e.hex
      if (e.height === 0) break
      const p = this.entries.get(toHex(e.header.prehash))
      if (p === undefined) throw new StoreCorruptError(`block ${e.hex} has no parent entry`)
      e = p
    }
    this.main = main
    await this.exclusive(async () => { await this.activateBestChain() })
  }

  /** Rebuilds the indexes of a store written with an older layout (once: the layout is recorded after). */
  private async upgradeLayout (): Promise<void> {
    const v = this.db.getSync(META_LAYOUT)
    if (v !== undefined && new DataView(v.buffer, v.byteOffset, 4).getUint32(0) >= LAYOUT) return
    await this.reindex(this.onProgress)
    await this.db.put(META_LAYOUT, u32(LAYOUT))
  }

  // ---- reads ----

  get tip (): BlockEntry { return this.entries.get(this.main[this.main.length - 1]!)! }
  get height (): number { return this.main.length - 1 }
  get blockCount (): number { return this.entries.size }

  entry (hash: Uint8Array | string): BlockEntry | undefined {
    return this.entries.get(typeof hash === 'string' ? hash : toHex(hash))
  }

  /** Hash of the best-chain block at this height. */
  hashAt (height: number): Uint8Array | undefined {
    const h = this.main[height]
    return h === undefined ? undefined : this.entries.get(h)!.hash
  }

  isOnMainChain (hash: Uint8Array | string): boolean {
    const e = this.entry(hash)
    return e !== undefined && this.main[e.height] === e.hex
  }

  async getBlock (hash: Uint8Array | string): Promise<Ublock | undefined> {
    const bytes = await this.getBlockBytes(hash)
    return bytes === undefined ? undefined : decodeUblock(bytes)
  }

  async getBlockBytes (hash: Uint8Array | string): Promise<Uint8Array | undefined> {
    const h = typeof hash === 'string' ? fromHex('hash', hash) : hash
    return await this.db.get(key(P.block, h))
  }

  /** Where a transaction is confirmed on the best chain. */
  txLocation (txid: Uint8Array): TxLocation | undefined {
    const v = this.db.getSync(key(P.tx, txid))
    return v === undefined ? undefined : parseTxLoc(v)
  }

  /** The transaction confirmed on the best chain with this id, if any. */
  async confirmedTx (txid: Uint8Array): Promise<Tx | undefined> {
    const loc = this.txLocation(txid)
    if (loc === undefined) return undefined
    const had = this.txCache.get(txid)
    if (had !== undefined) return had
    // Only the one transaction is decoded (not the ~7,400 of a full block, each hashed for its id).
    const bytes = await this.getBlockBytes(loc.block)
    const tx = bytes === undefined ? undefined : ublockTxsAt(bytes, [loc.pos])[0]
    if (tx !== undefined) {
      if (this.txCache.size >= TX_CACHE_MAX) this.txCache = new IdMap()
      this.txCache.set(txid.slice(), tx)
    }
    return tx
  }

  /** The transactions at `positions` (ascending) of the best-chain block at `height`, each decoded alone (for a scan of a user's index). */
  async txsAt (height: number, positions: readonly number[]): Promise<Array<Tx | undefined>> {
    const hash = this.hashAt(height)
    const bytes = hash === undefined ? undefined : await this.getBlockBytes(hash)
    return bytes === undefined ? positions.map(() => undefined) : ublockTxsAt(bytes, positions)
  }

  /** Ids of the best-chain transactions concerning this user, oldest first; from `fromHeight` up when given. */
  async userTxs (id: Uint8Array, limit = 10_000, fromHeight = 0): Promise<Array<{ txid: Uint8Array, height: number, pos: number }>> {
    const out: Array<{ txid: Uint8Array, height: number, pos: number }> = []
    const lo = key(P.user, id, u32(fromHeight))
    const hi = key(P.user, id, Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff))
    for await (const [k, v] of this.db.iterator({ gte: lo, lt: hi })) {
      const height = new DataView(k.buffer, k.byteOffset + 33, 4).getUint32(0)
      const dv = new DataView(v.buffer, v.byteOffset, v.byteLength)
      for (let o = 0; o < v.length; o += USER_ENTRY) {
        if (out.length >= limit) return out
        out.push({ txid: v.slice(o + 4, o + USER_ENTRY), height, pos: dv.getUint32(o) })
      }
    }
    return out
  }

  /** Positions of the user's transactions in the best-chain block at `height` (a synchronous read of one index entry), oldest first. */
  userTxsAt (id: Uint8Array, height: number): number[] {
    const v = this.db.getSync(key(P.user, id, u32(height)))
    if (v === undefined) return []
    const dv = new DataView(v.buffer, v.byteOffset, v.byteLength)
    const out: number[] = []
    for (let o = 0; o < v.length; o += USER_ENTRY) out.push(dv.getUint32(o))
    return out
  }

  /**
   * What a light user node asks a core node for (paper §III-A, DESIGN §6):
   * its best-chain transactions, each with the block header and a Merkle
   * inclusion proof against the header's userroot (core verifyMerkleProof).
   */
  async userTxProofs (id: Uint8Array, limit = 1000, fromHeight = 0): Promise<TxProof[]> {
    const out: TxProof[] = []
    const blocks = new Map<number, { block: Ublock, proofs: Uint8Array[][] }>()
    for (const { height, pos } of await this.userTxs(id, limit, fromHeight)) {
      let b = blocks.get(height)
      if (b === undefined) {
        const block = await this.getBlock(this.hashAt(height)!)
        if (block === undefined) throw new StoreCorruptError(`block at height ${height} missing`)
        b = { block, proofs: merkleProofs(block.txs.map((t) => t.id)) }
        blocks.set(height, b)
      }
      const t = b.block.txs[pos]!
      out.push({ tx: t, header: b.block.header, pos, size: b.block.txs.length, proof: b.proofs[pos]! })
    }
    return out
  }

  account (id: Uint8Array): Account {
    const v = this.db.getSync(key(P.account, id))
    if (v === undefined) return EMPTY_ACCOUNT
    const [balance, nonce] = parse<[number, number]>(v)
    return { balance, nonce }
  }

  latestEpoch (user: Uint8Array): number {
    const v = this.db.getSync(key(P.latest, user))
    return v === undefined ? 0 : new DataView(v.buffer, v.byteOffset, 4).getUint32(0)
  }

  latestKey (user: Uint8Array): LatestKey | undefined {
    const v = this.db.getSync(key(P.latest, user))
    return v === undefined ? undefined : parseLatest(v)
  }

  hasEpoch (user: Uint8Array, epoch: number): boolean {
    return this.db.getSync(key(P.epoch, user, u32(epoch))) !== undefined
  }

  /** The user's epochs above `epoch` on the best chain with the id of the tx_key that opened each, ascending; at most `limit`. */
  async epochTxsAfter (user: Uint8Array, epoch: number, limit: number): Promise<Array<{ epoch: number, txid: Uint8Array }>> {
    const out: Array<{ epoch: number, txid: Uint8Array }> = []
    if (epoch >= 0xffffffff) return out
    for await (const [k, v] of this.db.iterator({ gt: key(P.epoch, user, u32(epoch)), lte: key(P.epoch, user, u32(0xffffffff)), limit })) {
      out.push({ epoch: new DataView(k.buffer, k.byteOffset + 33, 4).getUint32(0), txid: new Uint8Array(v) })
    }
    return out
  }

  /** Id of the tx_key that opened this epoch of this user on the best chain. */
  epochTx (user: Uint8Array, epoch: number): Uint8Array | undefined {
    const v = this.db.getSync(key(P.epoch, user, u32(epoch)))
    return v === undefined ? undefined : new Uint8Array(v)
  }

  isConfirmed (txid: Uint8Array): boolean { return this.db.getSync(key(P.tx, txid)) !== undefined }

  /** The ancestor of `e` at `height` (walks the in-memory index). */
  ancestor (e: BlockEntry, height: number): BlockEntry {
    let cur = e
    while (cur.height > height) {
      if (this.main[cur.height] === cur.hex) return this.entries.get(this.main[height]!)!
      cur = this.entries.get(toHex(cur.header.prehash))!
    }
    return cur
  }

  /** Bits the block after `parent` must carry (paper §IV-B3 retarget). */
  nextBitsAfter (parent: BlockEntry): number {
    return bitsAfter(this.params, { height: parent.height, bits: parent.header.bits, gtime: parent.header.gtime }, (h) => this.ancestor(parent, h).header.gtime)
  }

  /** gtimes of `e` and its ancestors, newest last, at most `n`. */
  recentTimes (e: BlockEntry, n = this.params.mtpWindow): number[] {
    const out: number[] = []
    let cur: BlockEntry | undefined = e
    while (cur !== undefined && out.length < n) {
      out.push(cur.header.gtime)
      cur = cur.height === 0 ? undefined : this.entries.get(toHex(cur.header.prehash))
    }
    return out.reverse()
  }

  /** What a block on top of `prevHash` is checked against (core checkUblockHeader). */
  headerContext (prevHash: Uint8Array, now: number): HeaderContext {
    const parent = this.entries.get(toHex(prevHash))
    if (parent === undefined) throw new OrphanBlockError(toHex(prevHash))
    return { prevHash: parent.hash, prevIndex: parent.height, expectedBits: this.nextBitsAfter(parent), prevTimes: this.recentTimes(parent), now }
  }

  /** Why a block or one of its ancestors is invalid, or null. */
  invalidReason (hash: Uint8Array | string): string | null {
    let cur = this.entry(hash)
    while (cur !== undefined && this.main[cur.height] !== cur.hex) {
      if (cur.status === 'invalid') return cur.reason ?? 'invalid'
      cur = cur.height === 0 ? undefined : this.entries.get(toHex(cur.header.prehash))
    }
    return null
  }

  // ---- writes ----

  private async exclusive<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn)
    this.lock = run.catch(() => {})
    return await run
  }

  private makeEntry (header: UblockHeader, hash: Uint8Array, parentWork: bigint): BlockEntry {
    return { hash, hex: toHex(hash), header, height: header.index, work: parentWork + blockWork(header.bits), seq: this.seq++, status: 'valid' }
  }

  private entryValue (e: BlockEntry): Uint8Array {
    return json({ h: toHex(encodeUblockHeader(e.header)), s: e.seq, st: e.status, ...(e.reason !== undefined ? { r: e.reason } : {}) })
  }

  /**
   * Stores a block whose structure (core checkUblockStructure), header (PoW,
   * target, time) and signatures the caller has checked
   * (roles/core/validation.ts), then moves
   * to the best chain. State rules (balances, nonces, epochs, duplicates)
   * are checked here, when the block connects; a block failing them is
   * marked invalid with its descendants and never retried. `gate` (the
   * caller's pending signature check) must resolve before anything of the
   * block is written; when it rejects, nothing is stored.
   */
  async addBlock (block: Ublock, bytes?: Uint8Array, opts: { gate?: Promise<unknown> } = {}): Promise<AddResult> {
    return await this.exclusive(async () => {
      const hash = ublockHash(block.header)
      const hex = toHex(hash)
      const empty = { connected: [], disconnected: [], invalidated: [] }
      const have = this.entries.get(hex)
      if (have !== undefined) {
        if (have.status === 'invalid') throw new KnownInvalidError(hex, have.reason ?? 'invalid')
        return { hash: hex, status: 'duplicate', tipChanged: false, ...empty }
      }
      const parent = this.entries.get(toHex(block.header.prehash))
      if (parent === undefined || block.header.index === 0) throw new OrphanBlockError(toHex(block.header.prehash))
      if (block.header.index !== parent.height + 1) throw new StoreCorruptError(`index ${block.header.index} does not follow ${parent.height}`)
      const entry = this.makeEntry(block.header, hash, parent.work)
      const badParent = this.invalidReason(parent.hex)
      if (badParent !== null) {
        entry.status = 'invalid'
        entry.reason = `descends from an invalid block (${badParent})`
      }
      const stored: Op[] = [
        { type: 'put', key: key(P.block, hash), value: bytes ?? encodeUblock(block) },
        { type: 'put', key: key(P.entry, hash), value: this.entryValue(entry) }
      ]
      if (entry.status === 'invalid') {
        await this.db.batch(stored)
        this.entries.set(hex, entry)
        throw new KnownInvalidError(hex, entry.reason!)
      }
      if (parent.hex === this.tip.hex) {
        // The common case, a block on the tip: the block's bytes go to disk
        // and the state rules run while the signatures are still being
        // verified (`gate`); entry and connection then go in one batch. (If
        // the gate fails, the bytes stay unreferenced: no entry names them.)
        const bodyWrite = opts.gate === undefined ? Promise.resolve() : this.db.put(stored[0]!.key, (stored[0] as { value: Uint8Array }).value, SYNC)
        bodyWrite.catch(() => {})
        // One batched read answers "already confirmed?" for every tx (a
        // lookup each would cost more than the rest of the state rules).
        const found = await this.db.getMany(block.txs.map((t) => key(P.tx, t.id)))
        let batch: ChainedBatch<ClassicLevel<Uint8Array, Uint8Array>, Uint8Array, Uint8Array>
        try {
          batch = this.connectBatch(entry, block, opts.gate === undefined ? stored : stored.slice(1), withConfirmed(this, block.txs, found.map((v) => v !== undefined)))
        } catch (err) {
          if (!(err instanceof HealthchainError) || err instanceof StoreCorruptError) throw err
          await opts.gate
          entry.status = 'invalid'
          entry.reason = err.message
          await this.db.batch([stored[0]!, { type: 'put', key: key(P.entry, hash), value: this.entryValue(entry) }])
          this.entries.set(hex, entry)
          return { hash: hex, status: 'invalid', reason: err.message, tipChanged: false, ...empty, invalidated: [{ hash: hex, reason: err.message }] }
        }
        try {
          await opts.gate
        } catch (err) {
          await batch.close()
          throw err
        }
        await bodyWrite
        await batch.write(SYNC)
        this.entries.set(hex, entry)
        this.main[entry.height] = hex
        return { hash: hex, status: 'connected', tipChanged: true, connected: [block], disconnected: [], invalidated: [] }
      }
      await opts.gate
      await this.db.batch(stored, SYNC) // connects below may name it
      this.entries.set(hex, entry)
      const before = this.tip.hex
      this.fresh.set(hex, block)
      let r
      try {
        r = await this.activateBestChain()
      } finally {
        this.fresh.delete(hex)
      }
      const status = (entry.status as BlockStatus) === 'invalid' ? 'invalid' : this.isOnMainChain(hex) ? 'connected' : 'side'
      return { hash: hex, status, ...(entry.reason !== undefined ? { reason: entry.reason } : {}), tipChanged: this.tip.hex !== before, ...r }
    })
  }

  /**
   * The valid block with the most work. The tip keeps a tie (first seen
   * wins), except after an invalid block forced us off a branch: then the
   * first seen of the tied blocks wins.
   */
  private bestCandidate (skip: Set<string>, tipKeepsTie: boolean): BlockEntry {
    let best = this.tip
    for (const e of this.entries.values()) {
      if (e.status === 'invalid' || skip.has(e.hex)) continue
      if (e.work > best.work || (e.work === best.work && e.seq < best.seq && !(tipKeepsTie && best === this.tip))) best = e
    }
    return best
  }

  private async activateBestChain (): Promise<{ connected: Ublock[], disconnected: Ublock[], invalidated: Array<{ hash: string, reason: string }> }> {
    const connected: Ublock[] = []
    const disconnected: Ublock[] = []
    const invalidated: Array<{ hash: string, reason: string }> = []
    const skip = new Set<string>()
    let tipKeepsTie = true
    for (let round = 0; round < 10_000; round++) {
      const best = this.bestCandidate(skip, tipKeepsTie)
      if (best === this.tip) break
      const bad = this.invalidReason(best.hex)
      if (bad !== null) { await this.markInvalid(best, `descends from an invalid block (${bad})`); continue }
      // Path from the fork point to best.
      const path: BlockEntry[] = []
      let cur = best
      while (this.main[cur.height] !== cur.hex) {
        path.push(cur)
        cur = this.entries.get(toHex(cur.header.prehash))!
      }
      path.reverse()
      const fork = cur
      const depth = this.tip.height - fork.height
      if (depth > this.maxReorgDepth) { skip.add(best.hex); continue }
      while (this.tip.hex !== fork.hex) disconnected.push(await this.disconnectTip())
      for (const e of path) {
        let block = this.fresh.get(e.hex)
        if (block === undefined) {
          const bytes = await this.db.get(key(P.block, e.hash))
          if (bytes === undefined) throw new StoreCorruptError(`block ${e.hex} has an entry but no data`)
          block = decodeUblock(bytes)
        }
        try {
          await this.connect(e, block)
          connected.push(block)
        } catch (err) {
          if (!(err instanceof HealthchainError) || err instanceof StoreCorruptError) throw err
          await this.markInvalid(e, err.message)
          invalidated.push({ hash: e.hex, reason: err.message })
          tipKeepsTie = false
          break
        }
      }
    }
    return { connected, disconnected, invalidated }
  }

  private async markInvalid (e: BlockEntry, reason: string): Promise<void> {
    e.status = 'invalid'
    e.reason = reason
    await this.db.put(key(P.entry, e.hash), this.entryValue(e))
  }

  /** Connects `block` on top of the tip: state rules, indexes, undo, tip — one batch. */
  private async connect (e: BlockEntry, block: Ublock, extra: Op[] = [], base: LedgerView = this): Promise<void> {
    await this.connectBatch(e, block, extra, base).write(SYNC)
    this.main[e.height] = e.hex
  }

  /**
   * The batch connecting `block` on the tip, handed to LevelDB as it is
   * built (the caller commits it: a block on the tip after its signatures
   * pass, with nothing left to do but the write); throws a typed error,
   * before any op, when a state rule fails.
   */
  private connectBatch (e: BlockEntry, block: Ublock, extra: Op[], base: LedgerView = this): ChainedBatch<ClassicLevel<Uint8Array, Uint8Array>, Uint8Array, Uint8Array> {
    if (e.height !== 0 && toHex(block.header.prehash) !== this.tip.hex) throw new StoreCorruptError(`${e.hex} does not extend the tip`)
    const ov = new LedgerOverlay(base)
    for (let i = 1; i < block.txs.length; i++) ov.apply(block.txs[i]!, `txs[${i}]`)
    ov.applyCoinbase(block.txs[0]!, e.height === 0 ? 0 : this.params.blockReward)
    const b = this.db.batch()
    for (const op of extra) {
      if (op.type === 'put') b.put(op.key, op.value)
      else b.del(op.key)
    }
    const undo: UndoRecord = { a: [], k: [] }
    for (const { id, account } of ov.accounts.values()) {
      const prev = this.db.getSync(key(P.account, id))
      if (prev === undefined) undo.a.push([toHex(id)])
      else { const [bal, n] = parse<[number, number]>(prev); undo.a.push([toHex(id), bal, n]) }
      b.put(key(P.account, id), json([account.balance, account.nonce]))
    }
    for (const k of ov.epochs.values()) {
      const was = this.db.getSync(key(P.latest, k.user))
      undo.k.push(was === undefined ? [toHex(k.user), 0] : was.length > 4 ? [toHex(k.user), parseLatest(was).epoch, toHex(was)] : [toHex(k.user), parseLatest(was).epoch])
      b.put(key(P.latest, k.user), latestValue(k))
    }
    for (const { user, epoch, txid } of ov.newEpochs.values()) b.put(key(P.epoch, user, u32(epoch)), txid)
    // The tx index: all keys and values of the block in one buffer.
    const rows = new Uint8Array(block.txs.length * TX_ROW)
    block.txs.forEach((t, pos) => {
      const o = pos * TX_ROW
      rows[o] = P.tx
      rows.set(t.id, o + 1)
      txLocInto(rows.subarray(o + 33, o + TX_ROW), e.hash, e.height, pos)
      b.put(rows.subarray(o, o + 33), rows.subarray(o + 33, o + TX_ROW))
    })
    for (const { user, at } of usersOf(block.txs)) b.put(key(P.user, user, u32(e.height)), userEntries(block.txs, at))
    b.put(key(P.undo, e.hash), json(undo))
    b.put(key(P.height, u32(e.height)), e.hash)
    b.put(META_TIP, e.hash)
    return b
  }

  /** Disconnects the tip: restores accounts and epochs from its undo record, drops its indexes — one batch. */
  private async disconnectTip (): Promise<Ublock> {
    const e = this.tip
    if (e.height === 0) throw new StoreCorruptError('cannot disconnect genesis')
    const bytes = await this.db.get(key(P.block, e.hash))
    const undoBytes = this.db.getSync(key(P.undo, e.hash))
    if (bytes === undefined || undoBytes === undefined) throw new StoreCorruptError(`tip ${e.hex} lacks its block or undo record`)
    const block = decodeUblock(bytes)
    const undo = parse<UndoRecord>(undoBytes)
    const ops: Op[] = []
    for (const a of undo.a) {
      const k = key(P.account, fromHex('id', a[0]))
      ops.push(a.length === 1 ? { type: 'del', key: k } : { type: 'put', key: k, value: json([a[1], a[2]]) })
    }
    for (const [u, epoch, raw] of undo.k) {
      const k = key(P.latest, fromHex('user', u))
      ops.push(epoch === 0 ? { type: 'del', key: k } : { type: 'put', key: k, value: raw === undefined ? u32(epoch) : fromHex('latest', raw) })
    }
    for (const t of block.txs) {
      ops.push({ type: 'del', key: key(P.tx, t.id) })
      if (t.tx.kind === 'key') ops.push({ type: 'del', key: key(P.epoch, t.tx.user, u32(t.tx.epoch)) })
    }
    for (const { user } of usersOf(block.txs)) ops.push({ type: 'del', key: key(P.user, user, u32(e.height)) })
    ops.push({ type: 'del', key: key(P.undo, e.hash) })
    ops.push({ type: 'del', key: key(P.height, u32(e.height)) })
    ops.push({ type: 'put', key: META_TIP, value: e.header.prehash })
    await this.db.batch(ops)
    this.main.length = e.height
    return block
  }

  /**
   * Rebuilds every index and the Healthcoin/epoch state from the stored
   * blocks: one batch wipes them and reconnects genesis, then each
   * best-chain block reconnects in its own batch (so a crash midway leaves a
   * consistent shorter chain, which the next open extends again).
   */
  async reindex (onProgress?: (done: number, total: number) => void): Promise<void> {
    await this.exclusive(async () => {
      const path = [...this.main]
      const wipe: Op[] = []
      for (const prefix of [P.height, P.tx, P.user, P.account, P.latest, P.epoch, P.undo]) {
        for await (const k of this.db.keys({ gt: Uint8Array.of(prefix), lt: Uint8Array.of(prefix + 1) })) wipe.push({ type: 'del', key: k })
      }
      const genesis = this.entries.get(path[0]!)!
      const gBlock = await this.getBlock(genesis.hash)
      if (gBlock === undefined) throw new StoreCorruptError('genesis block missing')
      this.main = []
      // Genesis is checked against an empty state: the wipe is in the same batch.
      await this.connect(genesis, gBlock, wipe, { account: () => EMPTY_ACCOUNT, latestEpoch: () => 0, latestKey: () => undefined, hasEpoch: () => false, isConfirmed: () => false })
      for (let h = 1; h < path.length; h++) {
        const e = this.entries.get(path[h]!)!
        const block = await this.getBlock(e.hash)
        if (block === undefined) throw new StoreCorruptError(`block ${e.hex} missing`)
        try {
          await this.connect(e, block)
        } catch (err) {
          if (!(err instanceof HealthchainError) || err instanceof StoreCorruptError) throw err
          await this.markInvalid(e, err.message)
          break
        }
        if (h % 100 === 0) onProgress?.(h, path.length - 1)
      }
      onProgress?.(path.length - 1, path.length - 1)
      await this.activateBestChain()
    })
  }

  /** Consistency audit (crash tests, `chain info --check`): returns the problems found. */
  async audit (): Promise<string[]> {
    const problems: string[] = []
    const tip = this.db.getSync(META_TIP)
    if (tip === undefined || !equalBytes(tip, this.tip.hash)) problems.push('meta tip differs from the loaded tip')
    for (let h = 0; h < this.main.length; h++) {
      const v = this.db.getSync(key(P.height, u32(h)))
      if (v === undefined || toHex(v) !== this.main[h]) problems.push(`height ${h}: index does not name the best-chain block`)
      if (this.db.getSync(key(P.block, fromHex('h', this.main[h]!))) === undefined) problems.push(`height ${h}: block data missing`)
      if (h > 0 && this.db.getSync(key(P.undo, fromHex('h', this.main[h]!))) === undefined) problems.push(`height ${h}: undo record missing`)
    }
    if (this.db.getSync(key(P.height, u32(this.main.length))) !== undefined) problems.push('height index runs past the tip')
    const blockIds = new Map<string, Uint8Array[] | null>()
    for await (const [k, v] of this.db.iterator({ gt: Uint8Array.of(P.tx), lt: Uint8Array.of(P.tx + 1) })) {
      const loc = parseTxLoc(v)
      const o = { b: toHex(loc.block), h: loc.height, p: loc.pos }
      if (this.main[o.h] !== o.b) { problems.push(`tx ${toHex(k.slice(1))} points to a block off the best chain`); continue }
      let ids = blockIds.get(o.b)
      if (ids === undefined) {
        const bytes = this.db.getSync(key(P.block, fromHex('b', o.b)))
        ids = bytes === undefined ? null : decodeUblock(bytes).txs.map((t) => t.id)
        blockIds.set(o.b, ids)
      }
      if (ids === null) { problems.push(`tx ${toHex(k.slice(1))} points to a missing block`); continue }
      const t = { id: ids[o.p] }
      if (t.id === undefined) { problems.push(`tx ${toHex(k.slice(1))} position is wrong`); continue }
      if (!equalBytes(t.id, k.slice(1))) problems.push(`tx ${toHex(k.slice(1))} position is wrong`)
    }
    for await (const [k, v] of this.db.iterator({ gt: Uint8Array.of(P.user), lt: Uint8Array.of(P.user + 1) })) {
      const h = new DataView(k.buffer, k.byteOffset + 33, 4).getUint32(0)
      if (h >= this.main.length) { problems.push(`user index entry at height ${h} above the tip`); continue }
      if (k.length !== 37 || v.length === 0 || v.length % USER_ENTRY !== 0) { problems.push(`user index entry at height ${h} is malformed`); continue }
      let ids = blockIds.get(this.main[h]!)
      if (ids === undefined) {
        const bytes = this.db.getSync(key(P.block, fromHex('b', this.main[h]!)))
        ids = bytes === undefined ? null : decodeUblock(bytes).txs.map((t) => t.id)
        blockIds.set(this.main[h]!, ids)
      }
      const dv = new DataView(v.buffer, v.byteOffset, v.byteLength)
      for (let o = 0; o < v.length; o += USER_ENTRY) {
        const pos = dv.getUint32(o)
        const id = ids?.[pos]
        if (id === undefined || !equalBytes(id, v.subarray(o + 4, o + USER_ENTRY))) problems.push(`user index entry at ${h}/${pos} does not name the tx there`)
      }
    }
    return problems
  }
}
