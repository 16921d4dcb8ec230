/**
 * The hub's per-batch data keys (ingest/batch-keys.ts) and the ingest store
 * sealed under them: keys wrap and unwrap across reopenings, a destroyed key
 * is gone from the file's bytes, a crash between any two steps neither loses
 * a key a stored reading needs nor keeps one no row names, and an altered
 * file is refused with its own error.
 */
import t from 'tap'
import { createPrivateKey, createPublicKey, diffieHellman, hkdfSync } from 'node:crypto'
import { readFile, stat, truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { identityFromSeed, toHex } from '../../hub/src/core/index.ts'
import { BatchKeys, batchKeySecret, sealedRow } from '../../hub/src/ingest/batch-keys.ts'
import { BatchKeyDamagedError, BatchKeyGoneError, BatchKeysFormatError, BatchKeysWrongSecretError, IngestLockedError, SealedRowError } from '../../hub/src/ingest/batch-errors.ts'
import { Ingest } from '../../hub/src/ingest/pipeline.ts'
import { formatLine } from '../../hub/src/ingest/line.ts'
import { seed } from '../helpers/core.ts'

const SECRET = new Uint8Array(32).fill(9)
const HEADER = 64
const SLOT = 128

const slotOf = (bytes: Uint8Array, id: string): number => {
  for (let i = HEADER; i < bytes.length; i += SLOT) if (Buffer.from(bytes.subarray(i, i + 8)).toString('hex') === id) return i
  return -1
}

t.test('batchKeySecret: HKDF-SHA256 over X25519 of the identity with itself (checked against node:crypto)', async (t) => {
  const s = seed('batch-keys-kat')
  const who = identityFromSeed(s)
  // the X25519 private key as identityFromSeed derives it (core/crypto.ts), the rest by node:crypto alone
  const sk = new Uint8Array(hkdfSync('sha256', s, new Uint8Array(0), 'healthchain/x25519-from-seed/v1', 32))
  const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), sk])
  const priv = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' })
  const shared = diffieHellman({ privateKey: priv, publicKey: createPublicKey(priv) })
  const want = new Uint8Array(hkdfSync('sha256', shared, new Uint8Array(0), 'healthchain/batch-keys/secret/v1', 32))
  t.same(toHex(batchKeySecret(who)), toHex(want))
  t.not(toHex(batchKeySecret(identityFromSeed(seed('another')))), toHex(want), 'another identity, another secret')
})

t.test('keys wrap and unwrap across reopenings; destroyed keys are gone; random create/destroy sequences match a model', async (t) => {
  const dir = t.testdir()
  const file = join(dir, 'batch-keys')
  const model = new Map<string, string>()
  let keys = await BatchKeys.open(file, SECRET)
  t.equal((await stat(file)).mode & 0o777, 0o600, 'the key file is 0600')
  let rnd = 12345
  const next = (n: number): number => { rnd = (rnd * 1103515245 + 12345) & 0x7fffffff; return rnd % n }
  let maxLive = 0
  for (let step = 0; step < 300; step++) {
    const op = next(10)
    if (op < 5 || model.size === 0) {
      const id = await keys.create()
      t.notOk(model.has(id), 'ids never repeat while live')
      model.set(id, toHex(keys.key(id)))
    } else if (op < 9) {
      const ids = [...model.keys()]
      const id = ids[next(ids.length)]!
      const before = new Uint8Array(await readFile(file))
      const at = slotOf(before, id)
      t.equal(await keys.destroy([id]), 1)
      model.delete(id)
      const after = new Uint8Array(await readFile(file))
      if (!after.subarray(at, at + SLOT).every((b) => b === 0)) t.fail(`slot of ${id} not zeroed`)
      t.throws(() => keys.key(id), BatchKeyGoneError)
    } else {
      await keys.close()
      keys = await BatchKeys.open(file, SECRET)
    }
    maxLive = Math.max(maxLive, model.size)
    if (keys.ids().length !== model.size) { t.fail(`step ${step}: ${keys.ids().length} keys, model ${model.size}`); break }
  }
  for (const [id, k] of model) t.equal(toHex(keys.key(id)), k, `key ${id} unwraps to the bytes it was made with`)
  t.ok((await stat(file)).size <= HEADER + SLOT * maxLive, 'freed slots are reused: the file holds at most the most keys live at once')
  t.equal(await keys.retain(new Set([...model.keys()].slice(0, 1))), model.size - 1, 'retain destroys every key not named')
  await keys.close()
})

