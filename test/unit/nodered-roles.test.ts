/**
 * The role node types under node-red-node-test-helper (DESIGN §8): miner
 * (Alg. 1 control), keys (Alg. 3 grant/revoke), diagnose (doctor side,
 * Alg. 4), pbft submit (Docchain) and diagnosis in (user side) — each on its
 * happy path and with its failure reaching a Catch node. The runtimes are
 * real UserKeys / DoctorKeyTracker over the core, with in-process IPFS,
 * mempool and Docchain parts, and the AI analyzer of hub/src/ai.
 */
import t from 'tap'
import {
  buildTxIoT, contentDigest, openDiagnosis, sealBatch, toHex, txId, verifyTx, type TxDiag, type TxIoT, type TxKey
} from '../../hub/src/core/index.ts'
import { encodeBatch } from '../../hub/src/nodered/batcher.ts'
import { analyze } from '../../hub/src/ai/analyzer.ts'
import type { DiagnosisEvent, HealthchainRuntime, SensorReading } from '../../hub/src/nodered/runtime.ts'
import miner from '../../flows/nodes/lib/miner.ts'
import keysNode from '../../flows/nodes/lib/keys.ts'
import diagnose from '../../flows/nodes/lib/diagnose.ts'
import pbftSubmit from '../../flows/nodes/lib/pbft-submit.ts'
import diagnosisIn from '../../flows/nodes/lib/diagnosis-in.ts'
import { CATCH, collect, doctorRuntime, helper, loadFlow, next, reading, rng, userRuntime, type UserParts } from '../helpers/nodered.ts'
import { who } from '../helpers/core.ts'

type Caught = { error: { message: string, source: { id: string } } } & Record<string, unknown>
const doctor = who('nr-doctor')
const other = who('nr-other-doctor')

/** The user seals `readings` under the current epoch, uploads them and signs a tx_IoT, as the hub flow does. */
async function iotFor (u: UserParts, readings: SensorReading[]): Promise<TxIoT> {
  const e = u.keys.current!
  const sealed = sealBatch(e.ik, rng(12), u.rt.identity.id, e.epoch, encodeBatch(readings))
  await u.ipfs.upload(sealed)
  return buildTxIoT(u.rt.identity, { ts: u.rt.now(), heiot: contentDigest(sealed), epoch: e.epoch })
}

const desaturation = Array.from({ length: 10 }, (_, i) => reading('spo2', 86, i + 1))

t.test('miner: start, status follows blocks, stop; an unknown command goes to Catch', async (t) => {
  const u = await userRuntime()
  await loadFlow(t, [miner], [
    { id: 'n', type: 'healthchain-miner', z: 'f1', runtime: 'rt', command: 'status', wires: [['out']] }, { id: 'out', type: 'helper', z: 'f1' }, ...CATCH
  ], { hub: u.rt })
  let got = next('out')
  helper.getNode('n').receive({ payload: 'start' })
  t.same((await got).payload, { running: true, height: 0, mined: 0 })
  u.chain.mine()
  u.chain.mine()
  got = next('out')
  helper.getNode('n').receive({ topic: 'status' })
  t.same((await got).payload, { running: true, height: 2, mined: 2 })
  got = next('out')
  helper.getNode('n').receive({ payload: 'stop' })
  t.same((await got).payload, { running: false, height: 2, mined: 2 })
  t.equal(u.chain.status().running, false, 'the miner itself stopped')
  const caught = next('caught')
  helper.getNode('n').receive({ payload: 'mine harder' })
  t.match((await caught as Caught).error.message, /start, stop, status/)
})

t.test('keys: init, grant and revoke publish tx_keys into the mempool; revoking a stranger goes to Catch', async (t) => {
  const u = await userRuntime({ epoch: false, doctors: [doctor, other] })
  await loadFlow(t, [keysNode], [
    { id: 'n', type: 'healthchain-keys', z: 'f1', runtime: 'rt', action: 'grant', wires: [['out']] }, { id: 'out', type: 'helper', z: 'f1' }, ...CATCH
  ], { hub: u.rt })
  const out = collect('out')
  const n = helper.getNode('n')
  n.receive({ payload: { action: 'init' } })
  n.receive({ payload: toHex(doctor.id) }) // default action: grant
  n.receive({ payload: { action: 'revoke', doctor: toHex(doctor.id) } })
  const caught = next('caught')
  n.receive({ payload: { action: 'revoke', doctor: toHex(other.id) } })
  const c = await caught as Caught
  t.equal(c.error.source.id, 'n')
  t.match(c.error.message, /not granted|NotGranted/i)
  t.same(out.map((m) => [(m.payload as { action: string }).action, (m.payload as { epoch: number }).epoch, (m.payload as { doctors: string[] }).doctors]),
    [['init', 1, []], ['grant', 2, [toHex(doctor.id)]], ['revoke', 3, []]])
  const txs = out.map((m) => m.tx as TxKey)
  t.ok(txs.every((tx) => verifyTx(tx)), 'signed')
  t.same(u.chain.pending.map((tx) => toHex(txId(tx))), txs.map((tx) => toHex(txId(tx))), 'submitted in order')
  t.equal(u.keys.current?.epoch, 3)
  t.notSame(u.keys.epoch(3).ik, u.keys.epoch(2).ik, 'revocation made a fresh Ik')
  t.notSame(u.keys.epoch(2).ik, u.keys.epoch(1).ik, 'a grant (scope from-now, the default) seals a fresh Ik')
  const bad = next('caught')
  n.receive({ payload: { action: 'grant', doctor: 'zz' } })
  t.match((await bad as Caught).error.message, /msg\.payload\.doctor/)
})

