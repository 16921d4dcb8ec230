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
 * receipt; then an accounting node whose answers are lost after the commit:
 * the doctor takes the receipt from Docchain, which it follows (catch-up
 * from the member, certificate verified); run 3 neither analyses nor sends
 * anything. A human doctor queues both batches for review; after a restart
 * the queue is back without a new analysis, and the doctor signs one.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import {
  buildIdentityRecord, buildTxCoin, buildTxIoT, dblockProposal, DEVNET, encodeIdentityRecord, sealBatch, solveUblockHeader, toHex, txId, utf8Bytes,
  type DoctorKey, type Tx, type TxIoT
} from '../../hub/src/core/index.ts'
import { DoctorRegistry } from '../../hub/src/core/pbft/registry.ts'
import { CoreNode } from '../../hub/src/roles/core/node.ts'
import { CoreNet } from '../../hub/src/net/service.ts'
import { coreChain } from '../../hub/src/net/core-chain.ts'
import { AccountingNode } from '../../hub/src/roles/accounting/node.ts'
import { MemoryNetwork } from '../../hub/src/roles/accounting/transport.ts'
import { UserchainView } from '../../hub/src/roles/accounting/userchain-view.ts'
import { serveDiagSubmissions } from '../../hub/src/roles/accounting/diag-protocol.ts'
import { serveDocchain } from '../../hub/src/net/docchain.ts'
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

