/**
 * Backup and restore of a hub's data dir (README "Backup and restore"): what
 * cannot be rebuilt from the network goes into one encrypted archive
 * (store/backup-archive.ts) — the keystore, the device registry with the
 * devices' salted secrets, the readings acknowledged and not yet confirmed
 * on Userchain with their batch keys (ingest store, batch-keys), pending key
 * epochs, the page's and the editor's logins, the flows, the TLS CA and
 * certificate, the libp2p identity, the doctor book, and the hub config.
 *
 * Left out, because the network holds them (paper §IV-B: every core user
 * node keeps Userchain, the accounting nodes Docchain, storage nodes the
 * ciphertexts): Userchain, the followed Docchain, the light node's headers
 * and the IPFS blockstore; also the compile cache and the control API's
 * socket and cookie, remade at each start. A restored core hub whose user
 * had key epochs on Userchain refuses to start until its chain holds them
 * again (app/recovery.ts checkRecoveredSync): started before, it would open
 * a new epoch 1.
 *
 * LevelDB stores are copied entry by entry through an iterator, which reads
 * one consistent snapshot of the store, so a running hub backs itself up
 * without stopping: the ingest store is read before the batch key file, and
 * a reading leaves the ingest store only once its batch is confirmed, so
 * every reading acknowledged before the backup started is in the archive or
 * on Userchain.
 */
import { lstat, mkdir, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises'
import { dirname, isAbsolute, join, normalize, resolve, sep } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { InvalidFieldError } from '../core/index.ts'
import { archiveKey, ArchiveReader, ArchiveWriter, type ArchiveKey } from '../store/backup-archive.ts'
import { BackupCorruptError, BackupFormatError, StoreLockedError } from '../store/errors.ts'
import { markNeedsSync } from './recovery.ts'
import { RestoreTargetError } from './errors.ts'

/** Top-level entries of the data dir the network (or the next start) gives back. */
const LEFT_OUT = new Set(['compile-cache', 'userchain', 'docchain', 'light', 'ipfs', 'api.sock', '.cookie'])

export interface BackupManifest {
  readonly kind: 'healthchain-backup'
  readonly createdAt: string
  /** the hub user's ID (hex) */
  readonly user: string
  /** where the data dir was (restore's default target) */
  readonly dataDir: string
  /** the user's latest key epoch on Userchain when the backup was made (0: none yet) */
  readonly latestEpoch: number
  /** the hub config, as its file read */
  readonly config: { readonly path: string, readonly text: string } | null
}

export interface BackupSummary {
  readonly file: string
  readonly createdAt: string
  readonly files: number
  /** LevelDB stores by path, with their entry count */
  readonly stores: Readonly<Record<string, number>>
  readonly bytes: number
}

export interface BackupSource {
  readonly dataDir: string
  readonly user: string
  readonly latestEpoch: number
  readonly config?: { readonly path: string, readonly text: string }
  /** LevelDB stores the caller holds open (a running hub), by path relative to the data dir; the others are opened here */
  readonly open?: ReadonlyMap<string, ClassicLevel<any, any>>
}

/** What of the data dir goes into the archive: LevelDB stores (a dir holding CURRENT) and plain files, by relative path. */
async function inventory (dataDir: string): Promise<{ stores: string[], files: string[] }> {
  const stores: string[] = []
  const files: string[] = []
  const walk = async (rel: string): Promise<void> => {
    const names = (await readdir(join(dataDir, rel))).sort()
    if (rel !== '' && names.includes('CURRENT')) { stores.push(rel); return }
    for (const n of names) {
      const r = rel === '' ? n : `${rel}/${n}`
      // temporary files, and the copies an upgrade keeps of a store's older format (store/format.ts)
      if ((rel === '' && LEFT_OUT.has(n)) || n.endsWith('.tmp') || /\.format-\d+-backup-/.test(n)) continue
      const s = await lstat(join(dataDir, r))
      if (s.isDirectory()) await walk(r)
      else if (s.isFile()) files.push(r)
    }
  }
  await walk('')
  return { stores, files }
}

/** Writes the archive of `src.dataDir` to `out`: stores first (each one consistent snapshot), then files. */
export async function writeBackup (src: BackupSource, out: string, key: ArchiveKey): Promise<BackupSummary> {
  const createdAt = new Date().toISOString()
  const manifest: BackupManifest = { kind: 'healthchain-backup', createdAt, user: src.user, dataDir: src.dataDir, latestEpoch: src.latestEpoch, config: src.config ?? null }
  // an archive never replaces a file: not another archive, and not a file that is no archive at all
  if (!out.endsWith('.hcb')) throw new InvalidFieldError('out', `${out}: an archive's name ends in .hcb`)
  if (await lstat(out).then(() => true, () => false)) throw new InvalidFieldError('out', `${out} exists; an archive is never written over a file`)
  const { stores, files } = await inventory(src.dataDir)
  await mkdir(dirname(out), { recursive: true, mode: 0o700 })
  const w = await ArchiveWriter.create(out, key, manifest)
  const counts: Record<string, number> = {}
  try {
    for (const rel of stores) {
      const held = src.open?.get(rel)
      const db: ClassicLevel<any, any> = held ?? new ClassicLevel<Uint8Array, Uint8Array>(join(src.dataDir, rel), { keyEncoding: 'view', valueEncoding: 'view', createIfMissing: false })
      if (held === undefined) {
        await db.open().catch((err: { cause?: { code?: string } }) => {
          throw err.cause?.code === 'LEVEL_LOCKED' ? new StoreLockedError(join(src.dataDir, rel)) : err
        })
      }
      try {
        await w.level(rel)
        let n = 0
        for await (const [k, v] of (db as ClassicLevel<Uint8Array, Uint8Array>).iterator({ keyEncoding: 'view', valueEncoding: 'view' })) { await w.entry(k, v); n++ }
        counts[rel] = n
      } finally {
        if (held === undefined) await db.close()
      }
    }
    for (const rel of files) {
      const p = join(src.dataDir, rel)
      await w.file(rel, (await stat(p)).mode & 0o777, new Uint8Array(await readFile(p)))
    }
    await w.finish()
  } catch (err) {
    await w.abort()
    throw err
  }
  return { file: out, createdAt, files: files.length, stores: counts, bytes: (await stat(out)).size }
}

function checkManifest (file: string, m: unknown): BackupManifest {
  const j = m as Partial<BackupManifest> | null
  if (j?.kind !== 'healthchain-backup' || typeof j.user !== 'string' || typeof j.dataDir !== 'string' || !Number.isInteger(j.latestEpoch) ||
    (j.config !== null && (typeof j.config?.path !== 'string' || typeof j.config.text !== 'string'))) throw new BackupFormatError(file, 'the manifest is not a hub backup\'s')
  return j as BackupManifest
}

/** A path from the archive, inside `root` or refused (an archive never writes outside the data dir). */
function inside (file: string, root: string, rel: string): string {
  const n = normalize(rel)
  if (isAbsolute(n) || n === '..' || n.startsWith(`..${sep}`) || n === '.' || n.length === 0) throw new BackupCorruptError(file, `entry path ${JSON.stringify(rel)} leaves the data dir`)
  return join(root, n)
}

async function isEmptyDir (dir: string): Promise<boolean> {
  try { return (await readdir(dir)).length === 0 } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return true
    throw err
  }
}

