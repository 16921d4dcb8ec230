/**
 * The devnet end to end (issues "Doctor nodes …" and "`npm start` devnet"):
 * a real oximeter sketch on a virtual board publishes over MQTT; the hub's
 * Node-RED flow seals, uploads and records the readings; the AI doctor
 * diagnoses the desaturation episode; four accounting nodes commit it with a
 * certificate; the patient reads an urgent diagnosis citing its own
 * confirmed tx_IoT; Healthcoin moves user → consortium → doctor.
 */
import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildIdentityRecord, buildTxReg, encodeIdentityRecord, identityFromSeed, sha256, toHex, txId, utf8Bytes } from '../../hub/src/core/index.ts'
import { startDevnet } from '../../hub/src/devnet.ts'
import { DIAGNOSIS_PRICE } from '../../hub/src/roles/consortium/credit.ts'

t.plan(1)
// Node-RED keeps a session timer after stop: this process must end explicitly (see hub/src/nodered/embed.ts)
t.teardown(() => { setTimeout(() => { process.exit() }, 200).unref() })

t.test('desaturation → urgent diagnosis on Docchain → the patient reads it; Healthcoin follows', { timeout: 280_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hc-devnet-'))
  const lines: string[] = []
  const net = await startDevnet({ dataDir: dir, port: 0, episodeSeconds: 5, log: (l) => { lines.push(l) } })
  t.teardown(async () => { await net.stop(); await rm(dir, { recursive: true, force: true }) })
  t.match(net.urls.patient, /^http:\/\/127\.0\.0\.1:\d+\/$/, 'pages on loopback')
  t.ok(net.logins.web?.password !== undefined && net.logins.editor?.password !== undefined, 'first start creates the logins')

  await net.diagnosed(1)
  const d = net.reader.diagnoses[0]!
  t.equal(d.diagnosis.severity, 'urgent', `the desaturation is urgent (${d.diagnosis.findings.map((f) => f.text).join('; ')})`)
  t.ok(d.diagnosis.findings.some((f) => f.code === 'hypoxaemia'), 'hypoxaemia found')
  t.equal(d.doctor, toHex(net.doctors.ai.id), 'by the AI doctor')
  const cause = d.causes[0]!
  t.equal(toHex(cause.user), toHex(net.user.id), 'the cause is the patient\'s own tx_IoT')
  t.same(d.diagnosis.causes, [toHex(txId(cause))], 'the diagnosis cites that htxI')
  t.ok(net.core.store.txLocation(txId(cause)) !== undefined, 'and it is confirmed on Userchain')

  // Healthcoin: the user prepaid, one price per committed diagnosis was consumed and is owed to the doctor
  const s = await net.credit.state(net.user.id)
  t.ok(s.paid > 0, `the user prepaid ${s.paid}`)
  t.equal(s.consumed, net.reader.diagnoses.length * DIAGNOSIS_PRICE, 'credit consumed = price × committed diagnoses')
  t.equal(net.credit.earned(net.doctors.ai.id), net.reader.diagnoses.filter((x) => x.doctor === toHex(net.doctors.ai.id)).length * DIAGNOSIS_PRICE)
  const deadline = Date.now() + 60_000
  while (net.core.store.account(net.doctors.ai.id).balance === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250))
  const doctorBalance = net.core.store.account(net.doctors.ai.id).balance
  t.ok(doctorBalance > 0 && doctorBalance % DIAGNOSIS_PRICE === 0, `the consortium settled with the doctor on Userchain (${doctorBalance})`)
  t.ok(doctorBalance <= net.credit.earned(net.doctors.ai.id), 'never more than earned')
  const paidNow = await net.credit.paid(net.user.id)
  const balances = [net.core.store.account(net.consortium.id).balance, net.core.store.account(net.doctors.ai.id).balance, net.core.store.account(net.doctors.human.id).balance]
  t.equal(balances[0]! + balances[1]! + balances[2]!, paidNow, 'consortium holds what the user paid less what it settled with the doctors')
  t.notOk(lines.some((l) => /refused its own|ERR_|not confirmed/.test(l)), 'no errors in the devnet log')

  // The doctor registry is Docchain's: a consortium REGISTER record commits, and the patient's directory then has the doctor's X25519 key.
  const newcomer = identityFromSeed(sha256(utf8Bytes('devnet-e2e-newcomer')))
  t.equal(net.registry.lookup(newcomer.id), undefined, 'an unregistered doctor is not in the directory')
  const rec = buildTxReg({ action: 'register', seq: net.registry.seq + 1, identity: encodeIdentityRecord(buildIdentityRecord(newcomer, 1)) }, [net.consortium.signing])
  const r = await net.submitRecord(rec)
  t.ok(r.ok, `REGISTER committed on Docchain${r.ok ? ` in Dblock ${r.height}` : `: ${r.reason}`}`)
  for (let i = 0; i < 200 && net.registry.lookup(newcomer.id) === undefined; i++) await new Promise((resolve) => setTimeout(resolve, 25))
  t.equal(toHex(net.registry.lookup(newcomer.id)?.x25519 ?? new Uint8Array(0)), toHex(newcomer.agreement.publicKey), 'the directory\'s X25519 key comes from the committed record')
})
