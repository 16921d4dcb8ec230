/**
 * Targeted PBFT scenarios (after Fabric v0.6's PBFT suite): normal case with
 * verifiable certificates, malicious and equivocating pre-prepares, leader
 * crash then view change, checkpoint and watermark movement with log GC, view
 * change during a checkpoint, leader rotation each period, stale-view and
 * bad-signature messages, restart from the persisted log. All on the seeded
 * simulated network of test/fuzz/pbft-sim.ts with real Ed25519 signatures.
 */
import t, { type Test } from 'tap'
import {
  buildTxDiag, dblockHash, txId, dblockProposal, equalBytes, sha256, toHex, utf8Bytes, verifyCertificate, QuorumError, type TxDiag
} from '../../hub/src/core/index.ts'
import { decodeMessage } from '../../hub/src/core/pbft/messages.ts'
import { signMessage } from '../../hub/src/core/pbft/envelope.ts'
import { prePrepareBody, prePrepareCodec } from '../../hub/src/core/pbft/pre-prepare.ts'
import { checkpointCodec } from '../../hub/src/core/pbft/checkpoint.ts'
import { prepareCodec } from '../../hub/src/core/pbft/prepare.ts'
import { DOCTORS, GENESIS, ident, Sim, txPool } from '../fuzz/pbft-sim.ts'
import { Replica } from '../../hub/src/core/pbft/replica.ts'
import { requestTxs } from '../../hub/src/core/pbft/request.ts'

const kindOf = (b: Uint8Array): string => { try { return decodeMessage(b).kind } catch { return 'garbage' } }

function heights (sim: Sim): number[] { return sim.honest.map((i) => sim.nodes[i]!.chain.length - 1) }

function sameChains (t: Test, sim: Sim, nodes = sim.honest): void {
  const ref = sim.nodes[nodes[0]!]!.chain.map((b) => toHex(dblockHash(b.header)))
  for (const i of nodes) {
    const mine = sim.nodes[i]!.chain.map((b) => toHex(dblockHash(b.header)))
    const k = Math.min(ref.length, mine.length)
    t.same(mine.slice(0, k), ref.slice(0, k), `node ${i} holds the same Dblocks`)
  }
}

t.test('normal case: every node commits the same Dblocks, each certificate verifies alone', async (t) => {
  const sim = new Sim({ seed: 1, n: 4 })
  const txs = txPool(6)
  txs.forEach((tx, i) => sim.submit(tx, i % 4, i * 3))
  t.ok(sim.run(() => sim.submittedAt.size === 6 && sim.allCommitted(), 5000), 'all committed')
  t.equal(sim.safety, null)
  sameChains(t, sim)
  const chain = sim.nodes[2]!.chain
  t.ok(chain.length >= 4, 'batches of at most 2 tx_diag make at least 3 Dblocks')
  for (const b of chain.slice(1)) {
    t.doesNotThrow(() => verifyCertificate(b, sim.members), `certificate of Dblock ${b.header.index}`)
    t.equal(b.header.view, 0)
    t.ok(equalBytes(b.header.leader, sim.members[0]!), 'proposed by the view-0 leader')
  }
  // A certificate from non-members, or too few signers, is not finality.
  const b = chain[1]!
  t.throws(() => verifyCertificate({ ...b, cert: b.cert.slice(0, 2) }, sim.members), QuorumError)
  t.throws(() => verifyCertificate(b, [ident('x').id, ident('y').id, ident('z').id, ident('w').id]), /not an accounting node/)
  const ids = new Set(chain.flatMap((x) => x.txs.map((y) => toHex(y.id))))
  t.equal(ids.size, 6, 'each tx_diag committed exactly once')
})

