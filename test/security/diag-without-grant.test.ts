/**
 * Attack diag-without-grant (paper §IV-B2, §IV-B5): a registered doctor cites
 * a patient's public htxI without ever having been granted that patient's
 * data — or after the patient revoked it, citing data sealed after the
 * revocation — to consume the patient's prepaid credit and be paid for it.
 * Real nodes: a Userchain core node with the patient's tx_key, four
 * accounting nodes running PBFT. Every such tx_diag is refused with a reason
 * naming the cause, and the patient's credit is unchanged; a granted doctor
 * still commits, also for data sealed before its revocation.
 */
import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { admissionWorld, assertNotGranted } from '../helpers/admission-world.ts'

t.test('diag-without-grant: a doctor never granted, or revoked before the cited epoch, is refused and the credit is untouched', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'diag-without-grant-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const w = await admissionWorld(t, dir, 'dwg')
  const [granted, stranger, revoked] = w.doctors as [typeof w.doctors[0], typeof w.doctors[0], typeof w.doctors[0]]
  const p = await w.patient('patient', 5)
  await p.send(p.keys.grant(granted.id))
  await p.send(p.keys.grant(revoked.id))
  const before = await p.iot() // sealed while `revoked` still held the key
  await w.confirm()
  await p.send(p.keys.revoke(revoked.id))
  const after = await p.iot() // sealed under the epoch opened by the revocation
  await w.confirm()
  const paid = await w.credit.state(p.id.id)
  t.equal(paid.credit, 5 * w.credit.price, 'the patient prepaid five diagnoses')

  const refusals = [
    { who: 'a doctor never granted', tx: w.diag(stranger, [after]), epoch: 4 },
    { who: 'a doctor never granted, citing an older epoch', tx: w.diag(stranger, [before]), epoch: 3 },
    { who: 'a doctor revoked before the cited epoch', tx: w.diag(revoked, [after]), epoch: 4 },
    { who: 'a cause of another epoch among granted ones', tx: w.diag(revoked, [before, after]), epoch: 4 }
  ]
  await assertNotGranted(t, w, p.id.id, refusals, paid)

  const ok = await w.nodes[1]!.submit(w.diag(granted, [before, after]))
  t.ok(ok.ok, `the granted doctor commits (${ok.ok ? `height ${ok.height}` : ok.reason})`)
  const old = await w.nodes[2]!.submit(w.diag(revoked, [before]))
  t.ok(old.ok, `the revoked doctor may still cite what it could read before the revocation (${old.ok ? `height ${old.height}` : old.reason})`)
})