t.test('an altered file is refused with its own error; a crash mid-write leaves no key in use lost', async (t) => {
  const dir = t.testdir()
  const file = join(dir, 'batch-keys')
  const keys = await BatchKeys.open(file, SECRET)
  const a = await keys.create()
  const b = await keys.create()
  const kb = toHex(keys.key(b))
  await keys.close()
  const good = new Uint8Array(await readFile(file))

  await t.rejects(BatchKeys.open(file, new Uint8Array(32).fill(1)), BatchKeysWrongSecretError, 'another identity\'s secret')
  await writeFile(join(dir, 'junk'), 'not a key file at all, not at all')
  await t.rejects(BatchKeys.open(join(dir, 'junk'), SECRET), BatchKeysFormatError)

  const flip = good.slice()
  flip[slotOf(good, a) + 30]! ^= 1
  await writeFile(file, flip)
  let k2 = await BatchKeys.open(file, SECRET)
  t.throws(() => k2.key(a), BatchKeyDamagedError, 'a wrapped key with a flipped bit does not authenticate')
  t.equal(toHex(k2.key(b)), kb, 'the other keys still open')
  await k2.close()

  // a crash while a new slot was appended: the cut slot held no key in use yet, and is reused
  await writeFile(file, good)
  const cut = good.length - 50
  await truncate(file, cut)
  k2 = await BatchKeys.open(file, SECRET)
  t.same(k2.ids(), [a], 'the cut slot is free')
  await k2.create()
  t.equal((await stat(file)).size, good.length, 'and written whole again')
  await k2.close()

  // a crash while a slot was zeroed (the id cleared, the rest not): the residue is scrubbed on open
  const torn = good.slice()
  torn.fill(0, slotOf(good, b), slotOf(good, b) + 8)
  await writeFile(file, torn)
  k2 = await BatchKeys.open(file, SECRET)
  t.same(k2.ids(), [a])
  const scrubbed = new Uint8Array(await readFile(file))
  t.ok(scrubbed.subarray(slotOf(good, b), slotOf(good, b) + SLOT).every((x) => x === 0), 'the residue of the torn overwrite is zeroed')
  await k2.close()
})

t.test('rows sealed under a batch key: bound to their row, unreadable once the key is destroyed', async (t) => {
  const keys = await BatchKeys.open(join(t.testdir(), 'batch-keys'), SECRET)
  const id = await keys.create()
  const v = keys.seal([id], 'pend!u!d!1', '{"secret":"reading"}')
  t.notMatch(v, /reading/, 'no plaintext in the stored value')
  t.same(sealedRow('pend!u!d!1', v)?.k, [id])
  t.equal(keys.open('pend!u!d!1', v), '{"secret":"reading"}')
  t.throws(() => keys.open('pend!u!d!2', v), SealedRowError, 'a value moved to another row does not open')
  t.equal(sealedRow('x', '{"w":1}'), null, 'a plaintext row is told apart')
  t.throws(() => sealedRow('x', '{"k":["zz"],"c":1}'), SealedRowError)
  await keys.destroy([id])
  t.throws(() => keys.open('pend!u!d!1', v), BatchKeyGoneError)
  await keys.close()
})

const line = (d: string, s: number): string => formatLine({ d, b: 1, s, t: 'hr', v: 60 + s, ts: s }).trimEnd()

