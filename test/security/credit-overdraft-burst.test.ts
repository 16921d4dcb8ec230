/**
 * Attack credit-overdraft-burst (paper §IV-B4): a user's prepaid credit is
 * checked against committed diagnoses only, so a burst of tx_diag submitted
 * before any commits would all pass and overdraw it. Now the credit must
 * cover each tx_diag on top of those committed, in flight or admitted ahead.
 * - Real nodes: 50 concurrent tx_diag, spread over four accounting nodes, for
 *   a user whose credit covers 3: at most 3 commit, every other one is
 *   refused with the reason, the credit never goes negative.
 * - Simulator (test/fuzz/pbft-sim.ts): the same burst when the leader is
 *   Byzantine and proposes every one of them (in one Dblock, or spread over
 *   several): the honest replicas check before they prepare, so at most 3
 *   commit anywhere, and the honest txs submitted beside them still commit.
 */
import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildTxDiag, sha256, toHex, txId, utf8Bytes, type TxDiag } from '../../hub/src/core/index.ts'
import { admissionWorld } from '../helpers/admission-world.ts'
import { DOCTORS, SIM_CREDIT, SIM_USER_OF, Sim, txPool } from '../fuzz/pbft-sim.ts'

t.test('credit-overdraft-burst: 50 concurrent tx_diag on real nodes for a credit of 3', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'credit-burst-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const w = await admissionWorld(t, dir, 'burst')
  const p = await w.patient('patient', 3)
  for (const d of w.doctors) await p.send(p.keys.grant(d.id))
  const causes = [await p.iot(), await p.iot()]
  await w.confirm()
  const txs = Array.from({ length: 50 }, (_, i) => w.diag(w.doctors[i % 3]!, [causes[i % 2]!]))
  const receipts = await Promise.all(txs.map(async (tx, i) => await w.nodes[i % 4]!.submit(tx)))
  const committed = receipts.filter((r) => r.ok)
  const refused = receipts.filter((r) => !r.ok)
  t.ok(committed.length <= 3, `at most 3 commit (${committed.length})`)
  t.ok(committed.length >= 1, 'the credit is used, not refused outright')
  t.equal(committed.length + refused.length, 50, 'every submission is answered')
  for (const r of refused) {
    if (r.ok) continue
    if (r.code !== 'ERR_UNPAID' || !/has not paid enough Healthcoin for a diagnosis \(paid 300000, [3-9]\d* diagnoses at 100000 committed or in flight ahead of this one\)/.test(r.reason)) {
      t.fail(`refused with the credit as reason: ${r.code} ${r.reason}`)
    }
  }
  t.pass(`${refused.length} refused, each with the credit as reason (e.g. "${refused[0]?.ok === false ? refused[0].reason : ''}")`)
  // Every node holds the same Docchain, with the same number of the user's diagnoses.
  const height = Math.max(...committed.map((r) => (r.ok ? r.height : 0)))
  for (let i = 0; i < 300 && w.nodes.some((n) => n.height < height); i++) await new Promise((resolve) => setTimeout(resolve, 10))
  for (const [i, n] of w.nodes.entries()) {
    let diags = 0
    for (let h = 1; h <= n.height; h++) diags += (await n.block(h))!.txs.length
    t.equal(diags, committed.length, `node ${i}: ${diags} of the user's diagnoses on Docchain`)
  }
  await w.confirm()
  const state = await w.credit.state(p.id.id)
  t.ok(state.credit >= 0, `credit never negative (paid ${state.paid}, consumed ${state.consumed})`)
  t.equal(state.consumed, committed.length * w.credit.price, 'what committed is what was consumed')
})

/** A user of the sim with a credit of `credit` diagnoses, and `count` tx_diag citing its data. */
function burst (label: string, count: number, credit: number): TxDiag[] {
  SIM_CREDIT.set(label, credit)
  return Array.from({ length: count }, (_, i) => {
    const cause = sha256(utf8Bytes(`${label}-iot-${i}`))
    SIM_USER_OF.set(toHex(cause), label)
    return buildTxDiag(DOCTORS[i % DOCTORS.length]!, { ts: 1_790_100_000 + i, causes: [cause], hedm: sha256(utf8Bytes(`${label}-dm-${i}`)) })
  })
}

for (const maxBatch of [64, 2]) {
  t.test(`credit-overdraft-burst: a Byzantine leader proposes the whole burst (${maxBatch === 64 ? 'one Dblock' : 'spread over Dblocks of 2'})`, async (t) => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const label = `burst-${maxBatch}-${seed}`
      const txs = burst(label, 50, 3)
      const honestTxs = txPool(4)
      // Node 0 leads view 0 and admits and proposes anything validly signed: it skips the credit rule.
      const sim = new Sim({
        seed,
        n: 4,
        byzantine: [{ index: 0, behavior: 'collude' }],
        gst: 0,
        replica: { maxBatch, window: 64, checkpointInterval: 16 },
        replicaOf: (i) => (i === 0 ? { costOf: () => null, validate: () => null } : {})
      })
      // The burst reaches the Byzantine leader first, then everyone.
      for (const tx of txs) sim.submit(tx, 0, 0, true)
      txs.forEach((tx, i) => { sim.submit(tx, 1 + (i % 3), 5, true) })
      honestTxs.forEach((tx, i) => { sim.submit(tx, 1 + (i % 3), 10) })
      const honestIds = honestTxs.map((x) => toHex(txId(x)))
      const ids = new Set(txs.map((x) => toHex(txId(x))))
      sim.run(() => sim.honest.every((i) => honestIds.every((id) => sim.nodes[i]!.chain.some((b) => b.txs.some((x) => toHex(x.id) === id)))), 60_000)
      t.equal(sim.safety, null, `seed ${seed}: safe`)
      for (const i of sim.honest) {
        const chain = sim.nodes[i]!.chain
        const drawn = chain.reduce((n, b) => n + b.txs.filter((x) => ids.has(toHex(x.id))).length, 0)
        t.ok(drawn <= 3, `seed ${seed}, honest node ${i}: ${drawn} of the 50 committed (credit 3)`)
        t.ok(honestIds.every((id) => chain.some((b) => b.txs.some((x) => toHex(x.id) === id))), `seed ${seed}, honest node ${i}: the other txs committed (height ${chain.length - 1}, ${sim.viewChanges} view changes)`)
      }
      t.ok(sim.refused.size >= 47 - 3, `seed ${seed}: the honest nodes refused the rest on admission (${sim.refused.size}), e.g. "${[...sim.refused.values()][0]}"`)
    }
  })
}