t.test('malicious pre-prepare (invalid tx, broken prehash) is refused; view change; tx commits under the next leader', async (t) => {
  for (const variant of ['bad-tx', 'prehash'] as const) {
    const sim = new Sim({ seed: 2, n: 4 })
    const leader = ident('replica-0')
    const forged: TxDiag = { ...buildTxDiag(DOCTORS[0]!, { ts: 1, causes: [sha256(utf8Bytes('c'))], hedm: sha256(utf8Bytes('h')) }), ts: 2 } // signature no longer matches
    sim.tamper = (from, _to, bytes) => {
      if (from !== 0 || kindOf(bytes) !== 'pre-prepare') return null
      const m = decodeMessage(bytes)
      if (m.kind !== 'pre-prepare' || m.body.view !== 0) return null
      const b = m.body.block
      const alt = dblockProposal({
        index: b.header.index,
        gtime: b.header.gtime,
        prehash: variant === 'prehash' ? sha256(b.header.prehash) : b.header.prehash,
        view: 0,
        leader: leader.id,
        txs: variant === 'bad-tx' ? [...b.txs.map((x) => x.tx as TxDiag), forged] : b.txs.map((x) => x.tx as TxDiag)
      })
      return [signMessage(prePrepareCodec, prePrepareBody(0, alt), leader.signing).bytes]
    }
    const txs = txPool(3)
    txs.forEach((tx, i) => sim.submit(tx, 1 + (i % 3), i))
    const honest = [1, 2, 3]
    t.ok(sim.run(() => sim.submittedAt.size === 3 && honest.every((i) => sim.nodes[i]!.chain.flatMap((b) => b.txs).length === 3), 10_000), `${variant}: committed after the view change`)
    t.equal(sim.safety, null)
    sameChains(t, sim, honest)
    for (const i of honest) {
      t.ok(sim.nodes[i]!.replica.view >= 1, `${variant}: node ${i} left view 0`)
      for (const b of sim.nodes[i]!.chain.slice(1)) {
        t.notOk(b.txs.some((x) => equalBytes(x.id, txId(forged))), 'the forged tx_diag is not on Docchain')
        t.ok(b.header.view >= 1, `${variant}: nothing the malicious leader proposed was committed`)
      }
    }
  }
})

t.test('equivocating leader: conflicting pre-prepares to different backups → view change, one chain', async (t) => {
  // Seed 6 splits the honest backups 2:1 against the leader's own proposal
  // (two get the forged one, one the real one), so neither side can gather
  // 2f+1 commits and only a view change makes progress. (A 1:2 split commits
  // the real proposal without one, which is correct too: the seed picks the
  // harder case.)
  const sim = new Sim({ seed: 6, n: 4, byzantine: [{ index: 0, behavior: 'equivocate' }] })
  txPool(4).forEach((tx, i) => sim.submit(tx, 1 + (i % 3), i * 2))
  t.ok(sim.run(() => sim.submittedAt.size === 4 && sim.allCommitted(), 10_000))
  const forgedTo = [1, 2, 3].filter((i) => (sim as unknown as { split: Map<string, boolean> }).split.get(`${i}:0`) === false)
  t.equal(forgedTo.length, 2, `backups ${forgedTo.join(', ')} got the forged proposal of view 0, the other the real one`)
  t.equal(sim.safety, null)
  sameChains(t, sim)
  t.ok(sim.nodes[1]!.replica.view >= 1, 'the equivocating leader was replaced')
})

t.test('leader crash → view change → new leader commits; crashed leader never comes back', async (t) => {
  const sim = new Sim({ seed: 4, n: 4 })
  const txs = txPool(6)
  txs.slice(0, 2).forEach((tx, i) => sim.submit(tx, 1 + i, i))
  t.ok(sim.run(() => sim.submittedAt.size === 2 && sim.allCommitted(), 5000), 'first batch under leader 0')
  const before = sim.now
  sim.crash(0)
  txs.slice(2).forEach((tx, i) => sim.submit(tx, 1 + (i % 3), sim.now + i))
  const live = [1, 2, 3]
  t.ok(sim.run(() => live.every((i) => sim.nodes[i]!.chain.flatMap((b) => b.txs).length === 6), before + 10_000), 'the rest committed without the crashed leader')
  t.equal(sim.safety, null)
  sameChains(t, sim, live)
  for (const i of live) t.equal(sim.nodes[i]!.replica.view, 1, `node ${i} is in view 1`)
  t.ok(equalBytes(sim.nodes[1]!.replica.leader, sim.members[1]!), 'replica 1 leads view 1')
  const last = sim.nodes[1]!.chain.at(-1)!
  t.equal(last.header.view, 1)
  t.ok(equalBytes(last.header.leader, sim.members[1]!))
  t.ok(sim.now - before < 10_000, `view change completed after ${sim.now - before} virtual ms`)
})

