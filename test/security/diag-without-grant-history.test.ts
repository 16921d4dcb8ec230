/**
 * diag-without-grant, grant scopes (paper §IV-B2, §IV-B5 Alg. 3–4): a
 * `history` grant keeps the current Ik, so its doctor reads — and may be paid
 * for diagnosing — what was sealed since the last fresh Ik, never before it;
 * a `from-now` grant seals a fresh Ik, so its doctor may cite nothing sealed
 * before its grant. Real nodes: a Userchain core node holding the patient's
 * tx_keys (their ikFrom checked by the core node), four accounting nodes
 * running PBFT. The doctor node's own check (DoctorKeyTracker over the same
 * tx_keys) agrees with every verdict.
 */
import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TxKey } from '../../hub/src/core/index.ts'
import { DoctorKeyTracker } from '../../hub/src/roles/doctor/keys.ts'
import { admissionWorld, assertNotGranted } from '../helpers/admission-world.ts'

t.test('diag-without-grant: a history doctor is admitted back to the last rotation and no further; a from-now doctor not before its grant', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'diag-history-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const w = await admissionWorld(t, dir, 'dgh')
  const [history, fromNow] = w.doctors as [typeof w.doctors[0], typeof w.doctors[0]]
  const p = await w.patient('patient', 3)
  const keyTxs: TxKey[] = [] // the tx_keys after the patient's first (which names no doctor)
  const send = async (tx: TxKey): Promise<void> => { await p.send(tx); p.keys.apply(tx); keyTxs.push(tx) }
  const beforeRotation = await p.iot() // epoch 1
  await send(p.keys.prepare({ kind: 'rotate' })) // epoch 2: a fresh Ik
  const sinceRotation = await p.iot()
  await send(p.keys.prepare({ kind: 'grant', doctor: history.id, scope: 'history' })) // epoch 3 keeps epoch 2's Ik
  const afterHistory = await p.iot()
  await send(p.keys.prepare({ kind: 'grant', doctor: fromNow.id })) // epoch 4: a fresh Ik
  await w.confirm()
  t.same(p.keys.history().map((e) => [e.epoch, e.ikFrom]), [[1, 1], [2, 2], [3, 2], [4, 4]], 'Userchain holds the history grant with ikFrom 2')
  const paid = await w.credit.state(p.id.id)

  const refusals = [
    { who: 'the history doctor, citing a batch sealed before the last rotation', tx: w.diag(history, [beforeRotation]), epoch: 1 },
    { who: 'the from-now doctor, citing a batch sealed before its grant', tx: w.diag(fromNow, [sinceRotation]), epoch: 2 },
    { who: 'the from-now doctor, citing a batch of the history grant\'s epoch', tx: w.diag(fromNow, [afterHistory]), epoch: 3 }
  ]
  await assertNotGranted(t, w, p.id.id, refusals, paid)

  const ok = await w.nodes[1]!.submit(w.diag(history, [sinceRotation, afterHistory]))
  t.ok(ok.ok, `the history doctor's diagnosis of a batch sealed before its grant, after the last rotation, is committed (${ok.ok ? `height ${ok.height}` : ok.reason})`)
  await w.confirm()
  t.equal((await w.credit.state(p.id.id)).credit, paid.credit - w.credit.price, 'and charged to the patient once')

  // the doctor node decides the same from the same tx_keys
  const holds = (d: typeof history, epoch: number): boolean => { const k = new DoctorKeyTracker(d); for (const tx of keyTxs) k.observe(tx); return k.holds(p.id.id, epoch) }
  t.same([1, 2, 3].map((e) => holds(history, e)), [false, true, true], 'the history doctor node holds epochs 2 and 3, not 1')
  t.same([1, 2, 3, 4].map((e) => holds(fromNow, e)), [false, false, false, true], 'the from-now doctor node holds epoch 4 only')
})
