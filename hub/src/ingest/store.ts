/**
 * The ingest store on LevelDB (classic-level): the device registry, every
 * accepted reading until it is batched, the replay marks, and closed batches
 * waiting for the user node to seal and upload them (paper Alg. 2 line 1).
 *
 * Keys (UTF-8, values JSON):
 *   dev!<device>                          DeviceRecord
 *   pend!<user>!<device>!<boot>!<seq>     PendingReading   (boot, seq: 16 hex digits), or,
 *                                         sealed, PendingReading[]: the readings of one
 *                                         user committed together, keyed by the first
 *   mark!<device>!<boot>                  highest accepted seq of that boot
 *   batch!<user>!<n>                      BatchRecord      (n: 16 hex digits)
 *   meta!batchSeq                         last n
 *   meta!format                           the store's format (INGEST_FORMAT)
 *
 * On a hub, pend! and batch! values are sealed under their batch's data key
 * (batch-keys.ts: `{"k":[key ids],"c":…}`), destroyed once the batch is
 * confirmed; an ingest store opened without batch keys keeps them as JSON.
 *
 * Writes go through one group-commit queue: every write waiting while the
 * previous LevelDB batch was in flight is committed in the next single
 * batch, so durability (sync: true = fsync) costs one flush per group, not
 * one per reading. A write's promise resolves only after its batch committed.
 */
import { ClassicLevel } from 'classic-level'
import type { WireReading } from './line.ts'
import { openVersioned, recordFormatStep, utf8LevelFormat, type FormatSpec, type Migrated } from '../store/format.ts'

export type Op = { type: 'put', key: string, value: string } | { type: 'del', key: string }

export interface PendingReading {
  /** the reading as the device sent it */
  w: Required<WireReading>
  /** hub receive time, ms since epoch */
  at: number
}

export interface BatchRecord {
  id: string
  user: string
  reason: string
  createdAt: number
  readings: PendingReading[]
}

const hex16 = (n: number): string => n.toString(16).padStart(16, '0')

export const keys = {
  device: (id: string) => `dev!${id}`,
  pending: (user: string, d: string, b: number, s: number) => `pend!${user}!${d}!${hex16(b)}!${hex16(s)}`,
  mark: (d: string, b: number) => `mark!${d}!${hex16(b)}`,
  batch: (user: string, n: number) => `batch!${user}!${hex16(n)}`,
  batchSeq: 'meta!batchSeq',
  format: 'meta!format'
}

/**
 * The store's formats (store/format.ts): 1, the releases up to 870ff94,
 * recorded none; 2 records it under meta!format, rows unchanged.
 */
export const INGEST_FORMAT: FormatSpec<ClassicLevel<string, string>> = {
  name: 'ingest store',
  current: 2,
  unversioned: 1,
  ...utf8LevelFormat(keys.format),
  migrations: [recordFormatStep(keys.format)]
}

/** A replay mark to advance with a write: coalesced to one op per (device, boot) per commit. */
export interface Mark { device: string, boot: number, seq: number }

/** Ops to commit, or a function that makes them when the commit they join is formed (rows gathered until then). */
export type Ops = readonly Op[] | (() => readonly Op[])

interface Waiter { ops: Ops, mark: Mark | undefined, resolve: () => void, reject: (e: Error) => void }

export class IngestStore {
  readonly db: ClassicLevel<string, string>
  readonly sync: boolean
  #queue: Waiter[] = []
  #writing: Promise<void> | null = null
  /** LevelDB batches committed (for the bench: readings per commit) */
  commits = 0

  private constructor (db: ClassicLevel<string, string>, sync: boolean) {
    this.db = db
    this.sync = sync
  }

  /**
   * Open (creating) the store in `dir`, migrating an older format (a copy
   * of it kept beside: store/format.ts). `sync` (default true) fsyncs every
   * group commit. `migrated` reports a migration made by this open.
   */
  static async open (dir: string, opts: { sync?: boolean, migrated?: (m: Migrated) => void } = {}): Promise<IngestStore> {
    const { db, migrated } = await openVersioned(dir, async () => {
      // no Snappy: sealed values do not compress, and plain table blocks let an audit find every byte left on disk
      const db = new ClassicLevel<string, string>(dir, { keyEncoding: 'utf8', valueEncoding: 'utf8', compression: false })
      await db.open()
      return db
    }, INGEST_FORMAT)
    if (migrated !== null) (opts.migrated ?? ((m) => { process.stderr.write(`${dir}: migrated from format ${m.from} to ${m.to} (${m.steps.join('; ')}); the store as it was is kept in ${m.backup}\n`) }))(migrated)
    return new IngestStore(db, opts.sync ?? true)
  }

  /**
   * Commit `ops` atomically (with whatever else is queued) and advance `mark`
   * in the same LevelDB batch; resolves once durable. `ops` given as a
   * function is called when its commit is formed, with every write queued
   * behind it in that same commit: a row that gathers values until then
   * (a chunk of readings sealed as one: Ingest) holds all of theirs.
   */
  write (ops: Ops, mark?: Mark): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ ops, mark, resolve, reject })
      if (this.#writing === null) this.#writing = this.#drain()
    })
  }

  async #drain (): Promise<void> {
    while (this.#queue.length > 0) {
      const group = this.#queue
      this.#queue = []
      try {
        const ops: Op[] = []
        const marks = new Map<string, number>()
        for (const w of group) {
          for (const op of typeof w.ops === 'function' ? w.ops() : w.ops) ops.push(op)
          if (w.mark !== undefined) {
            const k = keys.mark(w.mark.device, w.mark.boot)
            if ((marks.get(k) ?? -1) < w.mark.seq) marks.set(k, w.mark.seq)
          }
        }
        for (const [key, seq] of marks) ops.push({ type: 'put', key, value: String(seq) })
        await this.db.batch(ops, { sync: this.sync } as object)
        this.commits++
        for (const w of group) w.resolve()
      } catch (err) {
        for (const w of group) w.reject(err as Error)
      }
    }
    this.#writing = null
  }

  async get<T> (key: string): Promise<T | undefined> {
    const v = await this.db.get(key)
    return v === undefined ? undefined : JSON.parse(v) as T
  }

  /** All [key, value] under a prefix, in key order. */
  async * scan<T> (prefix: string): AsyncGenerator<[string, T]> {
    for await (const [k, v] of this.scanRaw(prefix)) yield [k, JSON.parse(v) as T]
  }

  /** All [key, stored text] under a prefix, in key order (rows sealed under batch keys: batch-keys.ts). */
  async * scanRaw (prefix: string): AsyncGenerator<[string, string]> {
    for await (const [k, v] of this.db.iterator({ gte: prefix, lt: prefix + '\xff' })) yield [k, v]
  }

  async close (): Promise<void> {
    while (this.#writing !== null) await this.#writing
    await this.db.close()
  }
}
