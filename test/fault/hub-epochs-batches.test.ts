/**
 * Faults on the hub's way to Userchain, on a real core node (LevelDB chain
 * store, persisted mempool, Ublocks mined at devnet difficulty) and the real
 * ingest store:
 *  - the mempool refuses a batch's tx_IoT (its key epoch is not known to the
 *    node yet): the batch keeps its stored tx_IoT and it goes out on a later
 *    block, then the batch leaves the store once the tx is k blocks deep;
 *  - a revocation's tx_key expires unmined across a restart: the epoch
 *    committer issues it again, and the revocation holds after the next
 *    restart (the keys as Userchain has them no longer name the doctor).
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { DEVNET, solveUblockHeader, toHex, type DoctorKey } from '../../hub/src/core/index.ts'
import { CoreNode } from '../../hub/src/roles/core/node.ts'
import { UserKeys } from '../../hub/src/roles/user/keys.ts'
import { keyHistory } from '../../hub/src/roles/user/chain.ts'
import { EpochCommitter, pendingEpochsPath } from '../../hub/src/roles/user/commit.ts'
import { coreEpochChain } from '../../hub/src/app/hub-service.ts'
import { DurableBatches, stateKey, type BatchState } from '../../hub/src/ingest/batches.ts'
import { coreBatchChain } from '../../hub/src/nodered/wire.ts'
import { Ingest } from '../../hub/src/ingest/pipeline.ts'
import { formatLine } from '../../hub/src/ingest/line.ts'
import { who } from '../helpers/core.ts'
import { tempDir } from '../helpers/ipfs.ts'

const rng = (n: number): Uint8Array => new Uint8Array(randomBytes(n))
const A = who('fault-doctor-a')
const directory = { lookup: (id: Uint8Array): DoctorKey | undefined => Buffer.compare(id, A.id) === 0 ? { id: A.id, x25519: A.agreement.publicKey } : undefined }

async function mine (core: CoreNode, n = 1): Promise<void> {
  for (let i = 0; i < n; i++) {
    const tpl = core.template(new Uint8Array(32))
    const r = await core.submitBlock({ header: solveUblockHeader(tpl.header, 100_000_000)!, txs: tpl.txs })
    if (!r.accepted) throw new Error(`mine: ${r.reason}`)
  }
}

async function open (dir: string, user: typeof A, now: () => number): Promise<{ core: CoreNode, keys: UserKeys, committer: EpochCommitter }> {
  const core = await CoreNode.open({ dir: join(dir, 'chain'), params: DEVNET, verifyThreads: 1, now })
  const keys = UserKeys.fromChain(user, await keyHistory(core.store, core.mempool, user.id), { rng, now, directory })
  const committer = await EpochCommitter.open({ keys, chain: coreEpochChain(core), file: pendingEpochsPath(dir) })
  return { core, keys, committer }
}

t.test('a tx_IoT the mempool refuses is kept and goes out on a later block; the batch leaves the store k blocks later', async (t) => {
  const dir = await tempDir(t, 'refused-iot')
  const user = who('fault-refused-user')
  const now = (): number => Math.floor(Date.now() / 1000)
  const core = await CoreNode.open({ dir: join(dir, 'chain'), params: DEVNET, verifyThreads: 1, now })
  t.teardown(async () => { await core.close() })
  const ingest = await Ingest.open(join(dir, 'ingest'), { sync: false })
  t.teardown(async () => { await ingest.close() })
  await ingest.registry.add('hr-1', { user: toHex(user.id), sensors: ['hr'] })
  for (let s = 0; s < 5; s++) t.ok((await ingest.submit(formatLine({ d: 'hr-1', b: 1, s, t: 'hr', v: 70 + s, ts: s }), { source: 'api' })).ok)
  const batches = new DurableBatches({ ingest, identity: user, chain: coreBatchChain(core), confirmations: 2, users: [toHex(user.id)] })
  t.teardown(() => { batches.stop() })
  t.equal(await batches.close(), 1, 'the pending readings closed into one batch')
  const [b] = await batches.open()
  const sealed = rng(64)
  await batches.sealed(b!.batch.id, sealed, 1)
  const again = await batches.sealed(b!.batch.id, rng(64), 1)
  t.same(Buffer.from(again.sealed), Buffer.from(sealed), 'a batch sealed before keeps its first sealed bytes')
  await batches.uploaded(b!.batch.id, 'bafkrei-test')
  // key epoch 1 of this user is not on Userchain yet: the node refuses the tx_IoT
  await t.rejects(batches.record(b!.batch.id, rng(32), 1), { code: 'ERR_UNKNOWN_EPOCH' }, 'the mempool refuses the tx_IoT')
  const st = await ingest.store.get<BatchState>(stateKey(b!.batch.id))
  t.equal(st?.stage, 'tx', 'the batch keeps its signed tx_IoT, built before it was submitted')
  // the user's first epoch arrives and is mined; the next tips resubmit the stored tx_IoT
  const keys = new UserKeys(user, { rng, now, directory })
  t.ok((await core.submitTx(keys.init())).accepted)
  const confirmed = new Promise<{ id: string, txid: string }>((resolve) => batches.once('confirmed', resolve))
  await mine(core)
  await batches.settle()
  t.ok(core.mempool.has(Buffer.from(st!.txids![0]!, 'hex')), 'the stored tx_IoT is in the mempool after the next block')
  await mine(core, 2)
  await batches.settle()
  const c = await confirmed
  t.equal(c.txid, st!.txids![0], 'the very tx_IoT built first is the one confirmed (no second tx for the batch)')
  t.same(await batches.open(), [], 'the confirmed batch left the ingest store')
  t.equal(await ingest.store.get(stateKey(b!.batch.id)), undefined, 'and its sealed bytes with it')
})

t.test('a revocation whose tx_key expires unmined is issued again, and holds after a restart', async (t) => {
  const dir = await tempDir(t, 'expired-key')
  const user = who('fault-expiry-user')
  const clock = { t: Math.floor(Date.now() / 1000) }
  const now = (): number => clock.t
  let h = await open(dir, user, now)
  await h.committer.commit({ kind: 'init' })
  await h.committer.commit({ kind: 'grant', doctor: A.id })
  await mine(h.core)
  await h.committer.settle()
  t.same(h.committer.pending(), [], 'init and grant are mined: nothing pending')
  const revoked = await h.committer.commit({ kind: 'revoke', doctor: A.id })
  t.equal(h.keys.doctors().length, 0, 'the accepted revocation is in use')
  t.equal(h.committer.pending().length, 1, 'and pending until mined')
  t.ok(h.committer.pending()[0]!.accepted)
  h.committer.stop()
  await h.core.close()

  // two days later, the revocation never mined: the restarted node drops it as expired
  clock.t += 2 * 86_400
  h = await open(dir, user, now)
  t.equal(h.keys.doctors().length, 0, 'after the restart the revocation still holds (issued again)')
  const p = h.committer.pending()
  t.equal(p.length, 1)
  t.equal(p[0]!.kind, 'revoke')
  t.equal(p[0]!.reissued, 1, 'issued again once')
  t.not(p[0]!.id, revoked.id, 'as a new tx_key (fresh timestamp)')
  t.ok(h.core.mempool.has(Buffer.from(p[0]!.id, 'hex')), 'accepted by the node')
  await mine(h.core)
  await h.committer.settle()
  t.same(h.committer.pending(), [], 'mined: nothing pending')
  h.committer.stop()
  await h.core.close()

  h = await open(dir, user, now)
  t.teardown(async () => { h.committer.stop(); await h.core.close() })
  t.equal(h.keys.current?.epoch, 3, 'the keys rebuilt from Userchain alone are at the revocation epoch')
  t.equal(h.keys.doctors().length, 0, 'and name no doctor: the revocation holds')
})