t.test('diagnose → pbft submit: the doctor reads a granted batch, seals the analyzer\'s diagnosis, Docchain commits it; an ungranted epoch goes to Catch', async (t) => {
  const u = await userRuntime({ doctors: [doctor] })
  const grant = u.keys.grant(doctor.id)
  const d = doctorRuntime(doctor, u.ipfs, (readings) => analyze(readings))
  d.tracker.observe(grant)
  await loadFlow(t, [diagnose, pbftSubmit], [
    { id: 'n', type: 'healthchain-diagnose', z: 'f1', runtime: 'rt', wires: [['p', 'diag']] },
    { id: 'p', type: 'healthchain-pbft-submit', z: 'f1', runtime: 'rt', wires: [['out']] },
    { id: 'diag', type: 'helper', z: 'f1' }, { id: 'out', type: 'helper', z: 'f1' }, ...CATCH
  ], { hub: d.rt })
  const cause = await iotFor(u, desaturation)
  const diagMsg = next('diag')
  const committed = next('out')
  helper.getNode('n').receive({ payload: cause })
  const m = await diagMsg
  const tx = m.payload as TxDiag
  t.equal(tx.kind, 'diag')
  t.ok(verifyTx(tx))
  t.same(tx.causes, [txId(cause)], 'cites the tx_IoT')
  t.same(m.readings, desaturation, 'decrypted exactly the batch')
  t.equal((m.diagnosis as { findings: Array<{ code: string }> }).findings[0]?.code, 'hypoxaemia')
  // the user can open what the doctor sealed, with dk_ij from its own key history
  const dk = u.keys.diagnosisKey(grant.epoch, doctor.id)
  const opened = JSON.parse(new TextDecoder().decode(openDiagnosis(dk, doctor.id, txId(cause), await u.ipfs.get(m.cid as string))))
  t.same(opened, m.diagnosis)
  const c = await committed
  t.same(c.payload, { id: toHex(txId(tx)), height: 1, block: (c.payload as { block: string }).block })
  t.equal(d.docchain.committed.length, 1)

  // a human doctor's diagnosis in msg.diagnosis is sealed instead of the analyzer's
  const second = await iotFor(u, [reading('hr', 70, 20)])
  const human = next('diag')
  helper.getNode('n').receive({ payload: second, diagnosis: { note: 'seen, fine' } })
  t.same((await human).diagnosis, { note: 'seen, fine' })

  // revoke: the doctor holds no key for the new epoch
  d.tracker.observe(u.keys.revoke(doctor.id))
  const after = await iotFor(u, desaturation)
  const caught = next('caught')
  helper.getNode('n').receive({ payload: after })
  t.equal((await caught as Caught).error.source.id, 'n')
  // pbft submit refuses a forged tx_diag
  const forged = { ...tx, ts: tx.ts + 1 }
  const caught2 = next('caught')
  helper.getNode('p').receive({ payload: forged })
  const c2 = await caught2 as Caught
  t.equal(c2.error.source.id, 'p')
  t.match(c2.error.message, /signature/)
  t.equal(d.docchain.committed.length, 2, 'nothing forged committed')
})

t.test('diagnosis in: the user reads each committed diagnosis with dk_ij; one from an ungranted doctor goes to Catch', async (t) => {
  const u = await userRuntime({ doctors: [doctor] })
  const grant = u.keys.grant(doctor.id)
  const d = doctorRuntime(doctor, u.ipfs, (readings) => analyze(readings))
  d.tracker.observe(grant)
  const intruder = doctorRuntime(other, u.ipfs, () => ({ fake: true }))
  const subs: Array<(e: DiagnosisEvent) => void> = []
  const userRt: HealthchainRuntime = { ...u.rt, diagnoses: { subscribe: (cb) => { subs.push(cb); return () => { subs.splice(subs.indexOf(cb), 1) } } } }
  await loadFlow(t, [diagnose, diagnosisIn], [
    { id: 'rt-doc', type: 'healthchain-runtime', key: 'doctor' },
    { id: 'doc', type: 'healthchain-diagnose', z: 'f1', runtime: 'rt-doc', wires: [['dout']] }, { id: 'dout', type: 'helper', z: 'f1' },
    { id: 'n', type: 'healthchain-diagnosis-in', z: 'f1', runtime: 'rt', wires: [['out']] }, { id: 'out', type: 'helper', z: 'f1' }, ...CATCH
  ], { hub: userRt, doctor: d.rt })
  t.equal(subs.length, 1)
  const cause = await iotFor(u, desaturation)
  const made = next('dout')
  helper.getNode('doc').receive({ payload: cause })
  const tx = (await made).payload as TxDiag
  const got = next('out')
  subs[0]!({ tx, epoch: cause.epoch })
  const m = await got
  t.equal((m.payload as { severity: string }).severity, 'urgent')
  t.equal(m.doctor, toHex(doctor.id))
  t.same(m.causes, [toHex(txId(cause))])
  t.equal(m.id, toHex(txId(tx)))
  // by hand on the input too
  const got2 = next('out')
  helper.getNode('n').receive({ payload: { tx, epoch: cause.epoch } })
  t.equal((await got2).id, toHex(txId(tx)))
  // a doctor the user never granted: no dk_ij exists
  const { buildTxDiag } = await import('../../hub/src/core/index.ts')
  const fake = buildTxDiag(other, { ts: intruder.rt.now(), causes: [txId(cause)], hedm: contentDigest(Buffer.from('x')) })
  const caught = next('caught')
  subs[0]!({ tx: fake, epoch: cause.epoch })
  const c = await caught as Caught
  t.equal(c.error.source.id, 'n')
  t.equal((c.payload as { id: string }).id, toHex(txId(fake)))
})
