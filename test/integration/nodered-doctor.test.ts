/**
 * The shipped doctor flow (flows/doctor.json; paper Alg. 4, DESIGN §8) in
 * the embedded Node-RED: a granted user's new tx_IoT is diagnosed by the AI
 * analyzer, sealed with dk_ij, stored, and its tx_diag committed on
 * Docchain; a doctor's own diagnosis POSTed to the flow's HTTP endpoint is
 * committed the same way — only with the login (basic auth) — and a tx_IoT
 * the doctor holds no key for gets an error answer. The user opens both
 * diagnoses with its own keys.
 */
import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildTxIoT, cidStringFromDigest, contentDigest, encodeTx, openDiagnosis, sealBatch, toHex, txId, verifyTx, type TxIoT } from '../../hub/src/core/index.ts'
import { analyze } from '../../hub/src/ai/analyzer.ts'
import { encodeBatch } from '../../hub/src/nodered/batcher.ts'
import { startNodeRed } from '../../hub/src/nodered/embed.ts'
import type { HealthchainRuntime, SensorReading } from '../../hub/src/nodered/runtime.ts'
import { doctorRuntime, reading, rng, userRuntime, type UserParts } from '../helpers/nodered-runtime.ts'
import { who } from '../helpers/core.ts'

t.plan(1)
t.teardown(() => { setTimeout(() => { process.exit() }, 200).unref() })

async function iotFor (u: UserParts, readings: SensorReading[]): Promise<TxIoT> {
  const e = u.keys.current!
  const sealed = sealBatch(e.ik, rng(12), u.rt.identity.id, e.epoch, encodeBatch(readings))
  await u.ipfs.upload(sealed)
  return buildTxIoT(u.rt.identity, { ts: u.rt.now(), heiot: contentDigest(sealed), epoch: e.epoch })
}

async function until (cond: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 20_000
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

t.test('doctor flow: watched batches and POSTed diagnoses become committed tx_diag the user can read', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hc-nodered-doctor-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const doctor = who('nodered-doctor-flow')
  const u = await userRuntime({ label: 'nodered-doctor-patient', doctors: [doctor] })
  const grant = u.keys.grant(doctor.id)
  const d = doctorRuntime(doctor, u.ipfs, (readings) => analyze(readings))
  d.tracker.observe(grant)
  const subs: Array<(tx: TxIoT) => void> = []
  const rt: HealthchainRuntime = { ...d.rt, iotTxs: { subscribe: (cb) => { subs.push(cb); return () => { subs.splice(subs.indexOf(cb), 1) } } } }
  const red = await startNodeRed({ dataDir: dir, flow: 'doctor', runtimes: { doctor: rt }, port: 0, print: () => {}, logLevel: 'error' })
  t.teardown(async () => { await red.stop() })
  t.equal(subs.length, 1, 'the diagnose node watches new tx_IoT')

  // watched: a desaturation batch
  const low = await iotFor(u, Array.from({ length: 10 }, (_, i) => reading('spo2', 86, i + 1)))
  subs[0]!(low)
  await until(() => d.docchain.committed.length === 1, 'the first tx_diag to commit')
  const first = d.docchain.committed[0]!
  t.ok(verifyTx(first))
  t.same(first.causes, [txId(low)])
  const dk = u.keys.diagnosisKey(grant.epoch, doctor.id)
  const opened = JSON.parse(new TextDecoder().decode(openDiagnosis(dk, doctor.id, txId(low), await u.ipfs.get(cidStringFromDigest(first.hedm)))))
  t.equal(opened.findings[0].code, 'hypoxaemia', 'the user reads the AI diagnosis')

  // the desaturation goes on: the same episode, no tx_diag for it; it worsens: one
  const more = await iotFor(u, Array.from({ length: 10 }, (_, i) => reading('spo2', 86, i + 20)))
  const worse = await iotFor(u, Array.from({ length: 10 }, (_, i) => reading('spo2', 80, i + 40)))
  subs[0]!(more)
  subs[0]!(worse)
  await until(() => d.docchain.committed.length === 2, 'the worsening\'s tx_diag to commit')
  t.same(d.docchain.committed[1]!.causes, [txId(worse)], 'a batch that only continues the episode is not diagnosed again; its worsening is')
  const openedWorse = JSON.parse(new TextDecoder().decode(openDiagnosis(dk, doctor.id, txId(worse), await u.ipfs.get(cidStringFromDigest(d.docchain.committed[1]!.hedm)))))
  t.equal(openedWorse.episode.id, opened.episode.id, 'one episode: the worsening names the episode the first diagnosis opened')
  t.equal(openedWorse.episode.change, 'worsened')

  // POSTed by a human doctor: login required
  const second = await iotFor(u, [reading('hr', 70, 30)])
  const url = `${red.origin}/red/api/diagnose`
  const body = JSON.stringify({ tx: toHex(encodeTx(second)), diagnosis: { note: 'reviewed: normal sinus rhythm' } })
  const anon = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
  t.equal(anon.status, 401, 'no login, no diagnosis')
  const wrong = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Basic ' + Buffer.from(`${red.created!.username}:nope`).toString('base64') }, body })
  t.equal(wrong.status, 401, 'wrong password refused')
  t.equal(d.docchain.committed.length, 2, 'nothing committed without login')
  const login = 'Basic ' + Buffer.from(`${red.created!.username}:${red.created!.password}`).toString('base64')
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: login }, body })
  t.equal(res.status, 200)
  const receipt = await res.json() as { id: string, height: number }
  t.equal(d.docchain.committed.length, 3)
  const tx2 = d.docchain.committed[2]!
  t.equal(receipt.id, toHex(txId(tx2)))
  t.equal(receipt.height, 3)
  const opened2 = JSON.parse(new TextDecoder().decode(openDiagnosis(dk, doctor.id, txId(second), await u.ipfs.get(cidStringFromDigest(tx2.hedm)))))
  t.same(opened2, { note: 'reviewed: normal sinus rhythm' })

  // revoked: the doctor holds no key for the next epoch; the HTTP caller hears why
  d.tracker.observe(u.keys.revoke(doctor.id))
  const third = await iotFor(u, [reading('hr', 71, 31)])
  const refused = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: login }, body: JSON.stringify({ tx: toHex(encodeTx(third)) }) })
  t.equal(refused.status, 422)
  t.match(await refused.text(), /epoch|grant/i)
  t.equal(d.docchain.committed.length, 3)
})
