/**
 * Attack: fewer than t accounting nodes collude to open a patient's data
 * from the emergency escrow (README "Emergency access"). With n = 4, t = 3,
 * any two members' shares combine to something other than the epoch's IoT
 * key: it opens no batch and fails the tx_key's commitment C(Ik).
 */
import t from 'tap'
import { combine } from 'shamir-secret-sharing'
import { equalBytes, ikCommitment, openBatch, openEscrowShare } from '../../hub/src/core/index.ts'
import { emergencyWorld, members, patient } from '../helpers/emergency-world.ts'

t.test('two colluding members of n = 4, t = 3 open nothing', async (t) => {
  const w = await emergencyWorld(t, t.testdir({}))
  const tx = await w.epoch({ kind: 'init' })
  const ik = w.keys.current!.ik
  t.equal(tx.escrow?.threshold, 3)
  t.equal(tx.escrow?.shares.length, 4)
  for (const pair of [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]]) {
    const k = await combine(pair.map((i) => openEscrowShare(tx, members[i]!)))
    t.notOk(equalBytes(k, ik), `members ${pair.join(' and ')} do not get Ik`)
    t.notOk(equalBytes(ikCommitment(patient.id, k), tx.ikCommit!), 'what they combine fails C(Ik)')
    t.throws(() => openBatch(k, patient.id, 1, w.batches.get(1)!), 'and opens no batch')
  }
  t.ok(equalBytes(await combine(members.slice(1).map((m) => openEscrowShare(tx, m))), ik), 'three members do (the threshold is real)')
})