t.test('checkpoints: stable every K with 2f+1, watermarks move, log is garbage collected', async (t) => {
  const sim = new Sim({ seed: 5, n: 4, replica: { checkpointInterval: 2, window: 4, maxBatch: 1 } })
  const txs = txPool(12)
  txs.forEach((tx, i) => sim.submit(tx, i % 4, i * 40))
  const stables: number[] = []
  sim.onCommit = (i) => { if (i === 1) stables.push(sim.nodes[1]!.replica.stableSeq) }
  t.ok(sim.run(() => sim.submittedAt.size === 12 && sim.allCommitted(), 20_000))
  t.equal(sim.safety, null)
  const r = sim.nodes[1]!.replica
  t.equal(r.executedSeq, 12, 'one Dblock per tx_diag')
  t.ok(sim.run(() => sim.honest.every((i) => sim.nodes[i]!.replica.stableSeq === 12), sim.now + 1000), 'last checkpoint stable everywhere')
  t.ok(new Set(stables).size >= 4, `the low watermark moved through ${[...new Set(stables)].join(', ')}`)
  t.ok(stables.every((s, i) => i === 0 || s >= stables[i - 1]!), 'monotonically')
  const snap = r.snapshot()
  t.equal(snap.stableSeq, 12)
  t.equal(snap.stableProof.length, 3, '2f+1 checkpoint messages prove it')
  t.equal(snap.messages.length, 0, 'nothing at or below the stable checkpoint is kept')
  t.equal(snap.prepared.length, 0)
  // A pre-prepare above the high watermark (h + L) is ignored even from the leader.
  const leader = ident('replica-0')
  const far = dblockProposal({ index: 12 + 4 + 1, gtime: 1_790_000_100, prehash: new Uint8Array(32), view: 0, leader: leader.id, txs: [txPool(13)[12]!] })
  const acts = r.receive(signMessage(prePrepareCodec, prePrepareBody(0, far), leader.signing).bytes, sim.now)
  t.same(acts.filter((a) => a.type === 'send').length, 0, 'no prepare for a sequence number beyond the window')
  const inside = dblockProposal({ index: 13, gtime: 1_790_000_100, prehash: dblockHash(sim.nodes[1]!.chain[12]!.header), view: 0, leader: leader.id, txs: [txPool(13)[12]!] })
  const acts2 = r.receive(signMessage(prePrepareCodec, prePrepareBody(0, inside), leader.signing).bytes, sim.now)
  t.ok(acts2.some((a) => a.type === 'send' && kindOf(a.bytes) === 'prepare'), 'a pre-prepare inside the window is prepared')
})

t.test('view change during a checkpoint: the new view starts from the highest proven checkpoint', async (t) => {
  const sim = new Sim({ seed: 6, n: 4, replica: { checkpointInterval: 2, window: 8, maxBatch: 1 } })
  const txs = txPool(8)
  // Checkpoint messages for seq 4 reach only replicas 0 and 1: 2 and 3 cannot make it stable.
  sim.filter = (_from, to, bytes) => {
    const m = (() => { try { return decodeMessage(bytes) } catch { return null } })()
    return !(m?.kind === 'checkpoint' && m.body.seq === 4 && to >= 2)
  }
  txs.slice(0, 4).forEach((tx, i) => sim.submit(tx, 1, i * 30))
  t.ok(sim.run(() => sim.nodes[1]!.replica.executedSeq === 4 && sim.nodes[1]!.replica.stableSeq === 4, 5000), 'replica 1 holds a stable checkpoint at 4')
  t.ok(sim.run(() => sim.nodes[2]!.replica.executedSeq === 4, sim.now + 1000))
  t.equal(sim.nodes[2]!.replica.stableSeq, 2, 'replica 2 is still at checkpoint 2')
  sim.crash(0)
  sim.filter = null
  txs.slice(4).forEach((tx, i) => sim.submit(tx, 1 + (i % 3), sim.now + i))
  const live = [1, 2, 3]
  t.ok(sim.run(() => live.every((i) => sim.nodes[i]!.replica.executedSeq === 8), sim.now + 10_000), 'progress in the new view')
  t.equal(sim.safety, null)
  sameChains(t, sim, live)
  for (const i of live) {
    t.equal(sim.nodes[i]!.replica.view, 1)
    t.ok(sim.nodes[i]!.replica.stableSeq >= 4, `node ${i} adopted the checkpoint proven in the view change`)
  }
})

