/**
 * Liveness regressions of the PBFT replica found running accounting nodes as
 * processes over libp2p on a loaded machine (issue "Docchain: PBFT …"), each
 * pinned on the seeded simulated network of test/fuzz/pbft-sim.ts.
 */
import t from 'tap'
import { Sim, txPool } from '../fuzz/pbft-sim.ts'
import { until } from '../integration/ingest-helpers.ts'

t.test('regression: view-change storm when one commit round takes longer than the request timeout', async (t) => {
  // Seen with four loaded processes: every new view's leader needed more than
  // requestTimeoutMs to get a Dblock through, the backups' request timer
  // restarted at the base timeout in each new view, so they changed view
  // again and again and nothing committed for minutes. Castro–Liskov §4.4:
  // the timeout doubles on each view change until a request executes.
  const sim = new Sim({ seed: 11, n: 4, gst: 1e12, maxDelay: 400, replica: { requestTimeoutMs: 100, viewChangeTimeoutMs: 100, batchDelayMs: 5 } })
  const txs = txPool(8)
  txs.forEach((tx, i) => sim.submit(tx, i % 4, i * 7))
  const ok = sim.run(() => sim.submittedAt.size === txs.length && sim.allCommitted(), 120_000)
  const views = Math.max(...sim.nodes.map((x) => x.replica.view))
  t.ok(ok, `all ${txs.length} tx_diag committed with message delays up to 4× the request timeout (view reached ${views}, virtual time ${sim.now} ms)`)
  t.equal(sim.safety, null, 'no safety violation')
  t.ok(views < 12, `the view-change timer backed off (${views} views, not a storm)`)
})

t.test('regression: a PBFT batch whose libp2p request failed was dropped, not sent again', async (t) => {
  // Seen over libp2p under load: batch requests timed out ("no answer within
  // 5000 ms") and every message in them was lost, so replicas waited for
  // retransmission timers or changed view. Now a batch whose write fails goes
  // out once more on a new stream, ahead of newer messages; a second failure
  // drops it (counted).
  const { PeerLink, decodeBatch } = await import('../../hub/src/roles/accounting/libp2p-transport.ts')
  const delivered: number[] = []
  let opened = 0
  let writes = 0
  const errors: string[] = []
  const link = new PeerLink(async () => {
    opened++
    let open = true
    return {
      writable: () => open,
      write: async (body) => {
        writes++
        if (writes === 1) { open = false; throw new Error('stream reset') } // the first write fails
        for (const m of decodeBatch(body)) delivered.push(m[0]!)
      },
      abort: () => { open = false }
    }
  }, (err) => { errors.push(err.message) })
  link.push(Uint8Array.of(1))
  link.push(Uint8Array.of(2))
  await new Promise((resolve) => setTimeout(resolve, 20))
  t.same(delivered.sort(), [1, 2], 'both messages arrive although the first write failed')
  t.ok(link.resent >= 1, `${link.resent} message(s) sent again`)
  t.equal(opened, 2, 'on a second stream')
  t.same(errors, ['stream reset'], 'the failure is reported')

  const never = new PeerLink(async () => ({ writable: () => true, write: async () => { throw new Error('reset') }, abort: () => {} }))
  never.push(Uint8Array.of(3))
  await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal(never.size, 0, 'a message failing twice is dropped (no endless retry to a dead peer)')

  // A peer that cannot be reached: the link dials it again and again, and
  // waits longer each time. The waits are checked from below only (50 ms
  // doubling: a timer never fires early, a loaded machine only makes them
  // longer); how soon it redials is a figure of bench/lifecycle.ts.
  const dials: number[] = []
  const down = new PeerLink(async () => { dials.push(performance.now()); throw new Error('connection refused') })
  down.push(Uint8Array.of(4))
  await until(() => dials.length >= 4, 30_000, 'four dials of a peer that refuses')
  const waits = dials.slice(1, 4).map((d, i) => d - dials[i]!)
  t.ok(waits.every((w, i) => w >= 50 * 2 ** i - 1), `dialled again with a doubling backoff (waits ${waits.map((w) => w.toFixed(0)).join(', ')} ms, at least 50, 100, 200)`)
  t.equal(down.size, 1, 'its messages wait (bounded by MAX_QUEUED)')
  down.close()
})