async function rawRows (dir: string): Promise<Map<string, string>> {
  const db = new ClassicLevel<string, string>(dir, { keyEncoding: 'utf8', valueEncoding: 'utf8' })
  await db.open()
  const out = new Map<string, string>()
  for await (const [k, v] of db.iterator()) out.set(k, v)
  await db.close()
  return out
}

t.test('the ingest store with batch keys: sealed at rest, read back, keys destroyed with their batch', async (t) => {
  const dir = t.testdir()
  const db = join(dir, 'ingest')
  const file = join(dir, 'batch-keys')
  let keys = await BatchKeys.open(file, SECRET, { sync: false })
  let ing = await Ingest.open(db, { sync: false, batchKeys: keys, thresholds: [] })
  await ing.registry.add('d-1', { user: 'u', sensors: ['hr'] })
  for (let s = 0; s < 5; s++) t.ok((await ing.submit(line('d-1', s), { source: 'api' })).ok)
  const first = await ing.flush('u')
  for (let s = 5; s < 8; s++) t.ok((await ing.submit(line('d-1', s), { source: 'api' })).ok)
  await ing.close()
  for (const [k, v] of await rawRows(db)) {
    if (k.startsWith('pend!') || k.startsWith('batch!')) {
      t.ok(sealedRow(k, v) !== null, `${k} is sealed`)
      t.notMatch(v, /"hr"/, `${k} holds no plaintext`)
    }
  }
  await t.rejects(Ingest.open(db, { sync: false }), IngestLockedError, 'without the keys the store does not open')

  // a spare key made for a batch that got no reading, and a key no row names: destroyed on open
  const orphan = await keys.create()
  await keys.close()
  keys = await BatchKeys.open(file, SECRET, { sync: false })
  ing = await Ingest.open(db, { sync: false, batchKeys: keys, thresholds: [] })
  t.notOk(keys.has(orphan), 'a key no row names is destroyed on open')
  t.equal(keys.ids().length, 2, 'the closed batch\'s key and the open batch\'s key remain')
  t.equal(ing.pendingCount('u'), 3, 'the open batch\'s readings reopen')
  const [b1] = await ing.batches('u')
  t.same(b1!.readings.map((r) => r.w.s), [0, 1, 2, 3, 4], 'the closed batch reopens')
  t.equal(b1!.id, first!.id)
  const k1 = sealedRow(b1!.id, await rawRows0(ing, b1!.id))!.k
  await ing.deleteBatch(b1!.id)
  for (const k of k1) t.notOk(keys.has(k), 'deleting the batch destroyed its key')
  t.equal(await ing.batch(b1!.id), undefined)

  // a crash after the batch's rows left but before its key was destroyed: the key does not outlive a reopen
  const b2 = (await ing.flush('u'))!
  const k2 = sealedRow(b2.id, await rawRows0(ing, b2.id))!.k
  await ing.store.write([{ type: 'del', key: b2.id }])
  await ing.close()
  await keys.close()
  keys = await BatchKeys.open(file, SECRET, { sync: false })
  t.ok(keys.has(k2[0]!), 'the key survived the simulated crash')
  ing = await Ingest.open(db, { sync: false, batchKeys: keys, thresholds: [] })
  t.notOk(keys.has(k2[0]!), 'and is destroyed when the store opens')
  // the reverse order never happens; if the key file loses a key an open batch needs, the hub stops with a typed error
  for (let s = 8; s < 10; s++) t.ok((await ing.submit(line('d-1', s), { source: 'api' })).ok)
  const b3 = (await ing.flush('u'))!
  const k3 = sealedRow(b3.id, await rawRows0(ing, b3.id))!.k
  await ing.close()
  await keys.destroy(k3)
  await keys.close()
  keys = await BatchKeys.open(file, SECRET, { sync: false })
  await t.rejects(async () => { const i = await Ingest.open(db, { sync: false, batchKeys: keys }); await i.batches() }, BatchKeyGoneError)
  await keys.close()
})