t.test('leader rotates every period (rotateEveryBlocks) without any failure', async (t) => {
  const sim = new Sim({ seed: 7, n: 4, replica: { rotateEveryBlocks: 2, maxBatch: 1 } })
  txPool(8).forEach((tx, i) => sim.submit(tx, i % 4, i * 60))
  t.ok(sim.run(() => sim.submittedAt.size === 8 && sim.allCommitted(), 20_000))
  t.equal(sim.safety, null)
  sameChains(t, sim)
  const leaders = sim.nodes[0]!.chain.slice(1).map((b) => sim.members.findIndex((m) => equalBytes(m, b.header.leader)))
  t.same(leaders, [0, 0, 1, 1, 2, 2, 3, 3], 'each leader proposes its period of 2 Dblocks, then the next takes over')
})

t.test('stale-view and badly signed messages are ignored', async (t) => {
  const sim = new Sim({ seed: 8, n: 4 })
  const txs = txPool(2)
  sim.submit(txs[0]!, 1, 0)
  t.ok(sim.run(() => sim.submittedAt.size === 1 && sim.allCommitted(), 5000))
  sim.crash(0)
  sim.submit(txs[1]!, 1, sim.now)
  t.ok(sim.run(() => [1, 2, 3].every((i) => sim.nodes[i]!.replica.executedSeq === 2), sim.now + 10_000))
  const r = sim.nodes[2]!.replica
  t.equal(r.view, 1)
  // A view-0 prepare (stale) and a view-1 prepare with a flipped signature byte.
  const k = ident('replica-3')
  const stale = signMessage(prepareCodec, { view: 0, seq: 3, digest: sha256(utf8Bytes('x')) }, k.signing).bytes
  const bad = signMessage(prepareCodec, { view: 1, seq: 3, digest: sha256(utf8Bytes('x')) }, k.signing).bytes.slice()
  bad[bad.length - 1]! ^= 1
  const before = r.snapshot().messages.length
  t.same(r.receive(stale, sim.now), [], 'stale view: no action')
  t.same(r.receive(bad, sim.now), [], 'bad signature: no action')
  t.same(r.receive(new Uint8Array([3, 1, 0]), sim.now), [], 'garbage: no action')
  t.equal(r.snapshot().messages.length, before, 'nothing was logged')
  // A checkpoint from a non-member is ignored too.
  const outsider = ident('outsider')
  t.same(r.receive(signMessage(checkpointCodec, { seq: 2, digest: new Uint8Array(32) }, outsider.signing).bytes, sim.now), [])
})

t.test('restart from the persisted log: a replica crashed mid-run rejoins and catches up', async (t) => {
  const sim = new Sim({ seed: 9, n: 4, replica: { checkpointInterval: 2, window: 8, maxBatch: 1 } })
  const txs = txPool(10)
  txs.slice(0, 3).forEach((tx, i) => sim.submit(tx, 0, i * 30))
  t.ok(sim.run(() => sim.submittedAt.size === 3 && sim.allCommitted(), 5000))
  sim.crash(3)
  txs.slice(3, 7).forEach((tx, i) => sim.submit(tx, 1, sim.now + i * 30))
  t.ok(sim.run(() => [0, 1, 2].every((i) => sim.nodes[i]!.replica.executedSeq === 7), sim.now + 5000), 'the others go on without it')
  t.equal(sim.nodes[3]!.chain.length - 1, 3, 'the crashed replica stopped at 3')
  sim.restart(3)
  txs.slice(7).forEach((tx, i) => sim.submit(tx, 2, sim.now + i * 30))
  t.ok(sim.run(() => sim.submittedAt.size === 10 && sim.allCommitted(), sim.now + 10_000), 'the restarted replica caught up by state transfer and commits again')
  t.equal(sim.safety, null)
  sameChains(t, sim)
  t.same(heights(sim), [10, 10, 10, 10])
  // Crash the leader now: the restarted replica is needed for a 2f+1 quorum of the view change.
  sim.crash(0)
  sim.submit(txPool(11)[10]!, 3, sim.now)
  t.ok(sim.run(() => [1, 2, 3].every((i) => sim.nodes[i]!.replica.executedSeq === 11), sim.now + 10_000), 'view change with the restarted replica')
  t.equal(sim.safety, null)
})

