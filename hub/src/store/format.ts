/**
 * Store format versions and their migrations (README "Upgrades"). Every
 * LevelDB store of a hub records the format it was written in under one
 * key. Opening one:
 *   - empty: the current format is recorded;
 *   - without the key but not empty: it was written before formats were
 *     recorded, in the store's `unversioned` format;
 *   - older: the store's directory is copied aside first
 *     (`<dir>.format-<n>-backup-<time>`, taken while the store is closed, so
 *     it is a consistent LevelDB), then each migration step runs in order,
 *     its new format recorded after it: a migration cut short by a power
 *     cut resumes at the step it was in (every step is idempotent);
 *   - newer than this version reads, or older with no migration (a format
 *     whose data cannot be rewritten: its refusal says what to do instead):
 *     refused (StoreFormatError), the store untouched.
 */
import { cp } from 'node:fs/promises'
import type { ClassicLevel } from 'classic-level'
import { StoreFormatError } from './errors.ts'

export interface Migration<Db> {
  readonly from: number
  readonly to: number
  /** what the step changes (logged, and named in the README) */
  readonly what: string
  readonly run: (db: Db) => Promise<void>
}

export interface FormatSpec<Db> {
  /** the store, in messages ("ingest store") */
  readonly name: string
  readonly current: number
  /** the format of a store that records none (written by a release before formats were recorded) */
  readonly unversioned: number
  readonly read: (db: Db) => Promise<number | undefined>
  readonly write: (db: Db, format: number) => Promise<void>
  readonly isEmpty: (db: Db) => Promise<boolean>
  readonly migrations: ReadonlyArray<Migration<Db>>
  /** formats that cannot be migrated, with what the user does instead (named in the refusal) */
  readonly unmigratable?: Readonly<Record<number, string>>
}

export interface Migrated { readonly from: number, readonly to: number, readonly backup: string, readonly steps: readonly string[] }

/**
 * Opens the store in `dir` with `open` and brings it to the current format.
 * `migrated` says what was done (null: nothing to do).
 */
export async function openVersioned<Db extends { close: () => Promise<void> }> (dir: string, open: () => Promise<Db>, spec: FormatSpec<Db>, now: () => Date = () => new Date()): Promise<{ db: Db, migrated: Migrated | null }> {
  let db = await open()
  try {
    let format = await spec.read(db)
    if (format === undefined) {
      if (await spec.isEmpty(db)) { await spec.write(db, spec.current); return { db, migrated: null } }
      format = spec.unversioned
    }
    if (format === spec.current) return { db, migrated: null }
    if (format > spec.current) throw new StoreFormatError(dir, `holds a ${spec.name} of format ${format}, written by a newer release; this one reads up to format ${spec.current}`)
    const steps: Array<Migration<Db>> = []
    for (let f = format; f < spec.current;) {
      const m = spec.migrations.find((x) => x.from === f)
      if (m === undefined) throw new StoreFormatError(dir, `holds a ${spec.name} of format ${f}, and this release has no migration from it${spec.unmigratable?.[f] === undefined ? '' : `: ${spec.unmigratable[f]}`}`)
      steps.push(m)
      f = m.to
    }
    // the copy is taken closed: LevelDB's files are then one consistent state
    await db.close()
    const backup = `${dir}.format-${format}-backup-${now().toISOString().replace(/[:.]/g, '-')}`
    await cp(dir, backup, { recursive: true, errorOnExist: true, force: false })
    db = await open()
    for (const m of steps) {
      await m.run(db)
      await spec.write(db, m.to)
    }
    return { db, migrated: { from: format, to: spec.current, backup, steps: steps.map((m) => `${m.from}→${m.to}: ${m.what}`) } }
  } catch (err) {
    await db.close().catch(() => {})
    throw err
  }
}

/** A FormatSpec's read, write and isEmpty for a LevelDB store with UTF-8 keys and values, the format under `key`. */
export function utf8LevelFormat (key: string): Pick<FormatSpec<ClassicLevel<string, string>>, 'read' | 'write' | 'isEmpty'> {
  return {
    read: async (db) => { const v = await db.get(key); return v === undefined ? undefined : Number(v) },
    write: async (db, format) => { await db.put(key, String(format), { sync: true } as object) },
    isEmpty: levelIsEmpty
  }
}

/** Whether a LevelDB store holds no key at all. */
export async function levelIsEmpty (db: ClassicLevel<any, any>): Promise<boolean> {
  for await (const _ of db.keys({ limit: 1 })) return false
  return true
}

/** The step from a store that recorded no format to one that does, its rows unchanged (format 1 → 2). */
export function recordFormatStep<Db> (key: string): Migration<Db> {
  return { from: 1, to: 2, what: `the format is recorded (${key}); every row is kept as it is`, run: async () => {} }
}
