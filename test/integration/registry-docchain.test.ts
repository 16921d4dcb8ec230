/**
 * The doctor registry ON Docchain (issue #8: "genesis doctors and
 * consortium-signed register/suspend records (m-of-n consortium signatures);
 * the X25519 key of each doctor comes from it"). Four accounting nodes, each
 * with its own LevelDB, over the in-process transport: a REGISTER record
 * (TxReg) is ordered by PBFT and the new doctor's tx_diag then commits; a
 * SUSPEND record stops the doctor's next tx_diag, with the reason; a tx_diag
 * ordered after a SUSPEND — in flight or in the same Dblock — is refused;
 * replayed, out-of-sequence, under-signed and outsider-signed records are
 * refused; a restarted node and a reader re-derive the same registry from the
 * Docchain alone. The replica-level ordering rule is checked on one backup
 * fed a Byzantine leader's pre-prepares.
 */
import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  buildIdentityRecord, buildTxDiag, buildTxReg, dblockHash, dblockProposal, encodeIdentityRecord, encodeTx, equalBytes, sha256, toHex, utf8Bytes,
  verifyCertificate, type DocTx, type Identity, type TxDiag, type TxReg
} from '../../hub/src/core/index.ts'
import { DocchainRegistry, DoctorRegistry, registryFromDocchain } from '../../hub/src/core/pbft/registry.ts'
import { Replica } from '../../hub/src/core/pbft/replica.ts'
import { decodeMessage } from '../../hub/src/core/pbft/messages.ts'
import { signMessage } from '../../hub/src/core/pbft/envelope.ts'
import { prePrepareBody, prePrepareCodec } from '../../hub/src/core/pbft/pre-prepare.ts'
import { AccountingNode, blockHolds, type DiagReceipt } from '../../hub/src/roles/accounting/node.ts'
import { MemoryNetwork } from '../helpers/memory-network.ts'
import { checkDiagSync } from '../../hub/src/roles/accounting/validate.ts'
import { GENESIS, ident } from '../fuzz/pbft-sim.ts'

const consortium = [ident('reg-c0'), ident('reg-c1'), ident('reg-c2')]
const outsider = ident('reg-mallory')
const doctors = { genesis: ident('reg-doc-genesis'), newcomer: ident('reg-doc-new'), other: ident('reg-doc-other') }
const user = ident('reg-user')
const replicas = [0, 1, 2, 3].map((i) => ident(`reg-replica-${i}`))
const members = replicas.map((r) => r.id)
const rec = (d: Identity, ts = 1): Uint8Array => encodeIdentityRecord(buildIdentityRecord(d, ts))
const genesisRegistry = new DoctorRegistry({ members: consortium.map((c) => c.id), threshold: 2 }, [rec(doctors.genesis)])
const two = [consortium[0]!.signing, consortium[2]!.signing]

const causes = new Set<string>()
let n = 0
function diag (d: Identity): TxDiag {
  const cause = sha256(utf8Bytes(`reg-cause-${n}`))
  causes.add(toHex(cause))
  return buildTxDiag(d, { ts: 1_790_000_000 + n++, causes: [cause], hedm: sha256(utf8Bytes(`reg-dm-${n}`)) })
}

async function startNode (i: number, net: MemoryNetwork, dir: string): Promise<AccountingNode> {
  return await AccountingNode.start({
    identity: replicas[i]!,
    members,
    genesis: GENESIS,
    dir: join(dir, `n${i}`),
    transport: net.join(replicas[i]!.id),
    registry: genesisRegistry,
    userchain: { iotTx: async (h) => (causes.has(toHex(h)) ? { user: user.id, epoch: 1 } : null), epochReaders: async () => ({ envelopes: Object.values(doctors).map((d) => d.id) }) },
    payments: { paid: async () => Infinity, price: 1 },
    replica: { batchDelayMs: 20, requestTimeoutMs: 1000, viewChangeTimeoutMs: 1000, statusEveryMs: 200 },
    tickMs: 5
  })
}

async function until (cond: () => boolean, ms = 10_000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 10))) if (cond()) return true
  return cond()
}