async function rawRows0 (ing: Ingest, key: string): Promise<string> { return (await ing.store.db.get(key))! }

t.test('a reading being written when its batch closes joins that batch, under that batch\'s key', async (t) => {
  const dir = t.testdir()
  const keys = await BatchKeys.open(join(dir, 'batch-keys'), SECRET)
  const ing = await Ingest.open(join(dir, 'ingest'), { sync: true, batchKeys: keys, thresholds: [] })
  await ing.registry.add('d-1', { user: 'u', sensors: ['hr'] })
  const writes: Array<Promise<unknown>> = []
  const closed: Array<Promise<unknown>> = []
  for (let s = 0; s < 200; s++) {
    writes.push(ing.submit(line('d-1', s), { source: 'api' }))
    if (s % 37 === 0) closed.push(ing.flush('u'))
  }
  await Promise.all(writes)
  await Promise.all(closed)
  await ing.flush('u')
  const seen = new Set<number>()
  for (const b of await ing.batches('u')) {
    const v = (await ing.store.db.get(b.id))!
    const ks = sealedRow(b.id, v)!.k
    t.equal(ks.length, 1, `${b.id} is under one key`)
    for (const r of b.readings) seen.add(r.w.s)
    await ing.deleteBatch(b.id)
  }
  t.equal(seen.size, 200, 'every reading is in a closed batch')
  t.equal(keys.ids().length, 1, 'only the spare key of the next batch is left')
  await ing.close()
  t.equal(keys.ids().length, 0, 'and closing destroys it')
  await keys.close()
})

t.test('readings committed together are sealed at rest as one row, and each of them reopens after a crash', async (t) => {
  const dir = t.testdir()
  const keys = await BatchKeys.open(join(dir, 'batch-keys'), SECRET, { sync: false })
  let ing = await Ingest.open(join(dir, 'ingest'), { sync: false, batchKeys: keys, thresholds: [] })
  await ing.registry.add('d-1', { user: 'u', sensors: ['hr'] })
  await ing.registry.add('d-2', { user: 'u', sensors: ['hr'] })
  // acknowledged together: one group commit, one sealed row (one AES-GCM, one nonce) for all of them
  const results = await Promise.all(Array.from({ length: 60 }, (_, s) => ing.submit(line(s % 2 === 0 ? 'd-1' : 'd-2', s >> 1), { source: 'api' })))
  t.ok(results.every((r) => r.ok), 'all 60 readings acknowledged')
  const rows: string[] = []
  for await (const [k, v] of ing.store.scanRaw('pend!')) { rows.push(k); t.ok(sealedRow(k, v) !== null, `${k} is sealed`) }
  t.ok(rows.length >= 1 && rows.length < 60, `60 readings in ${rows.length} sealed row(s)`)
  // a crash before the batch closed: every reading comes back pending, each once
  await ing.close()
  ing = await Ingest.open(join(dir, 'ingest'), { sync: false, batchKeys: keys, thresholds: [] })
  t.equal(ing.pendingCount('u'), 60, 'the 60 readings reopen pending')
  const b = (await ing.flush('u'))!
  t.same(b.readings.map((r) => `${r.w.d}/${r.w.s}`).sort(), results.map((r) => r.ok ? `${r.reading.device}/${r.reading.seq}` : '').sort(), 'the batch holds each acknowledged reading once')
  const left: string[] = []
  for await (const [k] of ing.store.scanRaw('pend!')) left.push(k)
  t.same(left, [], 'closing the batch deleted every chunk row')
  // the replay marks were committed with them: a resent reading is refused after the restart
  t.notOk((await ing.submit(line('d-1', 3), { source: 'api' })).ok, 'a reading sent again is a replay')
  await ing.close()
  await keys.close()
})
