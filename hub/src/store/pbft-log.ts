/**
 * Persisted PBFT state of an accounting node (paper §IV-B3; DESIGN §5: "the
 * log is persisted so a restarted node rejoins") on classic-level (LevelDB):
 * the certified Docchain, a tx index, and the replica's write-ahead log — a
 * snapshot (core/pbft/replica.ts ReplicaSnapshot, replaced at each stable
 * checkpoint or view change) plus every accepted message since, in order.
 * The host applies a replica's actions here BEFORE sending its messages, and
 * each batch is synced (fdatasync of LevelDB's log) before `apply`
 * resolves, so neither a restart nor a power cut makes a replica contradict
 * a vote it already cast (PBFT's safety assumes a replica keeps what it
 * sent, paper §IV-B3).
 *
 * Key layout (one-byte prefix, binary keys):
 *   b‖height(u32) → certified Dblock     t‖txid → height(u32)
 *   m‖counter(u64) → message bytes       s → first counter to replay(u64) ‖ snapshot
 *   f → store format (u8, PBFT_LOG_FORMAT): 2 since pbft/4.0.0, whose certificates name
 *       their view; a store without it that holds anything is refused (StoreFormatError)
 */
import { ClassicLevel } from 'classic-level'
import { decodeDblock, encodeDblock, HASH_BYTES, MAX_VARINT, Reader, toHex, UnknownVersionError, Writer, type Dblock } from '../core/index.ts'
import { MAX_PBFT_MESSAGE_BYTES, MAX_PROOF_ITEMS, readList, writeList } from '../core/pbft/envelope.ts'
import { emptySnapshot, type Action, type ReplicaSnapshot } from '../core/pbft/replica.ts'
import { levelIsEmpty, openVersioned, type FormatSpec } from './format.ts'

const P = { block: 0x62, tx: 0x74, msg: 0x6d, snap: 0x73, format: 0x66 } as const

/**
 * The store's formats (store/format.ts): 1, before pbft/4.0.0, recorded
 * none; its certificates name no view, and their signatures sign one, so
 * they cannot be rewritten: such a store is refused. 2 records the format.
 */
const PBFT_LOG_FORMAT: FormatSpec<ClassicLevel<Uint8Array, Uint8Array>> = {
  name: 'Docchain store',
  current: 2,
  unversioned: 1,
  read: async (db) => (await db.get(Uint8Array.of(P.format)))?.[0],
  write: async (db, f) => { await db.put(Uint8Array.of(P.format), Uint8Array.of(f), { sync: true } as object) },
  isEmpty: levelIsEmpty,
  migrations: [],
  unmigratable: { 1: 'pbft/3.0.0 certificates name no view, and their signatures sign one; move the store aside and this node syncs Docchain from its peers' }
}
const SNAPSHOT_VERSION = 1

function u32Key (prefix: number, n: number): Uint8Array {
  const k = new Uint8Array(5)
  k[0] = prefix
  new DataView(k.buffer).setUint32(1, n)
  return k
}
function counterKey (n: number): Uint8Array {
  const k = new Uint8Array(9)
  k[0] = P.msg
  const dv = new DataView(k.buffer)
  dv.setUint32(1, Math.floor(n / 0x100000000))
  dv.setUint32(5, n >>> 0)
  return k
}
function txKey (id: Uint8Array): Uint8Array {
  const k = new Uint8Array(1 + HASH_BYTES)
  k[0] = P.tx
  k.set(id, 1)
  return k
}

export function encodeSnapshot (s: ReplicaSnapshot): Uint8Array {
  const w = new Writer(1024).u8('version', SNAPSHOT_VERSION).u32('view', s.view).u8('inViewChange', s.inViewChange ? 1 : 0)
    .u32('viewStart', s.viewStart).u32('stableSeq', s.stableSeq).fixed('stableDigest', s.stableDigest, HASH_BYTES)
  writeList(w, 'stableProof', s.stableProof)
  w.varint('prepared', s.prepared.length, MAX_PROOF_ITEMS)
  s.prepared.forEach((p, i) => { w.bytes(`prepared[${i}]`, p.prePrepare, MAX_PBFT_MESSAGE_BYTES); writeList(w, `prepared[${i}].prepares`, p.prepares) })
  writeList(w, 'ownViewChange', s.ownViewChange === null ? [] : [s.ownViewChange])
  writeList(w, 'newView', s.newView === null ? [] : [s.newView])
  w.list('messages', s.messages, MAX_VARINT, MAX_PBFT_MESSAGE_BYTES)
  return w.finish()
}

export function decodeSnapshot (bytes: Uint8Array): ReplicaSnapshot {
  const r = new Reader(bytes)
  const v = r.u8('version')
  if (v !== SNAPSHOT_VERSION) throw new UnknownVersionError('snapshot.version', v)
  const view = r.u32('view')
  const inViewChange = r.u8('inViewChange') === 1
  const viewStart = r.u32('viewStart')
  const stableSeq = r.u32('stableSeq')
  const stableDigest = r.fixed('stableDigest', HASH_BYTES)
  const stableProof = readList(r, 'stableProof')
  const n = r.varint('prepared', MAX_PROOF_ITEMS)
  const prepared = []
  for (let i = 0; i < n; i++) prepared.push({ prePrepare: r.bytes(`prepared[${i}]`, MAX_PBFT_MESSAGE_BYTES), prepares: readList(r, `prepared[${i}].prepares`) })
  const ownViewChange = readList(r, 'ownViewChange')[0] ?? null
  const newView = readList(r, 'newView')[0] ?? null
  const messages = r.list('messages', MAX_VARINT, MAX_PBFT_MESSAGE_BYTES)
  r.end('snapshot')
  return { view, inViewChange, viewStart, stableSeq, stableDigest, stableProof, prepared, ownViewChange, newView, messages }
}