t.test('registry records on Docchain: register, suspend, ordering, refusals, restart', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'reg-docchain-'))
  const net = new MemoryNetwork()
  const nodes = await Promise.all([0, 1, 2, 3].map(async (i) => await startNode(i, net, dir)))
  t.teardown(async () => { for (const x of nodes) await x.stop(); await rm(dir, { recursive: true, force: true }) })

  const committed = (r: DiagReceipt, tx: DocTx, label: string): number => {
    t.ok(r.ok, `${label}: committed${r.ok ? ` in Dblock ${r.height}` : ` — refused: ${r.code} ${r.reason}`}`)
    if (!r.ok) return -1
    t.ok(blockHolds(r.block, tx), `${label}: the receipt Dblock holds it`)
    t.doesNotThrow(() => verifyCertificate(r.block, members), `${label}: certified by 2f+1`)
    return r.height
  }
  const refused = (r: DiagReceipt, code: RegExp, why: RegExp, label: string): void => {
    t.notOk(r.ok, `${label}: refused`)
    if (!r.ok) { t.match(r.code, code, `${label}: code ${r.code}`); t.match(r.reason, why, `${label}: ${r.reason}`) }
  }
  const everywhere = async (h: number): Promise<void> => { t.ok(await until(() => nodes.every((x) => x.height >= h)), `every node at height ≥ ${h}`) }

  // ---- register via Docchain → the new doctor's tx_diag commits
  refused(await nodes[0]!.submit(diag(doctors.newcomer)), /ERR_UNREGISTERED_DOCTOR/, /not registered/, 'tx_diag before registration')
  const register = buildTxReg({ action: 'register', seq: 1, identity: rec(doctors.newcomer) }, two)
  const h1 = committed(await nodes[1]!.submit(register), register, 'REGISTER seq 1')
  await everywhere(h1)
  for (const [i, x] of nodes.entries()) {
    t.equal(x.registry.status(doctors.newcomer.id), 'active', `node ${i}: the newcomer is registered`)
    t.ok(equalBytes(x.registry.x25519(doctors.newcomer.id)!, doctors.newcomer.agreement.publicKey), `node ${i}: its X25519 key comes from the record`)
  }
  const first = diag(doctors.newcomer)
  committed(await nodes[2]!.submit(first), first, 'the newcomer\'s tx_diag')

  // ---- refused records: replayed, out of sequence, too few signatures, a non-member's signature, a forged identity
  const again = await nodes[3]!.submit(register)
  t.ok(again.ok && again.height === h1, 'the same record again answers with its committed Dblock (applied once)')
  const replay = buildTxReg({ action: 'register', seq: 1, identity: rec(doctors.newcomer) }, [consortium[0]!.signing, consortium[1]!.signing])
  refused(await nodes[0]!.submit(replay), /ERR_REGISTRY_RECORD/, /seq: expected 2, got 1/, 'a replayed seq (other signers, so another tx)')
  refused(await nodes[0]!.submit(buildTxReg({ action: 'register', seq: 3, identity: rec(doctors.other) }, two)), /ERR_REGISTRY_RECORD/, /seq: expected 2, got 3/, 'out of sequence')
  refused(await nodes[1]!.submit(buildTxReg({ action: 'register', seq: 2, identity: rec(doctors.other) }, [consortium[1]!.signing])), /ERR_REGISTRY_RECORD/, /1 valid signer\(s\), 2 required/, 'one signature of a 2-of-3 consortium')
  refused(await nodes[2]!.submit(buildTxReg({ action: 'register', seq: 2, identity: rec(doctors.other) }, [consortium[1]!.signing, outsider.signing])), /ERR_REGISTRY_RECORD/, /not a consortium member/, 'a non-member\'s signature')
  const forgedId = rec(doctors.other).slice(); forgedId[forgedId.length - 1]! ^= 1
  refused(await nodes[3]!.submit(buildTxReg({ action: 'register', seq: 2, identity: forgedId }, two)), /ERR_REGISTRY_RECORD/, /sig/, 'a forged identity record')
  const tampered = { ...buildTxReg({ action: 'register', seq: 2, identity: rec(doctors.other) }, two), action: 'suspend' as const }
  refused(await nodes[0]!.submit(encodeTx(tampered)), /ERR_REGISTRY_RECORD/, /does not verify|not registered/, 'signatures bind the action')
  t.equal(nodes[0]!.registry.seq, 1, 'nothing refused was applied')

  // ---- suspend via Docchain → the doctor's next tx_diag is refused with the reason
  const suspend = buildTxReg({ action: 'suspend', seq: 2, identity: rec(doctors.newcomer) }, two)
  const h2 = committed(await nodes[0]!.submit(suspend), suspend, 'SUSPEND seq 2')
  await everywhere(h2)
  refused(await nodes[1]!.submit(diag(doctors.newcomer)), /ERR_SUSPENDED_DOCTOR/, /suspended by the consortium/, 'tx_diag after the SUSPEND committed')
  t.equal(nodes[2]!.registry.lookup(doctors.newcomer.id), undefined, 'a suspended doctor is no longer a directory entry')

  // ---- order matters: a tx_diag submitted right behind a SUSPEND of its doctor (both pending together) is refused
  const suspendGenesis = buildTxReg({ action: 'suspend', seq: 3, identity: rec(doctors.genesis) }, two)
  const behind = diag(doctors.genesis)
  const [rs, rd] = await Promise.all([nodes[0]!.submit(suspendGenesis), nodes[0]!.submit(behind)])
  committed(rs, suspendGenesis, 'SUSPEND seq 3 of the genesis doctor')
  refused(rd, /ERR_SUSPENDED_DOCTOR|ERR_DIAG_REJECTED/, /suspended/, 'its tx_diag ordered behind the SUSPEND')
  const all = async (x: AccountingNode): Promise<Array<{ kind: string, id: string }>> => {
    const out = []
    for (let h = 1; h <= x.height; h++) out.push(...(await x.block(h))!.txs.map((b) => ({ kind: b.tx.kind, id: toHex(b.id) })))
    return out
  }
  await everywhere(nodes[0]!.height)
  const txs = await all(nodes[0]!)
  t.notOk(txs.some((x) => x.id === toHex(sha256(encodeTx(behind)))), 'that tx_diag is on no Dblock')
  t.same(txs.filter((x) => x.kind === 'reg').length, 3, 'three records on Docchain')

  // ---- re-registration by a newer identity record (a new X25519 key), then a tx_diag commits again
  const rotated = { ...doctors.newcomer, agreement: ident('reg-doc-new-rotated').agreement }
  const reReg = buildTxReg({ action: 'register', seq: 4, identity: encodeIdentityRecord(buildIdentityRecord(rotated, 2)) }, [consortium[1]!.signing, consortium[2]!.signing])
  const h4 = committed(await nodes[2]!.submit(reReg), reReg, 'REGISTER seq 4 with a newer identity record')
  await everywhere(h4)
  const back = diag(doctors.newcomer)
  committed(await nodes[3]!.submit(back), back, 'the re-registered doctor\'s tx_diag')

  // ---- restart: node 3 re-derives the same registry from its Docchain; a reader does the same from node 0's blocks
  await nodes[3]!.stop()
  nodes[3] = await startNode(3, net, dir)
  const tip = nodes[0]!.height
  t.ok(await until(() => nodes[3]!.height >= tip), 'the restarted node is back at the tip')
  const view = (r: DoctorRegistry): string => JSON.stringify({ seq: r.seq, list: r.list().map((e) => [toHex(e.record.id), toHex(e.record.x25519), e.status]).sort() })
  t.equal(view(nodes[3]!.registry), view(nodes[0]!.registry), 'restarted node: the same registry')
  const reader = await registryFromDocchain(genesisRegistry, tip, async (h) => await nodes[1]!.block(h))
  t.equal(view(reader), view(nodes[0]!.registry), 'a reader folding the certified Dblocks: the same registry')
  t.ok(equalBytes(reader.lookup(doctors.newcomer.id)!.x25519, rotated.agreement.publicKey), 'the reader\'s X25519 key is the re-registered one')
  t.equal(reader.status(doctors.genesis.id), 'suspended')
  t.equal(genesisRegistry.seq, 0, 'the genesis registry given to the nodes is untouched')
  const follower = new DocchainRegistry(genesisRegistry)
  for (let h = 1; h <= tip; h++) follower.onDblock((await nodes[2]!.block(h))!)
  t.equal(view(follower.registry), view(reader), 'a follower fed block by block agrees')
  t.throws(() => follower.onDblock({ header: { index: tip + 2 }, txs: [] }), /expected Dblock/, 'a gap is an error')
})