export interface RestoreOptions {
  readonly file: string
  readonly passphrase: string | ArchiveKey
  /** default: the data dir the backup was made of */
  readonly dataDir?: string
  /** where the hub config goes (default: where it was); its dataDir is set to the restored one */
  readonly configOut?: string
  /** restore over a non-empty data dir or an existing config: those are moved aside (`<name>.before-restore-<time>`), never deleted */
  readonly force?: boolean
  /** called with the target data dir before anything is written (the CLI refuses one a running hub uses) */
  readonly check?: (dataDir: string) => Promise<void>
}

export interface RestoreSummary {
  readonly dataDir: string
  readonly config: string | null
  readonly user: string
  readonly createdAt: string
  readonly files: number
  readonly stores: Readonly<Record<string, number>>
  /** what --force moved aside */
  readonly movedAside: readonly string[]
  /** the key epoch Userchain must hold again before the hub starts (0: none) */
  readonly syncEpoch: number
}

/**
 * Restores an archive onto a fresh data dir. Everything is written into a
 * staging dir beside it and renamed into place only once the archive
 * authenticated to its end: a wrong passphrase or a damaged archive leaves
 * nothing behind.
 */
export async function restoreBackup (o: RestoreOptions): Promise<RestoreSummary> {
  const r = await ArchiveReader.open(o.file, o.passphrase)
  try {
    const m = checkManifest(o.file, r.manifest)
    const dataDir = resolve(o.dataDir ?? m.dataDir)
    const configOut = m.config === null ? null : resolve(o.configOut ?? m.config.path)
    await o.check?.(dataDir)
    const stamp = new Date().toISOString().replace(/[:.]/g, '-')
    const aside: Array<[string, string]> = []
    if (!await isEmptyDir(dataDir)) {
      if (o.force !== true) throw new RestoreTargetError(dataDir, 'is not empty: restore onto a fresh data dir, or pass --force to move it aside first')
      aside.push([dataDir, `${dataDir}.before-restore-${stamp}`])
    }
    if (configOut !== null && await stat(configOut).then(() => true, () => false)) {
      const same = await readFile(configOut, 'utf8').then((t) => t === m.config!.text, () => false)
      if (!same && o.force !== true) throw new RestoreTargetError(configOut, 'exists and differs from the archived config: give --config-out <file>, or --force to move it aside')
      if (!same) aside.push([configOut, `${configOut}.before-restore-${stamp}`])
    }
    const staging = `${dataDir}.restoring-${process.pid}`
    await rm(staging, { recursive: true, force: true })
    await mkdir(staging, { recursive: true, mode: 0o700 })
    const counts: Record<string, number> = {}
    let files = 0
    let db: ClassicLevel<Uint8Array, Uint8Array> | null = null
    try {
      let store = ''
      let ops: Array<{ type: 'put', key: Uint8Array, value: Uint8Array }> = []
      const flush = async (): Promise<void> => { if (db !== null && ops.length > 0) await db.batch(ops); ops = [] }
      const closeStore = async (): Promise<void> => { await flush(); await db?.close(); db = null }
      for await (const rec of r.records()) {
        if (rec.type === 'L') {
          await closeStore()
          store = rec.path
          const p = inside(o.file, staging, rec.path)
          await mkdir(dirname(p), { recursive: true, mode: 0o700 })
          // no Snappy, as the stores are written (ingest/store.ts: plain table blocks)
          db = new ClassicLevel<Uint8Array, Uint8Array>(p, { keyEncoding: 'view', valueEncoding: 'view', compression: false })
          await db.open()
          counts[store] = 0
        } else if (rec.type === 'K') {
          if (db === null) throw new BackupCorruptError(o.file, 'an entry outside any store')
          ops.push({ type: 'put', key: rec.key, value: rec.value })
          counts[store]!++
          if (ops.length >= 1000) await flush()
        } else if (rec.type === 'F') {
          await closeStore()
          const p = inside(o.file, staging, rec.path)
          await mkdir(dirname(p), { recursive: true, mode: 0o700 })
          await writeFile(p, rec.data, { mode: rec.mode & 0o777 })
          files++
        } else throw new BackupCorruptError(o.file, 'a second manifest')
      }
      await closeStore()
      if (m.latestEpoch > 0) await markNeedsSync(staging, m.user, m.latestEpoch)
      for (const [from, to] of aside) await rename(from, to)
      await mkdir(dirname(dataDir), { recursive: true })
      await rm(dataDir, { recursive: true, force: true }) // empty (or moved aside above)
      await rename(staging, dataDir)
    } catch (err) {
      await (db as ClassicLevel<Uint8Array, Uint8Array> | null)?.close().catch(() => {})
      await rm(staging, { recursive: true, force: true })
      throw err
    }
    if (configOut !== null) await writeConfig(configOut, m.config!.text, dataDir)
    return { dataDir, config: configOut, user: m.user, createdAt: m.createdAt, files, stores: counts, movedAside: aside.map(([, to]) => to), syncEpoch: m.latestEpoch }
  } finally {
    await r.close()
  }
}

