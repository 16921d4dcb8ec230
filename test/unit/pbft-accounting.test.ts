/**
 * Accounting-node role (roles/accounting): four nodes over the in-process
 * transport, each with its own LevelDB; doctors submit to any node and get a
 * committed, certified Dblock back — or the reason their tx_diag was refused
 * (malformed, bad signature, unregistered or suspended doctor, unknown htxI,
 * unpaid user). A stopped node restarts from its store and catches up.
 */
import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  buildIdentityRecord, buildTxDiag, encodeIdentityRecord, encodeTx, sha256, toHex, utf8Bytes, verifyCertificate, type Identity, type TxDiag
} from '../../hub/src/core/index.ts'
import { DoctorRegistry, signRegistryRecord } from '../../hub/src/core/pbft/registry.ts'
import { AccountingNode, blockHolds, type DiagReceipt } from '../../hub/src/roles/accounting/node.ts'
import { MemoryNetwork } from '../helpers/memory-network.ts'
import { GENESIS, ident } from '../fuzz/pbft-sim.ts'

const consortium = [ident('acc-c0'), ident('acc-c1'), ident('acc-c2')]
const doctors = { ok: ident('acc-doc-ok'), late: ident('acc-doc-late'), suspended: ident('acc-doc-susp'), stranger: ident('acc-doc-x') }
const users = { paid: ident('acc-user-paid'), unpaid: ident('acc-user-unpaid') }
const replicas = [0, 1, 2, 3].map((i) => ident(`acc-replica-${i}`))
const members = replicas.map((r) => r.id)

// Userchain as seen by the accounting nodes: htxI → the user who signed it.
const iot = new Map<string, Uint8Array>()
const htx = (label: string, user: Identity): Uint8Array => { const h = sha256(utf8Bytes(label)); iot.set(toHex(h), user.id); return h }
const causes = { paid: htx('iot-paid', users.paid), paid2: htx('iot-paid-2', users.paid), unpaid: htx('iot-unpaid', users.unpaid) }
let n = 0
const diag = (d: Identity, cause: Uint8Array): TxDiag => buildTxDiag(d, { ts: 1_790_000_000 + n++, causes: [cause], hedm: sha256(utf8Bytes(`dm-${n}`)) })

function registry (): DoctorRegistry {
  const rec = (d: Identity): Uint8Array => encodeIdentityRecord(buildIdentityRecord(d, 1))
  const reg = new DoctorRegistry({ members: consortium.map((c) => c.id), threshold: 2 }, [rec(doctors.ok), rec(doctors.suspended)])
  const two = [consortium[0]!.signing, consortium[2]!.signing]
  reg.apply(signRegistryRecord({ action: 'register', seq: 1, identity: rec(doctors.late) }, two))
  reg.apply(signRegistryRecord({ action: 'suspend', seq: 2, identity: rec(doctors.suspended) }, two))
  return reg
}

// A cause whose Userchain lookup fails (the store unreadable) rather than answering.
const poisoned = sha256(utf8Bytes('iot-unreadable'))

async function startNode (i: number, net: MemoryNetwork, dir: string, paid = async (u: Uint8Array): Promise<number> => toHex(u) === toHex(users.paid.id) ? Infinity : 0): Promise<AccountingNode> {
  return AccountingNode.start({
    identity: replicas[i]!,
    members,
    genesis: GENESIS,
    dir: join(dir, `n${i}`),
    transport: net.join(replicas[i]!.id),
    registry: registry(),
    userchain: {
      iotTx: async (h) => {
        if (toHex(h) === toHex(poisoned)) throw new Error('Userchain store unreadable')
        const u = iot.get(toHex(h))
        return u === undefined ? null : { user: u, epoch: 1 }
      },
      epochReaders: async () => ({ envelopes: Object.values(doctors).map((d) => d.id) })
    },
    payments: { paid, price: 1 },
    replica: { batchDelayMs: 2, requestTimeoutMs: 500, viewChangeTimeoutMs: 500, statusEveryMs: 200 },
    tickMs: 5
  })
}