t.test('replica: a backup refuses a Dblock whose tx_diag follows a SUSPEND of its doctor (same Dblock or in flight)', async (t) => {
  const keys = [0, 1, 2, 3].map((i) => ident(`reg-order-${i}`))
  const ids = keys.map((k) => k.id)
  const backup = (): { replica: Replica, reg: () => DoctorRegistry } => {
    const reg = genesisRegistry.clone()
    const replica = new Replica({
      key: keys[1]!.signing,
      members: ids,
      genesis: GENESIS,
      validate: (tx, before) => checkDiagSync(tx, reg.after(before.map((b) => b.tx as TxReg)))?.message ?? null,
      onExecute: (b) => { reg.applyDblock(b) }
    })
    return { replica, reg: () => reg }
  }
  const pp = (seq: number, prehash: Uint8Array, txs: DocTx[]): Uint8Array => {
    const b = dblockProposal({ index: seq, gtime: GENESIS.header.gtime, prehash, view: 0, leader: ids[0]!, txs })
    return signMessage(prePrepareCodec, prePrepareBody(0, b), keys[0]!.signing).bytes
  }
  const kinds = (actions: ReturnType<Replica['receive']>): string[] => actions.flatMap((a) => a.type === 'send' ? [decodeMessage(a.bytes).kind] : [])
  const genesisHash = dblockHash(GENESIS.header)
  const suspend = buildTxReg({ action: 'suspend', seq: 1, identity: rec(doctors.genesis) }, two)
  const register = buildTxReg({ action: 'register', seq: 1, identity: rec(doctors.newcomer) }, two)

  let r = backup()
  t.same(kinds(r.replica.receive(pp(1, genesisHash, [diag(doctors.genesis), suspend]), 1)), ['prepare'], 'tx_diag then SUSPEND: prepared')
  r = backup()
  t.same(kinds(r.replica.receive(pp(1, genesisHash, [suspend, diag(doctors.genesis)]), 1)), ['view-change'], 'SUSPEND then tx_diag in one Dblock: refused, view change')
  r = backup()
  t.same(kinds(r.replica.receive(pp(1, genesisHash, [register, diag(doctors.newcomer)]), 1)), ['prepare'], 'REGISTER then the newcomer\'s tx_diag in one Dblock: prepared')
  r = backup()
  t.same(kinds(r.replica.receive(pp(1, genesisHash, [diag(doctors.newcomer), register]), 1)), ['view-change'], 'the newcomer\'s tx_diag before its REGISTER: refused')
  r = backup()
  const first = pp(1, genesisHash, [suspend])
  t.same(kinds(r.replica.receive(first, 1)), ['prepare'], 'SUSPEND alone in Dblock 1: prepared')
  const d1 = decodeMessage(first)
  const h1 = d1.kind === 'pre-prepare' ? d1.body.digest : genesisHash
  t.same(kinds(r.replica.receive(pp(2, h1, [diag(doctors.genesis)]), 2)), ['view-change'], 'its doctor\'s tx_diag in Dblock 2 while Dblock 1 is in flight: refused')
  r = backup()
  t.same(kinds(r.replica.receive(pp(1, genesisHash, [suspend, buildTxReg({ action: 'suspend', seq: 1, identity: rec(doctors.genesis) }, [consortium[1]!.signing, consortium[2]!.signing])]), 1)), ['view-change'], 'two records with the same seq in one Dblock: refused')
  t.equal(r.reg().seq, 0, 'nothing executed')
})