/** The archived config, its dataDir pointed at the restored data dir when it would name another one from where the config now lies. */
async function writeConfig (file: string, text: string, dataDir: string): Promise<void> {
  let out = text
  try {
    const j = JSON.parse(text) as Record<string, unknown>
    if (typeof j.dataDir !== 'string' || resolve(dirname(file), j.dataDir) !== dataDir) {
      j.dataDir = dataDir
      out = JSON.stringify(j, null, 2) + '\n'
    }
  } catch { /* not JSON: written as it was; the hub's config check names what to fix */ }
  await mkdir(dirname(file), { recursive: true })
  await unlink(file).catch(() => {})
  await writeFile(file, out, { mode: 0o600 })
}

/** A hub's scheduled backups (config `backup`). */
export interface BackupSchedule { readonly dir: string, readonly everyHours: number, readonly keep: number }

export interface BackupStatus {
  readonly schedule: BackupSchedule | null
  /** the last archive written since start (scheduled or asked for) */
  readonly last: BackupSummary | null
  /** why the last scheduled backup failed, if it did */
  readonly lastError: string | null
  /** when the next scheduled backup is due (ISO time) */
  readonly next: string | null
}

export interface BackupService {
  /** Writes an archive now: to `out` (default: the schedule's folder), under `passphrase` (default: the keystore's, given at start). */
  now: (req: { out?: string, passphrase?: string }) => Promise<BackupSummary>
  status: () => Promise<BackupStatus>
}

