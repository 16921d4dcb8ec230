/**
 * Docchain across four accounting node PROCESSES (issue "Docchain: PBFT …",
 * integration acceptance): each is `healthchain accounting --config …` on
 * 127.0.0.1 port 0 with its keystore and LevelDB, checking tx_diag against a
 * real Userchain it syncs over libp2p from the parent's core node. A doctor
 * submits PBFT_PROC_TXS (default 10,000) tx_diag over libp2p to all four;
 * the leader process is SIGKILLed mid-run and the doctor resubmits what it
 * had in flight there to another node. Every tx_diag gets a commit receipt
 * the doctor verifies (certificate, Merkle branch); the killed node restarts
 * on its log and catches up by state transfer; after a clean SIGTERM of all
 * four, their Docchains are identical (same tip hash, every certificate
 * valid) and hold every tx_diag exactly once.
 */
import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { dblockHash, toHex, verifyCertificate, verifyMerkleProof, txId } from '../../hub/src/core/index.ts'
import { verifyReceipt, type WireReceipt } from '../../hub/src/roles/accounting/diag-protocol.ts'
import { Cluster, tipHash } from '../helpers/accounting-cluster.ts'
import { until } from './ingest-helpers.ts'

const TXS = Number(process.env.PBFT_PROC_TXS ?? 10_000)
const BATCH = 250
const IN_FLIGHT = 8

t.setTimeout(240_000)

t.test(`4 accounting processes over libp2p: ${TXS} tx_diag, leader SIGKILLed mid-run, identical Docchains`, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hc-pbft-proc-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const c0 = performance.now()
  const cluster = await Cluster.start({ dir, ...(process.env.DEBUG_PBFT === undefined ? {} : { log: (l: string) => { console.error(l) } }) })
  t.teardown(async () => { await cluster.close() })
  const members = cluster.members.map((m) => m.id)
  t.comment(`cluster up in ${((performance.now() - c0) / 1000).toFixed(1)} s (Userchain height ${cluster.core.store.height}, synced by all four)`)

  const txs = cluster.diags(TXS)
  const batches: Array<typeof txs> = []
  for (let i = 0; i < txs.length; i += BATCH) batches.push(txs.slice(i, i + BATCH))
  const receipts = new Map<string, WireReceipt>()
  let killed = -1
  let killedAt = 0
  let resubmitted = 0
  const leaderNow = (): number => {
    // the leader the live nodes last announced ("view v, leader <id>"), else view 0's
    let id = toHex(members[0]!)
    for (const p of cluster.procs) for (const l of p?.lines ?? []) { const m = / view \d+, leader ([0-9a-f]{64})/.exec(l); if (m !== null) id = m[1]! }
    return members.findIndex((x) => toHex(x) === id)
  }
  const t0 = performance.now()
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < batches.length) {
      const k = next++
      const batch = batches[k]!
      for (let attempt = 0; ; attempt++) {
        const live = cluster.procs.map((p, i) => (p === null ? -1 : i)).filter((i) => i >= 0)
        const to = live[(k + attempt) % live.length]!
        try {
          const rs = await cluster.submit(to, batch)
          rs.forEach((r) => receipts.set(toHex(r.id), r))
          break
        } catch (err) {
          // the node died under the request (or was dead): the doctor resubmits elsewhere
          if (attempt >= 5) throw err
          resubmitted += batch.length
          await new Promise((resolve) => setTimeout(resolve, 200))
        }
      }
      if (killed < 0 && receipts.size >= TXS * 0.4) {
        killed = leaderNow()
        killedAt = receipts.size
        t.comment(`SIGKILL leader a${killed} after ${killedAt} receipts`)
        await cluster.kill(killed)
      }
    }
  }
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker))
  const secs = (performance.now() - t0) / 1000
  t.ok(killed >= 0, `the leader (a${killed}) was SIGKILLed mid-run`)

  const failed = [...receipts.values()].filter((r) => !r.ok)
  t.equal(receipts.size, TXS, 'a receipt for every tx_diag')
  t.equal(failed.length, 0, `every tx_diag committed; failures: ${failed.slice(0, 3).map((r) => (r.ok ? '' : `${r.code} ${r.reason}`)).join('; ')}`)
  // the doctor's own check: one certificate per Dblock, a Merkle branch per tx
  const certified = new Set<number>()
  let proofsOk = 0
  for (const tx of txs) {
    const r = receipts.get(toHex(txId(tx)))
    if (r?.ok !== true) continue
    if (!certified.has(r.height)) { verifyReceipt(r, tx, members); certified.add(r.height) }
    if (verifyMerkleProof(r.id, r.index, r.size, r.proof, r.header.diagroot)) proofsOk++
  }
  t.equal(proofsOk, TXS, `every receipt's Merkle branch leads to its certified Dblock (${certified.size} Dblocks)`)

  // the killed leader restarts on its log and address, and catches up by state transfer
  const restarted = await cluster.spawn(killed)
  await cluster.distributePeers([killed])
  const height = Math.max(...cluster.procs.map((p) => p?.committedHeight ?? 0))
  await until(() => restarted.committedHeight >= height, 60_000, `the restarted node reaching Dblock ${height}`)

  const chains = await cluster.stopAndRead()
  const tips = chains.map(tipHash)
  t.equal(new Set(tips).size, 1, `the four Docchains end at the same tip ${tips[0]!.slice(0, 16)}… (heights ${chains.map((ch) => ch.length).join(', ')})`)
  let certs = 0
  for (const ch of chains) for (const b of ch) { verifyCertificate(b, members); certs++ }
  t.equal(certs, chains.reduce((s, ch) => s + ch.length, 0), `every Dblock certificate verifies (${certs} on four nodes)`)
  const seen = new Map<string, number>()
  for (const b of chains[0]!) for (const x of b.txs) seen.set(toHex(x.id), (seen.get(toHex(x.id)) ?? 0) + 1)
  t.equal(seen.size, TXS, `${TXS} distinct tx_diag on Docchain`)
  t.equal([...seen.values()].filter((v) => v !== 1).length, 0, 'each committed exactly once')
  t.ok(txs.every((tx) => seen.has(toHex(txId(tx)))), 'every submitted tx_diag is there')
  t.ok(chains[0]!.some((b) => b.header.view > 0), `Dblocks after the kill come from a later view (last view ${chains[0]!.at(-1)!.header.view})`)
  const line = `pbft processes: ${TXS} tx_diag committed by 4 accounting processes in ${secs.toFixed(1)} s (${(TXS / secs).toFixed(0)} tx/s, leader a${killed} SIGKILLed after ${killedAt} receipts, ${resubmitted} resubmitted), ${chains[0]!.length} Dblocks, tip ${toHex(dblockHash(chains[0]!.at(-1)!.header)).slice(0, 16)}…`
  t.comment(line)
  console.log(`# ${line}`)
})

