/**
 * The keys node inside the hub: its runtime carries the hub's key service
 * (app/hub-service.ts keysService — what the CLI, the patient page and the
 * control API call), so a grant from a flow learns the doctor's identity
 * record into the doctor book, publishes the first epoch if there is none,
 * and is serialised with every other grant; `init` is the hub's own and is
 * refused with a reason a Catch node shows.
 */
import t from 'tap'
import { buildIdentityRecord, encodeIdentityRecord, toHex, txId } from '../../hub/src/core/index.ts'
import { keysService } from '../../hub/src/app/hub-service.ts'
import { DoctorBook } from '../../hub/src/app/doctor-book.ts'
import keysNode from '../../flows/nodes/lib/keys.ts'
import { UserKeys } from '../../hub/src/roles/user/keys.ts'
import { EpochCommitter } from '../../hub/src/roles/user/commit.ts'
import { join } from 'node:path'
import { CATCH, collect, helper, loadFlow, next, rng, userRuntime } from '../helpers/nodered.ts'
import { who } from '../helpers/core.ts'

const doctor = who('nr-service-doctor')

t.test('keys: through the hub\'s key service', async (t) => {
  // the user knows no doctor and has no epoch yet: the service learns the record and publishes epoch 1 first
  const u = await userRuntime({ epoch: false, doctors: [] })
  const book = await DoctorBook.load(t.testdir())
  // as startHub makes them: the doctors' keys from the doctor book
  const keys = new UserKeys(u.rt.identity, { rng, now: u.rt.now, directory: { lookup: (id) => book.lookup(id) } })
  // the hub's epoch committer over the test's chain: what it submits lands in the mempool the test reads
  const committer = await EpochCommitter.open({
    keys,
    file: join(t.testdir(), 'pending-epochs.json'),
    chain: {
      submit: async (tx) => { await u.chain.submit(tx); return { accepted: true } },
      mined: () => false,
      pooled: (id) => u.chain.pending.some((x) => toHex(txId(x)) === toHex(id)),
      onTip: () => () => {}
    }
  })
  t.teardown(() => { committer.stop() })
  const svc = keysService({ committer, book })
  await loadFlow(t, [keysNode], [
    { id: 'n', type: 'healthchain-keys', z: 'f1', runtime: 'rt', action: 'grant', wires: [['out']] }, { id: 'out', type: 'helper', z: 'f1' }, ...CATCH
  ], { hub: { ...u.rt, keys, keyEpochs: svc } })
  const out = collect('out')
  const n = helper.getNode('n')
  const record = toHex(encodeIdentityRecord(buildIdentityRecord(doctor, 1)))
  n.receive({ payload: record })
  const caught = next('caught')
  n.receive({ payload: { action: 'init' } })
  t.match((await caught as { error: { message: string } }).error.message, /first key epoch itself/, 'init is the hub\'s own: refused, with the reason')
  n.receive({ payload: { action: 'revoke', doctor: toHex(doctor.id) } })
  await new Promise((r) => setTimeout(r, 200))
  t.same(out.map((m) => [(m.payload as { action: string }).action, (m.payload as { epoch: number }).epoch, (m.payload as { doctors: string[] }).doctors]),
    [['grant', 2, [toHex(doctor.id)]], ['revoke', 3, []]], 'epoch 1 published by the service, the grant in epoch 2, the revoke in 3')
  t.ok(book.lookup(doctor.id), 'the doctor\'s record learned into the doctor book')
  t.same(u.chain.pending.map((tx) => (tx as { epoch?: number }).epoch), [1, 2, 3], 'three tx_keys in the mempool, in order')
  t.equal((out[0]!.payload as { id: string }).id, toHex(txId(u.chain.pending[1]!)), 'the grant\'s id is its tx_key\'s')
  t.equal(out[0]!.tx, undefined, 'no tx object: the service published it')
})