t.test('accounting nodes: commit with certificates, reject bad input with a reason, restart', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pbft-acc-'))
  const net = new MemoryNetwork()
  const nodes = await Promise.all([0, 1, 2, 3].map((i) => startNode(i, net, dir)))
  t.teardown(async () => { for (const x of nodes) await x.stop(); await rm(dir, { recursive: true, force: true }) })

  // Valid: doctors registered at genesis and by a consortium record, paid users.
  const good = [diag(doctors.ok, causes.paid), diag(doctors.late, causes.paid2), diag(doctors.ok, causes.paid2)]
  const receipts = await Promise.all(good.map((tx, i) => nodes[(i + 1) % 4]!.submit(tx)))
  for (const [i, r] of receipts.entries()) {
    t.ok(r.ok, `tx ${i} committed`)
    if (!r.ok) continue
    t.ok(blockHolds(r.block, good[i]!), 'the receipt Dblock holds it')
    t.doesNotThrow(() => verifyCertificate(r.block, members), 'finality from the certificate alone')
  }
  const again = await nodes[0]!.submit(good[0]!)
  t.ok(again.ok && again.height === (receipts[0] as { height: number }).height, 'resubmitting answers with the same committed Dblock')

  const reject = async (tx: TxDiag | Uint8Array, code: string, why: RegExp, label: string): Promise<void> => {
    const r: DiagReceipt = await nodes[2]!.submit(tx)
    t.notOk(r.ok, `${label}: rejected`)
    if (!r.ok) { t.equal(r.code, code, `${label}: ${r.reason}`); t.match(r.reason, why) }
  }
  await reject(diag(doctors.stranger, causes.paid), 'ERR_UNREGISTERED_DOCTOR', /not registered/, 'unregistered doctor')
  await reject(diag(doctors.suspended, causes.paid), 'ERR_SUSPENDED_DOCTOR', /suspended/, 'suspended doctor')
  await reject(diag(doctors.ok, sha256(utf8Bytes('never-on-userchain'))), 'ERR_UNKNOWN_CAUSE', /no IoT transaction/, 'unknown htxI')
  await reject(diag(doctors.ok, causes.unpaid), 'ERR_UNPAID', /not paid/, 'unpaid user')
  await reject({ ...diag(doctors.ok, causes.paid), ts: 5 }, 'ERR_BAD_SIGNATURE', /signature/, 'tampered tx')
  const bytes = encodeTx(diag(doctors.ok, causes.paid))
  await reject(bytes.subarray(0, bytes.length - 1), 'ERR_MALFORMED_DIAG', /malformed/, 'truncated bytes')
  await reject(Uint8Array.of(...bytes, 0), 'ERR_MALFORMED_DIAG', /trailing/, 'trailing bytes')
  let threw: unknown = null
  try { await nodes[1]!.submitOrThrow(diag(doctors.stranger, causes.paid)) } catch (err) { threw = err }
  t.match(String(threw), /not registered/, 'submitOrThrow throws the reason')

  // Every node holds the same certified Docchain.
  const height = nodes[0]!.height
  t.ok(height >= 1)
  await new Promise((r) => setTimeout(r, 100))
  for (const x of nodes) {
    t.equal(x.height, height, 'same height everywhere')
    t.same(toHex(encodeTx((await x.block(height))!.txs[0]!.tx)), toHex(encodeTx((await nodes[0]!.block(height))!.txs[0]!.tx)))
  }

  // Restart node 3 from its LevelDB while the others commit more.
  await nodes[3]!.stop()
  const more = await nodes[1]!.submit(diag(doctors.late, causes.paid))
  t.ok(more.ok, 'three nodes still commit')
  nodes[3] = await startNode(3, net, dir)
  const after = await nodes[3]!.submit(diag(doctors.ok, causes.paid))
  t.ok(after.ok, 'the restarted node takes submissions again')
  const target = after.ok ? after.height : 0
  for (let i = 0; i < 200 && nodes[3]!.height < target; i++) await new Promise((r) => setTimeout(r, 10))
  t.equal(nodes[3]!.height, target, 'and caught up to the same height')
})