const ARCHIVE = /^healthchain-backup-.+\.hcb$/

/** The file name of an archive made at `at`: sortable, one per millisecond. */
export function archiveName (at = new Date()): string {
  return `healthchain-backup-${at.toISOString().replace(/[:.]/g, '-')}.hcb`
}

/**
 * The running hub's backups: asked for (the CLI through the control API,
 * the page) and, with a schedule, every `everyHours` into its folder,
 * keeping the newest `keep`. A hub that finds its newest archive older than
 * the period (or none) backs up right after it starts. The scheduled
 * archives are under the keystore's passphrase: its scrypt key is derived
 * once at start and kept (the passphrase itself is not).
 */
export function startBackups (o: { source: () => Promise<BackupSource>, key: ArchiveKey | null, schedule: BackupSchedule | null, log: (line: string) => void }): BackupService & { stop: () => void } {
  let last: BackupSummary | null = null
  let lastError: string | null = null
  let next: Date | null = null
  let timer: NodeJS.Timeout | null = null
  let stopped = false
  let running: Promise<unknown> = Promise.resolve()
  // one backup at a time: a scheduled one and one asked for never write together
  const serial = <T>(fn: () => Promise<T>): Promise<T> => { const p = running.then(fn, fn); running = p.catch(() => {}); return p }
  const write = async (out: string, key: ArchiveKey): Promise<BackupSummary> => await serial(async () => { last = await writeBackup(await o.source(), out, key); return last })
  const sched = o.schedule
  const prune = async (s: BackupSchedule): Promise<void> => {
    const old = (await readdir(s.dir)).filter((n) => ARCHIVE.test(n)).sort().slice(0, -s.keep)
    for (const n of old) await unlink(join(s.dir, n)).catch(() => {})
  }
  const arm = (ms: number): void => {
    if (stopped || sched === null) return
    next = new Date(Date.now() + ms)
    timer = setTimeout(() => { void tick() }, ms)
    timer.unref()
  }
  const tick = async (): Promise<void> => {
    if (sched === null || o.key === null) return
    try {
      const s = await write(join(sched.dir, archiveName()), o.key)
      await prune(sched)
      lastError = null
      o.log(`backup: ${s.file} (${s.bytes} bytes)`)
    } catch (err) {
      lastError = (err as Error).message
      o.log(`backup: scheduled backup to ${sched.dir} failed: ${lastError}`)
    }
    arm(sched.everyHours * 3_600_000)
  }
  if (sched !== null && o.key !== null) {
    void (async () => {
      await mkdir(sched.dir, { recursive: true, mode: 0o700 })
      const newest = (await readdir(sched.dir)).filter((n) => ARCHIVE.test(n)).sort().at(-1)
      const age = newest === undefined ? Infinity : Date.now() - (await stat(join(sched.dir, newest))).mtimeMs
      arm(Math.max(0, sched.everyHours * 3_600_000 - age))
    })().catch((err: Error) => { lastError = err.message; o.log(`backup: ${sched.dir}: ${err.message}`) })
  }
  return {
    now: async (req) => {
      const out = req.out ?? (sched === null ? null : join(sched.dir, archiveName()))
      if (out === null) throw new InvalidFieldError('out', 'no file given and no backup folder configured (config backup.dir)')
      if (!isAbsolute(out)) throw new InvalidFieldError('out', 'must be an absolute path (the hub resolves nothing against its own working dir)')
      const key = req.passphrase === undefined ? o.key : await archiveKey(req.passphrase)
      if (key === null) throw new InvalidFieldError('passphrase', 'this hub was started without its keystore passphrase kept for backups: give one')
      return await write(out, key)
    },
    status: async () => ({ schedule: sched, last, lastError, next: next === null ? null : next.toISOString() }),
    stop: () => { stopped = true; if (timer !== null) clearTimeout(timer) }
  }
}
