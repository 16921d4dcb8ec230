/**
 * Withdrawing consent (README "Withdrawing consent (erasure)"): a patient's
 * batches pinned on two storage nodes (from its tx_IoT, as the chain
 * follower pins them) and held by its hub; the hub's data dir with its
 * keystore and batch-key file. After withdrawConsent and the hub's stop
 * (destroyKeyFiles), neither storage node holds or serves the batches, none
 * pins them again when the chain names them once more, and nothing in the
 * hub's data dir opens them: no keystore there opens under the passphrase,
 * the batch-key file is gone, and no Ik, epoch secret or identity seed lies
 * in any file. A second start on the data dir is refused.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { buildTxIoT, identityFromSeed, openAsUser, sealBatch, sha256, utf8Bytes, type Identity, type TxKey } from '../../hub/src/core/index.ts'
import { cidFromDigest } from '../../hub/src/ipfs/cid.ts'
import { HAVE } from '../../hub/src/ipfs/protocol.ts'
import { serveErase } from '../../hub/src/roles/storage/index.ts'
import { UserKeys } from '../../hub/src/roles/user/keys.ts'
import { openBatchKeys } from '../../hub/src/ingest/batch-keys.ts'
import { openKeystore, parseKeystoreFile, saveKeystore } from '../../hub/src/store/keystore.ts'
import { destroyKeyFiles, refuseWithdrawn, withdrawConsent } from '../../hub/src/app/erasure.ts'
import { erasureSection } from '../../hub/src/web/pages.ts'
import { addr, ipfsNode, storageNode, tempDir } from '../helpers/ipfs.ts'
import { seed } from '../helpers/core.ts'

const PASS = 'erasure test passphrase'
const rng = (n: number): Uint8Array => new Uint8Array(randomBytes(n))
const now = (): number => Math.floor(Date.now() / 1000)

/** Every file under `dir`, recursively. */
async function files (dir: string): Promise<string[]> {
  const out: string[] = []
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) out.push(...await files(p))
    else if (e.isFile()) out.push(p)
  }
  return out
}

function contains (hay: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(hay).indexOf(Buffer.from(needle)) !== -1
}

/**
 * The files under `dir` that hold a key to the patient's data: any of
 * `secrets` in clear, or a keystore that opens under the passphrase to an
 * identity that opens one of the patient's tx_keys (Env_U: Ik ‖ s).
 */
async function keyHolders (dir: string, secrets: readonly Uint8Array[], txKeys: readonly TxKey[]): Promise<string[]> {
  const out: string[] = []
  for (const f of await files(dir)) {
    const bytes = new Uint8Array(await readFile(f))
    if (secrets.some((k) => contains(bytes, k))) { out.push(f); continue }
    try { parseKeystoreFile(new TextDecoder().decode(bytes), f) } catch { continue }
    const who = await openKeystore(f, PASS).catch(() => null)
    if (who !== null && txKeys.some((k) => { try { openAsUser(k, who); return true } catch { return false } })) out.push(f)
  }
  return out
}

