/**
 * The backup archive's format (store/backup-archive.ts): records come back
 * as written across many chunks; a wrong passphrase is told apart from a
 * damaged archive; an archive altered, cut short (inside a chunk or at a
 * chunk boundary), with chunks reordered or bytes appended, is refused
 * before any of its records is used; an archive of a newer format says so.
 * A restore that meets any of these writes nothing (app/backup.ts).
 */
import t from 'tap'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { archiveKey, ArchiveReader, ArchiveWriter, type Record } from '../../hub/src/store/backup-archive.ts'
import { BackupCorruptError, BackupFormatError, BackupPassphraseError } from '../../hub/src/store/errors.ts'
import { restoreBackup } from '../../hub/src/app/backup.ts'

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)

const CHEAP = { N: 2 ** 10, r: 8, p: 1 }
const PASS = 'a backup passphrase'
const CHUNK = 64 * 1024
const TAG = 16

async function readAll (file: string, pass = PASS): Promise<{ manifest: unknown, records: Record[] }> {
  const r = await ArchiveReader.open(file, pass)
  try {
    const records: Record[] = []
    for await (const rec of r.records()) records.push(rec)
    return { manifest: r.manifest, records }
  } finally { await r.close() }
}

t.test('records round-trip across chunks', async (t) => {
  const dir = t.testdir()
  const file = join(dir, 'a.hcb')
  const big = new Uint8Array(3 * CHUNK + 123).map((_, i) => i * 7)
  const w = await ArchiveWriter.create(file, await archiveKey(PASS, CHEAP), { kind: 'test', n: 1 })
  await w.level('ingest')
  for (let i = 0; i < 500; i++) await w.entry(Uint8Array.of(i >> 8, i & 255), new Uint8Array(300).fill(i & 255))
  await w.file('node-red/flows.json', 0o600, big)
  await w.file('empty', 0o644, new Uint8Array(0))
  await w.finish()
  const { manifest, records } = await readAll(file)
  t.same(manifest, { kind: 'test', n: 1 })
  t.equal(records.length, 1 + 500 + 2)
  t.same(records[0], { type: 'L', path: 'ingest' })
  t.same(records[500], { type: 'K', key: Uint8Array.of(1, 243), value: new Uint8Array(300).fill(243) })
  t.match(records[501], { type: 'F', path: 'node-red/flows.json', mode: 0o600 })
  t.same((records[501] as { data: Uint8Array }).data, big, 'a file larger than a chunk comes back byte for byte')
  t.same(records[502], { type: 'F', path: 'empty', mode: 0o644, data: new Uint8Array(0) })
})

t.test('an archive whose last chunk is exactly full, and one with no records but the manifest', async (t) => {
  const dir = t.testdir()
  for (const [name, size] of [['full', CHUNK], ['bare', -1]] as const) {
    const file = join(dir, `${name}.hcb`)
    const w = await ArchiveWriter.create(file, await archiveKey(PASS, CHEAP), {})
    // manifest "{}" = 1 + 4 + 2 bytes, a file record = 1 + 4 + 1 + 4 + 4 + 4 + data, the end record 1
    if (size > 0) await w.file('x', 0o600, new Uint8Array(size - 7 - 18 - 1))
    await w.finish()
    if (size > 0) t.equal((await readFile(file)).length, 64 + CHUNK + TAG, 'one full chunk, marked last')
    t.equal((await readAll(file)).records.length, size > 0 ? 1 : 0, `${name}: read back`)
  }
})