t.test('regression resubmit-executed: a tx_diag resubmitted to a node that already executed it gets its receipt, not "already committed"', async (t) => {
  // Seen in the 4-process test: the leader died after committing a batch and
  // before answering; the doctor resubmitted it to another node, which had
  // executed the Dblock and answered ERR_DIAG_REJECTED "already committed on
  // Docchain". (Then a node could execute a Dblock before its certificate
  // formed; since COMMIT votes are the certificate, executed means certified.)
  const dir = await mkdtemp(join(tmpdir(), 'pbft-acc-resubmit-'))
  const net = new MemoryNetwork()
  const nodes = await Promise.all([0, 1, 2, 3].map((i) => startNode(i, net, dir)))
  t.teardown(async () => { for (const x of nodes) await x.stop(); await rm(dir, { recursive: true, force: true }) })
  const tx = diag(doctors.ok, causes.paid)
  const first = await nodes[0]!.submit(tx)
  t.ok(first.ok, 'committed through node 0')
  const height = first.ok ? first.height : -1
  for (let i = 0; i < 500 && nodes.some((n) => n.height < height); i++) await new Promise((resolve) => setTimeout(resolve, 10))
  for (const i of [0, 3]) {
    const r = await nodes[i]!.submit(tx)
    t.ok(r.ok && r.height === height && blockHolds(r.block, tx), `node ${i} answers with the certified Dblock (${r.ok ? `height ${r.height}` : r.reason})`)
    if (r.ok) t.doesNotThrow(() => verifyCertificate(r.block, replicas.map((x) => x.id)), 'whose certificate checks')
  }
})

t.test('regression resubmit-committed-unpaid: a restarted node answers a resubmitted tx_diag that used up the user\'s credit with its receipt, not ERR_UNPAID', async (t) => {
  // Seen with the doctor daemon: its answer was lost, it resubmitted the same
  // bytes to a member that had restarted since; that commit had consumed the
  // patient's last credit, so the payment check (its cached verdict gone with
  // the restart) refused it as unpaid before the node looked in its log.
  const dir = await mkdtemp(join(tmpdir(), 'pbft-acc-unpaid-'))
  const net = new MemoryNetwork()
  let credit = true
  const paid = async (u: Uint8Array): Promise<number> => credit && toHex(u) === toHex(users.paid.id) ? Infinity : 0
  const nodes = await Promise.all([0, 1, 2, 3].map((i) => startNode(i, net, dir, paid)))
  t.teardown(async () => { for (const x of nodes) await x.stop(); await rm(dir, { recursive: true, force: true }) })
  const tx = diag(doctors.ok, causes.paid)
  const first = await nodes[0]!.submit(tx)
  t.ok(first.ok, 'committed through node 0')
  const height = first.ok ? first.height : -1
  for (let i = 0; i < 500 && nodes.some((n) => n.height < height); i++) await new Promise((resolve) => setTimeout(resolve, 10))
  credit = false // that diagnosis was the user's last prepaid one
  await nodes[3]!.stop()
  nodes[3] = await startNode(3, net, dir, paid)
  const again = await nodes[3].submit(tx)
  t.ok(again.ok && again.height === height && blockHolds(again.block, tx), `the restarted node answers with the certified Dblock (${again.ok ? `height ${again.height}` : `${again.code}: ${again.reason}`})`)
  const fresh = await nodes[3].submit(diag(doctors.ok, causes.paid2))
  t.ok(!fresh.ok && fresh.code === 'ERR_UNPAID', 'a new tx_diag of that user is still refused as unpaid')
})

t.test('regression check-throws-hangs-group: a tx_diag whose Userchain check throws is answered with the reason, and the submissions checked with it still commit', async (t) => {
  // A check that threw used to abort the node's whole group of inputs: every
  // submission in it waited for its answer until the doctor's timeout, and
  // the PBFT messages in it were dropped.
  const dir = await mkdtemp(join(tmpdir(), 'pbft-acc-throws-'))
  const net = new MemoryNetwork()
  const nodes = await Promise.all([0, 1, 2, 3].map((i) => startNode(i, net, dir)))
  t.teardown(async () => { for (const x of nodes) await x.stop(); await rm(dir, { recursive: true, force: true }) })
  const good = [diag(doctors.ok, causes.paid), diag(doctors.late, causes.paid2)]
  const [a, bad, b] = await Promise.all([nodes[1]!.submit(good[0]!), nodes[1]!.submit(diag(doctors.ok, poisoned)), nodes[1]!.submit(good[1]!)])
  t.notOk(bad!.ok, 'the unreadable one is refused')
  if (!bad!.ok) { t.equal(bad!.code, 'ERR_CHECK_FAILED'); t.match(bad!.reason, /could not check .* Userchain store unreadable/) }
  t.ok(a!.ok && b!.ok, 'the others of the same group commit')
})