t.test('a replica restarted mid-view keeps its votes (no equivocation after restart)', async (t) => {
  const sim = new Sim({ seed: 10, n: 4, replica: { checkpointInterval: 4, maxBatch: 1 } })
  // Commits never reach anyone: every block stays prepared but uncommitted.
  sim.filter = (_f, _t, bytes) => kindOf(bytes) !== 'commit'
  sim.submit(txPool(1)[0]!, 1, 0)
  t.ok(sim.run(() => sim.nodes[2]!.replica.snapshot().prepared.length === 1, 2000), 'replica 2 prepared seq 1')
  const before = sim.nodes[2]!.snapshot
  t.ok(sim.nodes[2]!.appended.some((b) => kindOf(b) === 'prepare'), 'its prepare was persisted before being sent')
  sim.crash(2)
  sim.restart(2)
  const snap = sim.nodes[2]!.replica.snapshot()
  t.equal(snap.prepared.length, 1, 'the prepared certificate survived the restart')
  t.equal(snap.view, before.view)
  sim.filter = null
  t.ok(sim.run(() => sim.allCommitted(), sim.now + 10_000), 'and the block commits')
  t.equal(sim.safety, null)
})

t.test('a replica cut off during a view change joins it once it hears f+1 view-changes (resent)', async (t) => {
  const sim = new Sim({ seed: 11, n: 4, replica: { maxBatch: 1 } })
  const txs = txPool(4)
  sim.submit(txs[0]!, 1, 0)
  t.ok(sim.run(() => sim.submittedAt.size === 1 && sim.allCommitted(), 5000))
  // Replica 3 hears nothing while the leader crashes; 1 and 2 cannot change view without it
  // (2f+1 = 3), so they keep resending their view-changes until it is reachable again.
  sim.filter = (_from, to) => to !== 3
  sim.crash(0)
  sim.submit(txs[1]!, 1, sim.now)
  sim.submit(txs[1]!, 2, sim.now)
  t.ok(sim.run(() => sim.nodes[1]!.replica.inViewChange && sim.nodes[2]!.replica.inViewChange, sim.now + 5000), '1 and 2 want view 1')
  t.equal(sim.nodes[3]!.replica.view, 0, 'replica 3 knows nothing of it')
  sim.filter = null
  txs.slice(2).forEach((tx, i) => sim.submit(tx, 1 + (i % 2), sim.now + i))
  t.ok(sim.run(() => [1, 2, 3].every((i) => sim.nodes[i]!.replica.executedSeq === 4), sim.now + 20_000), 'all three commit in the new view')
  t.equal(sim.safety, null)
  t.ok(sim.nodes[3]!.replica.view >= 1, `replica 3 followed to view ${sim.nodes[3]!.replica.view}`)
  sameChains(t, sim, [1, 2, 3])
})

t.test('submissions admitted together are forwarded as one REQUEST; a backup that lost it gets it again', async (t) => {
  const members = [0, 1, 2, 3].map((i) => ident(`replica-${i}`))
  const backup = new Replica({ key: members[1]!.signing, members: members.map((m) => m.id), genesis: GENESIS, requestTimeoutMs: 100 })
  const txs = txPool(5)
  const { results, actions } = backup.submitMany([...txs, txs[0]!], 0)
  t.same(results.map((r) => r.reason), [null, null, null, null, null, null], 'each admitted (the repeat too: it is pending)')
  const sends = actions.filter((a) => a.type === 'send')
  t.equal(sends.length, 1, 'one message')
  const m = decodeMessage(sends[0]!.bytes)
  t.equal(m.kind, 'request')
  t.equal(sends[0]!.to, null, 'to every other member')
  if (m.kind === 'request') t.same(requestTxs(m).map((x) => toHex(x.id)), txs.map((x) => toHex(txId(x))), 'carrying every tx once, in order')
  // No pre-prepare comes: after half a request timeout the backup re-sends what the leader has not proposed.
  const again = backup.tick(60).filter((a) => a.type === 'send' && kindOf(a.bytes) === 'request')
  t.equal(again.length, 1, 're-sent as one REQUEST')
  t.ok(again[0]!.type === 'send' && equalBytes(again[0]!.to!, members[0]!.id), 'to the leader')
})
