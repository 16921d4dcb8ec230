/**
 * Attack pbft-vote-flood (Castro–Liskov §4.3 watermarks; DESIGN §5): a
 * Byzantine accounting node signs PREPARE, COMMIT and CHECKPOINT votes for
 * far views and sequence numbers, random digests, VIEW-CHANGEs for far views
 * and STATUS claims, and floods the other members with them. Votes were kept
 * per (view, digest) for every sequence number with no bound on views: every
 * such vote grew the others' memory. Real accounting nodes (LevelDB, PBFT
 * over the in-process transport): three honest members keep committing
 * while the fourth floods, and what each holds stays within the bounds
 * below, stated from the configuration (n = 4, window L, batch size).
 */
import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildIdentityRecord, buildTxDiag, encodeIdentityRecord, sha256, utf8Bytes, type TxDiag } from '../../hub/src/core/index.ts'
import { DoctorRegistry } from '../../hub/src/core/pbft/registry.ts'
import { signMessage } from '../../hub/src/core/pbft/envelope.ts'
import { commitCodec } from '../../hub/src/core/pbft/commit.ts'
import { prepareCodec } from '../../hub/src/core/pbft/prepare.ts'
import { checkpointCodec } from '../../hub/src/core/pbft/checkpoint.ts'
import { statusCodec } from '../../hub/src/core/pbft/fetch.ts'
import { viewChangeCodec } from '../../hub/src/core/pbft/view-change.ts'
import { AccountingNode } from '../../hub/src/roles/accounting/node.ts'
import { MemoryNetwork } from '../helpers/memory-network.ts'
import { GENESIS, ident, rng } from '../fuzz/pbft-sim.ts'

const replicas = [0, 1, 2, 3].map((i) => ident(`flood-replica-${i}`))
const members = replicas.map((r) => r.id)
const doctor = ident('flood-doctor')
const user = ident('flood-user')
const K = 4
const L = 16
const MAX_BATCH = 8
let n = 0
const diag = (): TxDiag => buildTxDiag(doctor, { ts: 1_790_000_000 + n, causes: [sha256(utf8Bytes(`flood-iot-${n})`))], hedm: sha256(utf8Bytes(`flood-dm-${n++}`)) })

t.test('pbft-vote-flood: a Byzantine member\'s votes for far views and sequence numbers do not grow the others\' memory', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pbft-vote-flood-'))
  const net = new MemoryNetwork()
  const nodes: AccountingNode[] = []
  for (let i = 0; i < 3; i++) {
    nodes.push(await AccountingNode.start({
      identity: replicas[i]!,
      members,
      genesis: GENESIS,
      dir: join(dir, `n${i}`),
      transport: net.join(replicas[i]!.id),
      registry: new DoctorRegistry({ members: [replicas[0]!.id], threshold: 1 }, [encodeIdentityRecord(buildIdentityRecord(doctor, 1))]),
      userchain: { iotTx: async () => ({ user: user.id, epoch: 1 }), epochReaders: async () => ({ envelopes: [doctor.id] }) },
      payments: { paid: async () => Infinity, price: 1 },
      replica: { checkpointInterval: K, window: L, maxBatch: MAX_BATCH, batchDelayMs: 2, requestTimeoutMs: 2000, viewChangeTimeoutMs: 2000 },
      tickMs: 5
    }))
  }
  t.teardown(async () => { for (const x of nodes) await x.stop(); await rm(dir, { recursive: true, force: true }) })
  const byz = net.join(replicas[3]!.id)
  byz.onMessage(() => {})
  const key = replicas[3]!.signing
  const r = rng(28)
  const big = (): number => Math.floor(r() * 1_000_000_000)
  const digest = (): Uint8Array => sha256(utf8Bytes(`junk-${r()}`))

  let sent = 0
  const flood = (count: number): void => {
    for (let i = 0; i < count; i++) {
      const near = r() < 0.5
      const view = near ? Math.floor(r() * 8) : big()
      const seq = near ? 1 + Math.floor(r() * 4 * L) : big()
      const kind = i % 5
      const m = kind === 0
        ? signMessage(commitCodec, { view, seq, digest: digest() }, key)
        : kind === 1
          ? signMessage(prepareCodec, { view, seq, digest: digest() }, key)
          : kind === 2
            ? signMessage(checkpointCodec, { seq: K * Math.floor(seq / K), digest: digest() }, key)
            : kind === 3
              ? signMessage(viewChangeCodec, { view: near ? view + 1 : big(), stableSeq: 0, stableDigest: digest(), checkpoints: [], prepared: [] }, key)
              : signMessage(statusCodec, { height: seq, view }, key)
      byz.send(null, m.bytes)
      sent++
    }
  }

  // The flood runs while the honest members order 240 tx_diag (many checkpoints: the window moves).
  let committed = 0
  for (let round = 0; round < 8; round++) {
    flood(2000)
    const receipts = await Promise.all(Array.from({ length: 30 }, async (_, i) => await nodes[i % 3]!.submit(diag())))
    committed += receipts.filter((x) => x.ok).length
  }
  t.equal(committed, 240, `the three honest members committed every tx_diag under the flood (${sent} junk messages)`)

  // Bounds, from the configuration: commit votes kept per seq in the window, one per member (n × L);
  // slots of the window only, each with at most one prepare and one commit per member; future-view
  // messages capped at 64·L·n; checkpoints at most n per checkpoint seq up to 4L ahead; view-changes
  // at most n per view up to 4n ahead; remembered tx ids those of the last two windows.
  const bound = { votes: 4 * L, slots: L, slotVotes: L * 2 * 4, future: 64 * L * 4, checkpoints: 4 * (4 * L / K + 1), viewChanges: 4 * (4 * 4 + 1), committedTx: 2 * L * MAX_BATCH + MAX_BATCH, ahead: 8 }
  for (const [i, x] of nodes.entries()) {
    const f = x.footprint()
    t.comment(`node ${i}: ${JSON.stringify(f)}`)
    for (const [k, max] of Object.entries(bound)) t.ok(f[k as keyof typeof f] <= max, `node ${i}: ${k} ${f[k as keyof typeof f]} ≤ ${max}`)
  }
  t.ok(nodes[0]!.height >= 240 / MAX_BATCH, 'many checkpoints passed')
})