t.test('wrong passphrase, damage, truncation, reordering, trailing bytes, newer format', async (t) => {
  const dir = t.testdir()
  const file = join(dir, 'a.hcb')
  const w = await ArchiveWriter.create(file, await archiveKey(PASS, CHEAP), { kind: 'test' })
  await w.file('big', 0o600, new Uint8Array(2 * CHUNK + 500).fill(1))
  await w.finish()
  const good = await readFile(file)
  t.equal(Math.ceil((good.length - 64) / (CHUNK + TAG)), 3, 'three chunks')

  await t.rejects(readAll(file, 'another passphrase'), BackupPassphraseError, 'a wrong passphrase is named as such')
  const variant = async (name: string, bytes: Uint8Array): Promise<unknown> => {
    const f = join(dir, `${name}.hcb`)
    await writeFile(f, bytes)
    return await readAll(f).then(() => null, (err: unknown) => err)
  }
  const flipped = Buffer.from(good); flipped[64 + CHUNK + 100]! ^= 1
  t.type(await variant('flipped', flipped), BackupCorruptError, 'a flipped bit in a chunk')
  const header = Buffer.from(good); header[20]! ^= 1
  t.type(await variant('header', header), BackupPassphraseError, 'a flipped bit in the header\'s salt: another key, told as a wrong passphrase or an altered header')
  const aad = Buffer.from(good); aad[13]! ^= 1
  t.type(await variant('aad', aad), BackupCorruptError, 'a flipped bit in the header\'s reserved bytes: no chunk authenticates (the header is every chunk\'s AAD)')
  const cutInside = await variant('cut-inside', good.subarray(0, good.length - 10))
  t.match(cutInside, { constructor: BackupCorruptError, message: /cut short|truncated/ }, 'cut inside the last chunk')
  const cutBoundary = await variant('cut-boundary', good.subarray(0, 64 + 2 * (CHUNK + TAG)))
  t.match(cutBoundary, { constructor: BackupCorruptError, message: /truncated: ends after chunk 1, which is not the last/ }, 'cut at a chunk boundary: the last chunk it has does not say it is last')
  const swapped = Buffer.concat([good.subarray(0, 64), good.subarray(64 + CHUNK + TAG, 64 + 2 * (CHUNK + TAG)), good.subarray(64, 64 + CHUNK + TAG), good.subarray(64 + 2 * (CHUNK + TAG))])
  t.type(await variant('swapped', swapped), BackupCorruptError, 'two chunks swapped')
  t.type(await variant('appended', Buffer.concat([good, Buffer.from('more')])), BackupCorruptError, 'bytes appended')
  t.match(await variant('short', good.subarray(0, 30)), { constructor: BackupCorruptError, message: /shorter than the 64-byte header/ }, 'shorter than the header')
  const newer = Buffer.from(good); newer[8] = 2
  t.match(await variant('newer', newer), { constructor: BackupFormatError, message: /archive format 2; this version reads 1/ }, 'a newer archive format is named')
  t.match(await variant('other', Buffer.from('{"kind":"healthchain-keystore"}'.padEnd(80))), { constructor: BackupFormatError, message: /not a Healthchain backup archive/ }, 'another file')
})

t.test('restore: an archive damaged after its first chunks, or with a path leaving the data dir, leaves nothing behind; key epochs on the chain are marked to sync; a non-empty data dir is refused, or moved aside with force', async (t) => {
  const dir = t.testdir()
  const key = await archiveKey(PASS, CHEAP)
  const make = async (name: string, path: string, latestEpoch: number): Promise<string> => {
    const file = join(dir, `${name}.hcb`)
    const w = await ArchiveWriter.create(file, key, { kind: 'healthchain-backup', createdAt: new Date(0).toISOString(), user: 'ab'.repeat(32), dataDir: join(dir, `${name}-data`), latestEpoch, config: null })
    await w.level('ingest')
    for (let i = 0; i < 400; i++) await w.entry(utf8(`dev!d${i}`), new Uint8Array(500).fill(7))
    await w.file(path, 0o600, utf8('{}'))
    await w.finish()
    return file
  }
  const good = await make('good', 'keystore.json', 3)
  const cut = join(dir, 'cut.hcb')
  const bytes = await readFile(good)
  await writeFile(cut, bytes.subarray(0, bytes.length - 40))
  const target = join(dir, 'target')
  await t.rejects(restoreBackup({ file: cut, passphrase: PASS, dataDir: target }), BackupCorruptError, 'a truncated archive is refused')
  const escaping = await make('escaping', '../outside.json', 0)
  await t.rejects(restoreBackup({ file: escaping, passphrase: PASS, dataDir: target }), { code: 'ERR_BACKUP_CORRUPT', message: /leaves the data dir/ }, 'an entry path leaving the data dir is refused')
  t.notOk((await readdir(dir)).some((n) => n.startsWith('target') || n === 'outside.json'), 'neither wrote anything: no data dir, no staging dir, no file outside')

  const r = await restoreBackup({ file: good, passphrase: PASS, dataDir: target })
  t.match(r, { dataDir: target, files: 1, stores: { ingest: 400 }, syncEpoch: 3, movedAside: [] }, 'the good one restores')
  t.match(JSON.parse(await readFile(join(target, 'recovered.json'), 'utf8')), { epoch: 3 }, 'and marks the data dir to wait until Userchain holds key epoch 3')

  await t.rejects(restoreBackup({ file: good, passphrase: PASS, dataDir: target }), { code: 'ERR_RESTORE_TARGET', message: /is not empty: .*--force/ }, 'a non-empty data dir is refused')
  const forced = await restoreBackup({ file: good, passphrase: PASS, dataDir: target, force: true })
  t.match(forced.movedAside, [/target\.before-restore-/], '--force moves it aside')
  t.equal(await readFile(join(forced.movedAside[0]!, 'recovered.json'), 'utf8').then((x) => JSON.parse(x).epoch), 3, 'what was there is kept, not deleted')
})
