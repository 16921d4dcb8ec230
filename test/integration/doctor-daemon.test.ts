/**
 * The doctor node as its own daemon (app/doctor.ts) on loopback, with real
 * parts: it follows a devnet Userchain over libp2p from a core node, fetches
 * the patient's sealed batch from a Helia storage node, analyses it (AI
 * mode), uploads its sealed diagnosis and submits the tx_diag over
 * /healthchain/diag/2.0.0 to an accounting node (four AccountingNodes running
 * PBFT, one of them reachable over libp2p), journalling in LevelDB.
 * Restart: run 1 analyses the batch and signs a tx_diag while no accounting
 * node answers the diag protocol, then stops; run 2 on the same data dir
 * analyses nothing, sends the same tx_diag bytes once and keeps the verified
 * receipt; run 3 neither analyses nor sends anything.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import {
  buildIdentityRecord, buildTxCoin, buildTxIoT, dblockProposal, DEVNET, encodeIdentityRecord, sealBatch, solveUblockHeader, toHex, txId, utf8Bytes,
  type DoctorKey, type Tx
} from '../../hub/src/core/index.ts'
import { DoctorRegistry } from '../../hub/src/core/pbft/registry.ts'
import { CoreNode } from '../../hub/src/roles/core/node.ts'
import { CoreNet } from '../../hub/src/net/service.ts'
import { coreChain } from '../../hub/src/net/core-chain.ts'
import { AccountingNode } from '../../hub/src/roles/accounting/node.ts'
import { MemoryNetwork } from '../../hub/src/roles/accounting/transport.ts'
import { UserchainView } from '../../hub/src/roles/accounting/userchain-view.ts'
import { serveDiagSubmissions } from '../../hub/src/roles/accounting/diag-protocol.ts'
import { CreditBook, DIAGNOSIS_PRICE } from '../../hub/src/roles/consortium/credit.ts'
import { UserKeys } from '../../hub/src/roles/user/keys.ts'
import { createIpfsLibp2p, digestOfCid, uploadBatch } from '../../hub/src/ipfs/index.ts'
import { startDoctor, type DoctorDaemon } from '../../hub/src/app/doctor.ts'
import { validateDoctorConfig } from '../../hub/src/config/doctor.ts'
import type { DoctorEvent } from '../../hub/src/roles/doctor/doctor.ts'
import { addr, ipfsNode, storageNode, tempDir } from '../helpers/ipfs.ts'
import { who } from '../helpers/core.ts'

const rng = (n: number): Uint8Array => new Uint8Array(randomBytes(n))
const now = (): number => Math.floor(Date.now() / 1000) - 5

async function mine (core: CoreNode, to: Uint8Array): Promise<void> {
  const tpl = core.template(to)
  let header = null
  for (let nonce = 0; header === null; nonce += 1_000_000) header = solveUblockHeader({ ...tpl.header, nonce }, 1_000_000)
  const r = await core.submitBlock({ header, txs: tpl.txs })
  if (!r.accepted) throw new Error(`mined block rejected: ${r.reason}`)
}

async function until<T> (what: string, probe: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const v = await probe()
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

t.test('a doctor daemon that restarts analyses no batch twice and sends its pending tx_diag once', { timeout: 110_000 }, async (t) => {
  const dir = await tempDir(t, 'doctor-daemon')
  const patient = who('daemon-patient')
  const doctor = who('daemon-ai-doctor')
  const consortium = who('daemon-consortium')
  const members = [0, 1, 2, 3].map((i) => who(`daemon-accounting-${i}`))

  // ---- Userchain (a core node on libp2p) and a storage node ----
  const storage = await storageNode(t, join(dir, 'storage'))
  const userIpfs = await ipfsNode(t, join(dir, 'user-ipfs'))
  const core = await CoreNode.open({ dir: join(dir, 'userchain'), params: DEVNET, verifyThreads: 1 })
  t.teardown(async () => { await core.close() })
  const ucNet = await CoreNet.start({ chain: coreChain(core), params: DEVNET, listen: ['/ip4/127.0.0.1/tcp/0'] })
  t.teardown(async () => { await ucNet.stop() })
  const ok = async (tx: Tx): Promise<void> => { const r = await core.submitTx(tx); if (!r.accepted) throw new Error(`Userchain refused a ${tx.kind}: ${r.reason}`) }
  const directory = { lookup: (id: Uint8Array): DoctorKey | undefined => (toHex(id) === toHex(doctor.id) ? { id: doctor.id, x25519: doctor.agreement.publicKey } : undefined) }
  const keys = new UserKeys(patient, { rng, now, directory })
  await mine(core, patient.id)
  await ok(keys.init())
  await ok(keys.grant(doctor.id))
  await ok(buildTxCoin(patient, { to: consortium.id, amount: 5 * DIAGNOSIS_PRICE, fee: 10, nonce: 0 }))
  await mine(core, patient.id)
  // a desaturation episode: the AI doctor finds it urgent
  const readings = Array.from({ length: 60 }, (_, i) => [
    { t: 'spo2', v: 85 + (i % 2), ts: 1_790_000_000_000 + i * 10_000 },
    { t: 'hr', v: 96 + (i % 3), ts: 1_790_000_000_000 + i * 10_000 }
  ]).flat()
  const e = keys.current!
  const sealed = sealBatch(e.ik, rng(12), patient.id, e.epoch, utf8Bytes(JSON.stringify(readings)))
  const heiot = digestOfCid((await uploadBatch(userIpfs, sealed, { storageNodes: [addr(storage)], replication: 1 })).cid)
  const iot = buildTxIoT(patient, { ts: now(), heiot, epoch: e.epoch })
  await ok(iot)
  await mine(core, patient.id)
  const htxI = toHex(txId(iot))

  // ---- Docchain: four accounting nodes (PBFT on an in-process transport), node 0 reachable over libp2p ----
  const view = new UserchainView(core.store)
  const credit = new CreditBook(core.store, consortium.id)
  const registry = new DoctorRegistry({ members: [consortium.id], threshold: 1 }, [encodeIdentityRecord(buildIdentityRecord(doctor, DEVNET.genesisTime))])
  const genesis = dblockProposal({ index: 0, gtime: DEVNET.genesisTime, prehash: new Uint8Array(32), view: 0, leader: new Uint8Array(32), txs: [] })
  const mem = new MemoryNetwork()
  const accounting: AccountingNode[] = []
  for (let i = 0; i < 4; i++) {
    const node = await AccountingNode.start({
      identity: members[i]!,
      members: members.map((m) => m.id),
      genesis,
      dir: join(dir, `accounting-${i}`),
      transport: mem.join(members[i]!.id),
      registry,
      userchain: { iotTx: async (h) => { const u = await view.userOf(h); return u === null ? null : { user: u } } },
      payments: { hasPaid: async (u) => await credit.hasPaid(u) }
    })
    accounting.push(node)
    t.teardown(async () => { await node.stop() })
  }
  const acctP2p = await createIpfsLibp2p({ listen: ['/ip4/127.0.0.1/tcp/0'] })
  t.teardown(async () => { await acctP2p.stop() })
  const received: string[] = []

  const cfg = validateDoctorConfig({
    dataDir: join(dir, 'doctor'),
    mode: 'ai',
    listen: ['/ip4/127.0.0.1/tcp/0'],
    userchain: { bootstrap: [ucNet.net.libp2p.getMultiaddrs()[0]!.toString()] },
    storageNodes: [addr(storage)],
    accounting: {
      members: members.map((m, i) => (i === 0 ? { id: toHex(m.id), addr: acctP2p.getMultiaddrs()[0]!.toString() } : { id: toHex(m.id) })),
      timeoutSeconds: 30,
      retrySeconds: 1
    },
    consortium: toHex(consortium.id),
    http: { port: 0 }
  })
  const run = async (label: string): Promise<{ daemon: DoctorDaemon, events: DoctorEvent[] }> => {
    const events: DoctorEvent[] = []
    const daemon = await startDoctor(cfg, { identity: doctor, onEvent: (ev) => events.push(ev), log: (l) => { t.comment(`[${label}] ${l}`) } })
    t.teardown(async () => { await daemon.stop() })
    return { daemon, events }
  }

  // ---- run 1: the batch is analysed and its tx_diag signed, but no accounting node answers yet ----
  const r1 = await run('run 1')
  t.ok(r1.daemon.login !== undefined, 'the first start makes the page login')
  const pending = await until('a signed tx_diag sent at least once', async () => (await r1.daemon.diagnoses()).find((d) => d.sent > 0))
  t.equal(pending.status, 'pending', 'no receipt while the diag protocol is not served')
  t.same(pending.causes, [htxI], 'it cites the batch')
  t.equal(pending.severity, 'urgent')
  t.equal(r1.events.filter((ev) => ev.type === 'diagnosed').length, 1, 'run 1 analysed the batch once')
  t.same((await r1.daemon.patients()).map((p) => p.user), [toHex(patient.id)], 'its patient, from the tx_key on Userchain')
  await r1.daemon.stop()

  // the accounting node now serves doctors, counting what it receives
  await serveDiagSubmissions(acctP2p, async (tx) => { received.push(toHex(txId(tx))); return await accounting[0]!.submit(tx) })

  // ---- run 2: nothing analysed again; the same tx_diag sent once, its receipt verified and kept ----
  const r2 = await run('run 2')
  t.equal((await r2.daemon.status()).batches.inProgress, 0, 'its stored Userchain replayed: no batch taken up again')
  t.equal(r2.daemon.login, undefined, 'the login is shown only on the start that made it')
  const done = await until('the receipt', async () => (await r2.daemon.diagnoses()).find((d) => d.status === 'committed'))
  t.equal(done.htxd, pending.htxd, 'the same tx_diag (same bytes, same id)')
  t.same(received, [pending.htxd], 'the accounting node received it once')
  t.equal(r2.events.filter((ev) => ev.type === 'diagnosed').length, 0, 'run 2 analysed nothing')
  t.ok(done.receipt !== undefined && done.receipt.signatures >= 3 && done.receipt.height >= 1, 'receipt with 2f+1 commit signatures')
  const b = await accounting[0]!.block(done.receipt!.height)
  t.same(b?.txs.map((x) => toHex(x.id)), [pending.htxd], 'the Dblock holds that tx_diag')
  // what a resubmission after a lost answer relies on: the accounting nodes dedupe by tx id
  const again = await accounting[1]!.submit(b!.txs[0]!.bytes)
  t.match(again, { ok: true, height: done.receipt!.height }, 'the same tx_diag sent to another member: its receipt, not a second commit')
  const st = await r2.daemon.status()
  t.match(st, { mode: 'ai', batches: { done: 1 }, diagnoses: { pending: 0, committed: 1, rejected: 0 } })
  t.equal(JSON.parse(JSON.stringify(st)).doctor, toHex(doctor.id), 'the status is plain JSON')
  await r2.daemon.stop()

  // ---- run 3: the journal says everything is done ----
  const r3 = await run('run 3')
  t.equal((await r3.daemon.status()).batches.inProgress, 0, 'no batch taken up again')
  await until('Userchain synced', async () => ((await r3.daemon.status()).userchain.height >= core.store.tip.height ? true : undefined))
  t.equal(r3.events.filter((ev) => ev.type === 'diagnosed').length, 0, 'run 3 analysed nothing')
  t.same(received, [pending.htxd], 'and sent nothing')
  t.equal((await r3.daemon.diagnoses())[0]?.status, 'committed')
  await r3.daemon.stop()
})