t.test('after a withdrawal the storage nodes serve none of the patient\'s CIDs and no key on the hub opens them', async (t) => {
  const hubDir = await tempDir(t, 'erasure-hub')
  const s = seed('erasure-patient')
  const user: Identity = await saveKeystore(join(hubDir, 'keystore.json'), s, PASS, { scrypt: { N: 2 ** 10, r: 8, p: 1 } })
  t.same(user.id, identityFromSeed(s).id)
  const batchKeys = await openBatchKeys(hubDir, user)
  await batchKeys.create()
  await batchKeys.close()

  // two key epochs, a batch sealed under each, held by the hub and named by a tx_IoT
  const keys = new UserKeys(user, { rng, now, directory: { lookup: () => undefined } })
  const txKeys: TxKey[] = []
  for (const change of [{ kind: 'init' }, { kind: 'rotate' }] as const) { const k = keys.prepare(change); keys.apply(k); txKeys.push(k) }
  const secrets = keys.history().flatMap((e) => [new Uint8Array(e.ik), new Uint8Array(e.epochSecret)])
  const hub = await ipfsNode(t, join(hubDir, 'ipfs'))
  const storage = await Promise.all([1, 2].map(async (i) => await storageNode(t, await tempDir(t, `erasure-storage-${i}`), { fetchAttempts: 1, retryDelayMs: 1 })))
  for (const n of storage) { const e = await serveErase(n.ipfs.libp2p, n); t.teardown(e.stop) }
  const iots = []
  for (const e of keys.history()) {
    const sealed = sealBatch(e.ik, rng(12), user.id, e.epoch, utf8Bytes(`readings of epoch ${e.epoch}`))
    await hub.put(sealed, { pin: { sources: 'upload' } })
    const tx = buildTxIoT(user, { ts: now(), heiot: sha256(sealed), epoch: e.epoch })
    iots.push(tx)
    for (const n of storage) t.equal((await n.onTx(tx, [addr(hub)]))?.state, 'pinned', 'the storage node pins the batch the chain names')
  }
  // another patient's batch on the same nodes stays
  const other = identityFromSeed(seed('erasure-other-patient'))
  const otherSealed = rng(300)
  await hub.put(otherSealed)
  const otherTx = buildTxIoT(other, { ts: now(), heiot: sha256(otherSealed), epoch: 1 })
  for (const n of storage) await n.onTx(otherTx, [addr(hub)])

  // a batch of the patient no one could fetch yet: failed, to be retried
  const lost = buildTxIoT(user, { ts: now(), heiot: sha256(rng(64)), epoch: 1 })
  t.equal((await storage[0]!.onTx(lost))?.state, 'failed')
  const client = await ipfsNode(t, await tempDir(t, 'erasure-client'))
  const x25519 = new Uint8Array(Buffer.from(user.agreement.key.export({ format: 'jwk' }).d!, 'base64url'))
  t.same(await keyHolders(hubDir, [s, x25519, ...secrets], txKeys), [join(hubDir, 'keystore.json')], 'before: the scan finds the keystore, which opens every epoch\'s Ik')
  for (const tx of iots) for (const n of storage) t.equal(await client.peerHas(addr(n), cidFromDigest(tx.heiot)), HAVE.PINNED)

  await t.rejects(withdrawConsent({ dataDir: hubDir, user, keys, libp2p: hub.libp2p, ipfs: hub, storageNodes: storage.map(addr), accounting: null, now }, { confirm: false }), { code: 'ERR_WITHDRAWAL_UNCONFIRMED' }, 'not without its confirmation')
  const report = await withdrawConsent({ dataDir: hubDir, user, keys, libp2p: hub.libp2p, ipfs: hub, storageNodes: storage.map(addr), accounting: null, now }, { confirm: true })
  t.same(report.storage.map((x) => x.unpinned), [2, 2], 'each storage node unpinned the patient\'s two batches')
  t.equal(report.docchain, null)
  t.equal(report.localUnpinned, 2, 'the hub dropped its own copies')
  t.equal(keys.current, null, 'no epoch key left in the hub\'s memory')
  await hub.stop()
  t.same((await destroyKeyFiles(hubDir)).sort(), [join(hubDir, 'batch-keys'), join(hubDir, 'keystore.json')].sort())

  for (const tx of iots) {
    for (const n of storage) {
      t.equal(await client.peerHas(addr(n), cidFromDigest(tx.heiot)), HAVE.ABSENT, 'the storage node no longer holds nor serves the batch')
      t.equal(await n.onTx(tx, [addr(client)]), undefined, 'and does not pin it again when the chain names it')
    }
  }
  for (const n of storage) t.equal(await client.peerHas(addr(n), cidFromDigest(otherTx.heiot)), HAVE.PINNED, 'another patient\'s batch stays')
  t.same((await storage[0]!.report()).failed, [], 'the batch that failed to arrive is no longer waited for')
  t.same(await storage[0]!.retryFailed(), [], 'nor tried again')

  t.same(await keyHolders(hubDir, [s, x25519, ...secrets], txKeys), [], 'no file in the hub\'s data dir holds a key that opens the patient\'s data')
  const all = await files(hubDir)
  t.notOk(all.some((f) => f.endsWith('keystore.json') || f.endsWith('batch-keys')), 'the keystore and the batch-key file are gone')
  await t.rejects(stat(join(hubDir, 'keystore.json')))
  await t.rejects(refuseWithdrawn(hubDir), { code: 'ERR_WITHDRAWN_DATA_DIR' }, 'the data dir never starts a hub again')
})

t.test('the page warns before and says what remains and why', async (t) => {
  const html = erasureSection({ base: '', csrf: 'token' }, { erasure: { withdrawn: null } }).text
  t.match(html, /cannot be undone/)
  t.match(html, /type="checkbox" name="confirm" required/)
  t.match(html, /digests/, 'the chains keep the digests of the encrypted data')
  t.match(html, /Diagnoses doctors already wrote/)
  t.match(html, /Backups you made/)
  t.equal(erasureSection({ base: '', csrf: 'token' }, {}).text, '', 'no section on a hub that offers none')
})