t.test('a doctor daemon that restarts analyses no batch twice, sends its pending tx_diag once and keeps its review queue', { timeout: 110_000 }, async (t) => {
  const dir = await tempDir(t, 'doctor-daemon')
  const patient = who('daemon-patient')
  const doctor = who('daemon-ai-doctor')
  const human = who('daemon-human-doctor')
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
  const directory = { lookup: (id: Uint8Array): DoctorKey | undefined => [doctor, human].map((d) => ({ id: d.id, x25519: d.agreement.publicKey })).find((k) => toHex(k.id) === toHex(id)) }
  const keys = new UserKeys(patient, { rng, now, directory })
  await mine(core, patient.id)
  await ok(keys.init())
  await ok(keys.grant(doctor.id))
  await ok(keys.grant(human.id))
  await ok(buildTxCoin(patient, { to: consortium.id, amount: 5 * DIAGNOSIS_PRICE, fee: 10, nonce: 0 }))
  await mine(core, patient.id)
  /** A desaturation episode (the AI doctor finds it urgent) sealed, stored, named by a tx_IoT and mined. */
  const batch = async (spo2: number): Promise<TxIoT> => {
    const readings = Array.from({ length: 60 }, (_, i) => [
      { t: 'spo2', v: spo2 + (i % 2), ts: 1_790_000_000_000 + i * 10_000 },
      { t: 'hr', v: 96 + (i % 3), ts: 1_790_000_000_000 + i * 10_000 }
    ]).flat()
    const e = keys.current!
    const sealed = sealBatch(e.ik, rng(12), patient.id, e.epoch, utf8Bytes(JSON.stringify(readings)))
    const heiot = digestOfCid((await uploadBatch(userIpfs, sealed, { storageNodes: [addr(storage)], replication: 1 })).cid)
    const tx = buildTxIoT(patient, { ts: now(), heiot, epoch: e.epoch })
    await ok(tx)
    await mine(core, patient.id)
    return tx
  }
  const iot = await batch(85)
  const htxI = toHex(txId(iot))

  // ---- Docchain: four accounting nodes (PBFT on an in-process transport), node 0 reachable over libp2p ----
  const view = new UserchainView(core.store)
  const credit = new CreditBook(core.store, consortium.id)
  const records = [doctor, human].map((d) => encodeIdentityRecord(buildIdentityRecord(d, DEVNET.genesisTime)))
  const registry = new DoctorRegistry({ members: [consortium.id], threshold: 1 }, records)
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

  const cfgFile = {
    dataDir: join(dir, 'doctor'),
    mode: 'ai',
    listen: ['/ip4/127.0.0.1/tcp/0'],
    userchain: { bootstrap: [ucNet.net.libp2p.getMultiaddrs()[0]!.toString()] },
    storageNodes: [addr(storage)],
    docchain: {
      members: members.map((m, i) => (i === 0 ? { id: toHex(m.id), addr: acctP2p.getMultiaddrs()[0]!.toString() } : { id: toHex(m.id) })),
      registry: { members: [toHex(consortium.id)], threshold: 1, doctors: records.map(toHex) },
      pollSeconds: 1
    },
    submit: { timeoutSeconds: 30, retrySeconds: 1 },
    consortium: toHex(consortium.id),
    http: { port: 0 }
  }
  const cfg = validateDoctorConfig(cfgFile)
  const run = async (label: string, c = cfg, identity = doctor): Promise<{ daemon: DoctorDaemon, events: DoctorEvent[] }> => {
    const events: DoctorEvent[] = []
    const daemon = await startDoctor(c, { identity, onEvent: (ev) => events.push(ev), log: (l) => { t.comment(`[${label}] ${l}`) } })
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

  // the accounting node now serves doctors, counting what it receives, and Docchain to any reader
  let loseAnswers = false
  await serveDiagSubmissions(acctP2p, async (tx) => {
    received.push(toHex(txId(tx)))
    const r = await accounting[0]!.submit(tx)
    if (loseAnswers) throw new Error('the answer is lost')
    return r
  })
  await serveDocchain(acctP2p, DEVNET.name, accounting[0]!)

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

  // ---- an answer lost after the commit: the receipt comes from Docchain ----
  loseAnswers = true
  const iot2 = await batch(84)
  const htxI2 = toHex(txId(iot2))
  const viaDocchain = await until('a receipt from Docchain', async () => (await r2.daemon.diagnoses()).find((d) => d.causes[0] === htxI2 && d.status === 'committed'))
  t.equal(viaDocchain.receipt?.from, 'docchain', 'taken from the certified Dblock the doctor followed')
  t.ok(received.includes(viaDocchain.htxd), 'it had been sent')
  let onDocchain = 0
  for (let h = 1; h <= accounting[0]!.height; h++) onDocchain += (await accounting[0]!.block(h))!.txs.filter((x) => toHex(x.id) === viaDocchain.htxd).length
  t.equal(onDocchain, 1, 'committed once, however often it was sent again')
  const st = await r2.daemon.status()
  t.match(st, { mode: 'ai', batches: { done: 2 }, diagnoses: { pending: 0, committed: 2, rejected: 0 }, docchain: { standing: 'active', refused: 0 } })
  t.ok(st.docchain.height >= 2, 'it follows Docchain')
  t.equal(JSON.parse(JSON.stringify(st)).doctor, toHex(doctor.id), 'the status is plain JSON')
  await r2.daemon.stop()
  const sentBefore = received.length

  // ---- run 3: the journal says everything is done ----
  const r3 = await run('run 3')
  t.equal((await r3.daemon.status()).batches.inProgress, 0, 'no batch taken up again')
  await until('Userchain synced', async () => ((await r3.daemon.status()).userchain.height >= core.store.tip.height ? true : undefined))
  t.equal(r3.events.filter((ev) => ev.type === 'diagnosed').length, 0, 'run 3 analysed nothing')
  t.equal(received.length, sentBefore, 'and sent nothing')
  t.same((await r3.daemon.diagnoses()).map((d) => d.status), ['committed', 'committed'])
  await r3.daemon.stop()

  // ---- a human doctor: its review queue survives a restart; the doctor signs through the service ----
  loseAnswers = false
  const cfgHuman = validateDoctorConfig({ ...JSON.parse(JSON.stringify(cfgFile)), dataDir: join(dir, 'doctor-human'), mode: 'human' })
  const h1 = await run('human 1', cfgHuman, human)
  await until('both batches queued', async () => ((await h1.daemon.queue()).length === 2 ? true : undefined))
  t.equal(h1.events.filter((ev) => ev.type === 'diagnosed').length, 2, 'each batch analysed once')
  t.same((await h1.daemon.diagnoses()), [], 'nothing signed without the doctor')
  await h1.daemon.stop()
  const h2 = await run('human 2', cfgHuman, human)
  const queue = await h2.daemon.queue()
  t.same(queue.map((q) => q.causes[0]).sort(), [htxI, htxI2].sort(), 'the queue is back after the restart')
  t.equal((await h2.daemon.status()).batches.inProgress, 0, 'nothing taken up again')
  const htxd = await h2.daemon.sign(queue[0]!.id, { note: 'reviewed' })
  const signed = await until('the signed diagnosis committed', async () => (await h2.daemon.diagnoses()).find((d) => d.htxd === htxd && d.status === 'committed'))
  t.same(signed.causes, [queue[0]!.id], 'it cites the reviewed batch')
  t.equal((await h2.daemon.queue()).length, 1, 'the other review still waits')
  t.equal(h2.events.filter((ev) => ev.type === 'diagnosed').length, 0, 'the restart analysed nothing')
  await h2.daemon.stop()
})
