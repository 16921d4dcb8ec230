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
 * Emergency access (README "Emergency access") through the daemon and
 * `healthchain doctor emergency`: a doctor without the role is refused; the
 * patient opts in (an escrowed rotation); the emergency doctor's malformed
 * epochs, unknown patient and unescrowed epoch are refused with clear
 * errors; its request commits, three accounting nodes release, and the
 * daemon reads the escrowed epoch's batch and nothing of the earlier ones,
 * signing no tx_diag; after a restart the access opens again from the kept
 * Dblocks.
 */
import t from 'tap'
import { join } from 'node:path'
import { toHex, txId } from '../../hub/src/core/index.ts'
import { startDoctor, type DoctorDaemon } from '../../hub/src/app/doctor.ts'
import type { DoctorEmergencyInfo } from '../../hub/src/app/doctor-emergency.ts'
import { doctorRoutes } from '../../hub/src/api/daemon-routes.ts'
import { startDaemonApi } from '../../hub/src/cli/_daemon.ts'
import { cli } from '../helpers/hub-process.ts'
import { Client } from '../helpers/http-client.ts'
import { validateDoctorConfig } from '../../hub/src/config/doctor.ts'
import type { DoctorEvent } from '../../hub/src/roles/doctor/doctor.ts'
import { tempDir } from '../helpers/ipfs.ts'
import { aiDoctor as doctor, doctorWorld, erDoctor, humanDoctor as human, patient, until } from '../helpers/doctor-world.ts'