export interface LoadedState {
  readonly tip: Dblock
  readonly snapshot: ReplicaSnapshot
  readonly appended: Uint8Array[]
  readonly txIds: string[]
}

export class PbftLog {
  private readonly db: ClassicLevel<Uint8Array, Uint8Array>
  private counter = 0
  private height = 0
  private readonly genesis: Dblock

  private constructor (dir: string, genesis: Dblock) {
    this.db = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' })
    this.genesis = genesis
  }

  static async open (dir: string, genesis: Dblock): Promise<PbftLog> {
    let log: PbftLog | null = null
    await openVersioned(dir, async () => {
      log = new PbftLog(dir, genesis)
      await log.db.open()
      return log.db
    }, PBFT_LOG_FORMAT)
    const l = log! as PbftLog
    for await (const [k] of l.db.iterator({ gte: Uint8Array.of(P.msg), lt: Uint8Array.of(P.msg + 1), reverse: true, limit: 1 })) {
      const dv = new DataView(k.buffer, k.byteOffset)
      l.counter = dv.getUint32(1) * 0x100000000 + dv.getUint32(5) + 1
    }
    for await (const [k] of l.db.iterator({ gte: Uint8Array.of(P.block), lt: Uint8Array.of(P.block + 1), reverse: true, limit: 1 })) {
      l.height = new DataView(k.buffer, k.byteOffset).getUint32(1)
    }
    return l
  }

  /** Height of the certified Docchain tip (0 = genesis only). */
  get tipHeight (): number { return this.height }

  /**
   * Applies a replica's persist/compact/commit actions in one atomic batch,
   * synced to disk before it resolves (one fdatasync per group commit of
   * the node). Await this before sending the messages of the same step.
   */
  async apply (actions: readonly Action[]): Promise<void> {
    const ops: Array<{ type: 'put', key: Uint8Array, value: Uint8Array }> = []
    let compactFrom: number | null = null
    // the tip moves only once its Dblock is written: a reader told height h can read block h
    let height = this.height
    for (const a of actions) {
      if (a.type === 'persist') {
        ops.push({ type: 'put', key: counterKey(this.counter++), value: a.bytes })
      } else if (a.type === 'compact') {
        // The snapshot subsumes every message accepted before it: it names the
        // first counter still to replay, so the swap is atomic; older
        // messages are cleared after the batch.
        for (let i = 0; i < ops.length; i++) if (ops[i]!.key[0] === P.msg) ops.splice(i--, 1)
        compactFrom = this.counter
        const snap = encodeSnapshot(a.snapshot)
        const v = new Uint8Array(8 + snap.length)
        v.set(counterKey(this.counter).subarray(1))
        v.set(snap, 8)
        ops.push({ type: 'put', key: Uint8Array.of(P.snap), value: v })
      } else if (a.type === 'commit') {
        const h = a.block.header.index
        ops.push({ type: 'put', key: u32Key(P.block, h), value: encodeDblock(a.block) })
        const hv = new Uint8Array(4)
        new DataView(hv.buffer).setUint32(0, h)
        for (const t of a.block.txs) ops.push({ type: 'put', key: txKey(t.id), value: hv })
        height = Math.max(height, h)
      }
    }
    if (ops.length > 0) await this.db.batch(ops, { sync: true })
    this.height = Math.max(this.height, height)
    // Not synced: if a power cut drops the clear, the messages it would
    // remove lie before the snapshot's first counter and are never replayed.
    if (compactFrom !== null) await this.db.clear({ gte: Uint8Array.of(P.msg), lt: counterKey(compactFrom) })
  }

  async block (height: number): Promise<Dblock | undefined> {
    if (height === 0) return this.genesis
    const v = await this.db.get(u32Key(P.block, height))
    return v === undefined ? undefined : decodeDblock(v)
  }

  /** Certified Dblocks from `from`, at most `limit` (for state transfer). */
  async blocks (from: number, limit: number): Promise<Dblock[]> {
    const out: Dblock[] = []
    for await (const [, v] of this.db.iterator({ gte: u32Key(P.block, Math.max(1, from)), lt: Uint8Array.of(P.block + 1), limit })) out.push(decodeDblock(v))
    return out
  }

  /** Whether tx id is on the stored Docchain (a synchronous read: the replica asks while it checks). */
  hasTx (id: Uint8Array): boolean { return this.db.getSync(txKey(id)) !== undefined }

  /** Height of the Dblock holding tx id, if committed. */
  async txHeight (id: Uint8Array): Promise<number | undefined> {
    const v = await this.db.get(txKey(id))
    return v === undefined ? undefined : new DataView(v.buffer, v.byteOffset).getUint32(0)
  }

  /** Everything a restart needs: Docchain tip, committed tx ids, snapshot and appended log. */
  async load (): Promise<LoadedState> {
    const tip = (await this.block(this.height)) ?? this.genesis
    const txIds: string[] = []
    for await (const [k] of this.db.iterator({ gte: Uint8Array.of(P.tx), lt: Uint8Array.of(P.tx + 1) })) txIds.push(toHex(k.subarray(1)))
    const snap = await this.db.get(Uint8Array.of(P.snap))
    const from = snap === undefined ? Uint8Array.of(P.msg) : Uint8Array.of(P.msg, ...snap.subarray(0, 8))
    const appended: Uint8Array[] = []
    for await (const [, v] of this.db.iterator({ gte: from, lt: Uint8Array.of(P.msg + 1) })) appended.push(v)
    return { tip, txIds, snapshot: snap === undefined ? emptySnapshot(this.genesis) : decodeSnapshot(snap.subarray(8)), appended }
  }

  async close (): Promise<void> { await this.db.close() }
}
