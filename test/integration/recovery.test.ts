/**
 * m-of-n recovery of the patient's identity, end to end: a month of
 * history (a batch an hour, a diagnosis a day; test/helpers/recovery-history.ts)
 * on real Userchain (LevelDB core nodes), Docchain (four PBFT accounting
 * nodes over libp2p) and a storage node (Helia). The patient gives 5
 * guardians a share each (3 needed); the hub's data dir is deleted; a fresh
 * data dir opens a recovery session, 3 guardians reseal their shares to it,
 * and the identity comes back. From the chains alone every key epoch opens
 * every batch, and the real hub (startHub) on the fresh data dir reads every
 * diagnosis from Docchain and seals again. With 2 of 5 shares it cannot.
 * HEALTHCHAIN_RECOVERY_HOURS bounds the history (default 720, a month).
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fromHex, toHex } from '../../hub/src/core/index.ts'
import { addRecoveryShares, checkRecoveredSync, resealGuardianShare, startRecovery, writeGuardianShares } from '../../hub/src/app/recovery.ts'
import { RecoveredNotSyncedError } from '../../hub/src/app/errors.ts'
import { CoreNode } from '../../hub/src/roles/core/node.ts'
import { NETWORKS } from '../../hub/src/core/index.ts'
import { NotEnoughSharesError } from '../../hub/src/roles/user/errors.ts'
import { KeystoreMissingError, openKeystore } from '../../hub/src/store/keystore.ts'
import { startHub } from '../../hub/src/hub.ts'
import { hubConfigFollowing } from '../helpers/docchain-members.ts'
import { buildHistory, CHEAP_SCRYPT, PASSPHRASE, readHistory, syncUserchain } from '../helpers/recovery-history.ts'

// Node-RED keeps a login-session expiry timer (one week) that RED.stop() does not clear
t.teardown(() => { setTimeout(() => { process.exit() }, 200).unref() })

const HOURS = Number(process.env.HEALTHCHAIN_RECOVERY_HOURS ?? 720)
const rng = (n: number): Uint8Array => new Uint8Array(randomBytes(n))
const now = (): number => Math.floor(Date.now() / 1000)

async function latestEpoch (dir: string, user: Uint8Array): Promise<number> {
  const node = await CoreNode.open({ dir, params: NETWORKS.devnet, verifyThreads: 1 })
  try { return node.store.latestEpoch(user) } finally { await node.close() }
}

async function until (what: string, cond: () => boolean, ms = 120_000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

t.test(`the hub's data dir is lost: 3 of 5 guardians bring back ${HOURS} hourly batches and every diagnosis; 2 of 5 cannot`, { timeout: 900_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hc-recovery-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const h = await buildHistory(dir, { hours: HOURS, diagEvery: 24 })
  t.teardown(h.stop)
  t.equal(h.batches.length, HOURS, `${HOURS} batches on Userchain, ${h.epochs} key epochs`)
  t.ok(h.diagnoses.length >= Math.floor(HOURS / 24), `${h.diagnoses.length} diagnoses committed on Docchain`)

  // the patient splits its identity among 5 guardians, 3 needed
  const made = await writeGuardianShares({ keystore: join(h.hubDir, 'keystore.json'), passphrase: PASSPHRASE, guardians: h.guardians.map((g) => g.record), threshold: 3, outDir: join(dir, 'handed-out'), rng, now })
  t.equal(made.guardians.length, 5)
  for (const g of made.guardians) t.equal((await stat(g.file)).mode & 0o777, 0o600, `share file ${g.index} is private`)

  // the SD card dies
  await rm(h.hubDir, { recursive: true, force: true })
  const fresh = join(dir, 'new-hub')
  const paths = { dataDir: fresh, keystore: join(fresh, 'keystore.json') }
  await t.rejects(openKeystore(paths.keystore, PASSPHRASE), KeystoreMissingError, 'nothing of the identity is left')

  const session = await startRecovery({ ...paths, patient: toHex(h.patient.id), passphrase: PASSPHRASE, scrypt: CHEAP_SCRYPT, rng, now })
  const reseal = async (i: number): Promise<string> => {
    const guardian = await openKeystore(h.guardians[i]!.keystore, PASSPHRASE)
    const out = join(dir, `resealed-${i + 1}.json`)
    await resealGuardianShare({ guardian, share: made.guardians[i]!.file, to: session.record, out, rng })
    return out
  }
  const [r2, r4, r5] = [await reseal(1), await reseal(3), await reseal(4)]

  // 2 of 5: refused, no keystore
  await t.rejects(addRecoveryShares({ ...paths, passphrase: PASSPHRASE, files: [r2, r4], scrypt: CHEAP_SCRYPT }), NotEnoughSharesError, 'with 2 of 5 the identity cannot be recovered')
  await t.rejects(openKeystore(paths.keystore, PASSPHRASE), KeystoreMissingError, 'and no keystore is written')

  // the third share: the identity is back
  const done = await addRecoveryShares({ ...paths, passphrase: PASSPHRASE, files: [r5], scrypt: CHEAP_SCRYPT })
  t.equal(done.restored.id, toHex(h.patient.id), 'shares 2, 4, 5 restored the patient\'s identity')
  t.same(done.have, [2, 4, 5])
  const patient = await openKeystore(paths.keystore, PASSPHRASE)
  t.equal(toHex(patient.agreement.publicKey), toHex(h.patient.agreement.publicKey), 'both keys (Ed25519 and X25519) are the patient\'s')
  await t.rejects(stat(join(fresh, 'recovery')), /ENOENT/, 'the session and its temporary key are gone')

  // Userchain from the network, then every epoch from the chain alone; every batch opens
  const chainDir = join(fresh, 'userchain', 'devnet')
  await t.rejects(checkRecoveredSync(fresh, async () => await latestEpoch(chainDir, patient.id)), RecoveredNotSyncedError, 'the hub may not start before Userchain holds the patient\'s epochs')
  await syncUserchain(h.network, chainDir)
  await checkRecoveredSync(fresh, async () => await latestEpoch(chainDir, patient.id))
  await t.rejects(stat(join(fresh, 'recovered.json')), /ENOENT/, 'synced: the hub may start, and the check is done')
  const read = await readHistory(patient, chainDir, h)
  t.equal(read.epochs, h.epochs, `all ${h.epochs} key epochs rebuilt from Userchain`)
  t.equal(read.batches, h.batches.length, `every one of the ${h.batches.length} batches decrypts`)
  t.equal(read.diagnoses, h.diagnoses.length, `every one of the ${h.diagnoses.length} diagnoses in the committed Dblocks opens`)

  // the real hub on the recovered data dir: diagnoses from Docchain, sealing resumes
  const m = h.members
  const cfg = hubConfigFollowing(m, fresh, h.storage.ipfs.multiaddrs[0]!.toString(), dir)
  const lines: string[] = []
  const hub = await startHub(cfg, patient, () => undefined, { log: (l) => lines.push(l) })
  t.teardown(async () => { await hub.stop() })
  await until('every diagnosis', () => (hub.docchain()?.diagnoses ?? 0) >= h.diagnoses.length)
  const page = await hub.service.patient.page()
  const shown = new Set(page.diagnoses.map((d) => d.id))
  t.equal(h.diagnoses.filter((d) => shown.has(d.htxd)).length, h.diagnoses.length, `the recovered hub reads all ${h.diagnoses.length} diagnoses${lines.length === 0 ? '' : ` (${lines.join('; ')})`}`)
  const doctors = await hub.service.keys.doctors()
  t.same(doctors, { epoch: h.epochs, doctors: [toHex(m.doctor.id)], pending: [] }, 'the grants are back: the doctor of the latest epoch, nothing pending')
  const sealed = await hub.service.pipeline.seal([{ d: 'ox-1', b: 1, s: 1, t: 'spo2', v: 96, u: '%', ts: 1000, at: Date.now() }])
  t.equal(sealed.epoch, h.epochs, 'sealing resumes under the latest epoch from the chain')
  const rec = await hub.service.pipeline.record(fromHex('d', '11'.repeat(32)), sealed.epoch)
  t.match(rec.id, /^[0-9a-f]{64}$/, 'and its tx_IoT is accepted by the hub\'s core node')
  const rotated = await hub.service.keys.rotate()
  t.equal(rotated.epoch, h.epochs + 1, 'the next key epoch follows the chain\'s')
})