t.test('a doctor daemon that restarts analyses no batch twice, sends its pending tx_diag once and keeps its review queue', { timeout: 160_000 }, async (t) => {
  const dir = await tempDir(t, 'doctor-daemon')
  const world = await doctorWorld(t, dir)
  const { accounting, received, core } = world
  const iot = await world.batch(85)
  const htxI = toHex(txId(iot))
  const cfgFile = { ...world.cfgFile, dataDir: join(dir, 'doctor'), mode: 'ai' }
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

  // the accounting node now serves doctors (counting what it receives) and Docchain to any reader
  await world.serve()

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
  world.loseAnswers = true
  const iot2 = await world.batch(84)
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
  world.loseAnswers = false
  const cfgHuman = validateDoctorConfig({ ...cfgFile, dataDir: join(dir, 'doctor-human'), mode: 'human' })
  const h1 = await run('human 1', cfgHuman, human)
  await until('both batches analysed', async () => (h1.events.filter((ev) => ev.type === 'diagnosed').length === 2 ? true : undefined))
  await until('the episode queued', async () => ((await h1.daemon.queue()).length === 1 ? true : undefined))
  t.same(h1.events.flatMap((ev) => ev.type === 'diagnosed' ? [ev.change] : []), ['opened', 'continuing'], 'each batch analysed once: one episode, the second batch continues it')
  t.same((await h1.daemon.diagnoses()), [], 'nothing signed without the doctor')
  await h1.daemon.stop()
  const h2 = await run('human 2', cfgHuman, human)
  const queue = await h2.daemon.queue()
  // the two batches are analysed concurrently: either may open the episode
  const opener = h1.events.flatMap((ev) => ev.type === 'diagnosed' && ev.change === 'opened' ? [ev.htxI] : [])
  t.ok(opener.length === 1 && [htxI, htxI2].includes(opener[0]!), 'one of the two batches opened it')
  t.same(queue.map((q) => q.causes[0]), opener, 'the queue is back after the restart: one review, for the episode')
  t.equal((await h2.daemon.status()).batches.inProgress, 0, 'nothing taken up again')
  const htxd = await h2.daemon.sign(queue[0]!.id, { note: 'reviewed' })
  const signed = await until('the signed diagnosis committed', async () => (await h2.daemon.diagnoses()).find((d) => d.htxd === htxd && d.status === 'committed'))
  t.same(signed.causes, [queue[0]!.id], 'it cites the reviewed batch')
  t.equal((await h2.daemon.queue()).length, 0, 'nothing else waits')
  t.equal(h2.events.filter((ev) => ev.type === 'diagnosed').length, 0, 'the restart analysed nothing')

  // ---- emergency access: the daemon's service, its control API and `healthchain doctor emergency` ----
  const patientHex = toHex(patient.id)
  await t.rejects(h2.daemon.emergency.request(patientHex, [3], 'found unconscious'), { code: 'ERR_NOT_EMERGENCY_DOCTOR', message: /without the emergency role/ }, 'a doctor without the emergency role is refused, with the reason')
  await h2.daemon.stop()
  const optIn = await world.keys.prepareEscrowed({ kind: 'rotate' }) // the patient opts in: this epoch is escrowed 3 of 4
  world.keys.apply(optIn)
  await world.publish(optIn)
  const iot4 = await world.batch(84)
  const cfgEr = validateDoctorConfig({ ...cfgFile, dataDir: join(dir, 'doctor-er'), mode: 'human' })
  const er = await run('emergency', cfgEr, erDoctor)
  let api = await startDaemonApi(cfgEr.dataDir, 'doctor', doctorRoutes(er.daemon), er.daemon.stop)
  await until('the emergency doctor synced', async () => ((await er.daemon.status()).userchain.height >= core.store.tip.height ? true : undefined))
  const ask = async (...args: string[]): Promise<{ code: number, stdout: string, stderr: string }> => await cli(['doctor', 'emergency', '--data-dir', cfgEr.dataDir, ...args], process.env)
  const malformed = await ask('--patient', patientHex, '--epochs', '1,x', '--reason', 'found unconscious')
  t.match(malformed, { code: 2, stderr: /"x" is not a key epoch/ }, 'malformed epochs: a usage error naming them')
  t.match(await ask('--patient', 'ab'.repeat(32), '--epochs', '1', '--reason', 'found unconscious'), { code: 1, stderr: /unknown patient/ }, 'an unknown patient')
  t.match(await ask('--patient', patientHex, '--epochs', '3', '--reason', 'found unconscious'), { code: 1, stderr: /epoch 3 carries no emergency escrow/ }, 'an epoch opened before the patient opted in')
  const asked = await ask('--patient', patientHex, '--epochs', String(optIn.epoch), '--reason', 'found unconscious', '--wait', '60', '--json')
  t.equal(asked.code, 0, `doctor emergency exits 0 ${asked.stderr}`)
  const access = JSON.parse(asked.stdout) as DoctorEmergencyInfo
  t.match(access, { status: 'open', patient: patientHex, epochs: [optIn.epoch], reason: 'found unconscious', threshold: 3 }, 'committed on Docchain, released, opened')
  t.ok(access.released.length >= 3, `${access.released.length} accounting nodes released`)
  t.same(access.batches.map((b) => [b.htxI, b.readings]), [[toHex(txId(iot4)), 120]], 'it read the escrowed epoch\'s batch, and none of the earlier epochs')
  t.ok(access.analysis !== undefined && ['urgent', 'emergency'].includes(access.analysis.severity), 'the analyzer read the desaturation')
  t.same(await er.daemon.diagnoses(), [], 'and signed no tx_diag: the access grants no diagnosis key')
  const listed = await cli(['doctor', 'emergencies', '--data-dir', cfgEr.dataDir], process.env)
  t.match(listed.stdout, new RegExp(`${access.id}\\n {2}patient +${patientHex}\\n(?:.*\\n)*? {2}status +open: \\d of 3 releases\\n {2}read +1 batch\\(es\\), 120 readings`), 'doctor emergencies lists it')
  t.match(listed.stdout, /reads, it does not diagnose/, 'and says the access does not diagnose')
  const web = new Client(er.daemon.pageUrl.replace(/\/$/, ''))
  const form = await web.req('GET', '/login')
  await web.req('POST', '/login', { _csrf: Client.token(form.text), username: er.daemon.login!.username, password: er.daemon.login!.password })
  const page = (await web.req('GET', '/doctor')).text
  t.match(page, new RegExp(`data-request="${access.id}">Patient <code title="${patientHex}">[^]*epochs ${optIn.epoch} · open: \\d of 3 releases<br>\\s*<q>found unconscious</q><br><small>1 batch\\(es\\), 120 readings read`), 'the doctor page lists the access and what it read')
  t.match(page, /it does not diagnose/, 'and that it does not diagnose')
  await api.close()
  await er.daemon.stop()
  // a restart: the releases are opened again from the Dblocks the follower kept (no Ik on disk)
  const er2 = await run('emergency 2', cfgEr, erDoctor)
  api = await startDaemonApi(cfgEr.dataDir, 'doctor', doctorRoutes(er2.daemon), er2.daemon.stop)
  const reopened = await until('the access open again', async () => (await er2.daemon.emergency.list()).find((a) => a.status === 'open' && a.batches.length === 1))
  t.equal(reopened.id, access.id, 'the same access, open again after the restart')
  await api.close()
  await er2.daemon.stop()
})
