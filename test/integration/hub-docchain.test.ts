/**
 * A real hub (startHub, with its `docchain` config section) follows the
 * Docchain four accounting nodes commit over libp2p on loopback (paper
 * §IV-B3): it catches up to their height with every certificate verified,
 * and after a restart resumes from its position — only the Dblock committed
 * while it was down is read again. A diagnosis of the hub's user (a doctor
 * it granted, citing its tx_IoT, sealed with dk_ij and stored on a storage
 * node; §IV-B5) is listed on its patient page, and still is after a restart.
 */
import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import {
  buildTxDiag, buildTxIoT, equalBytes, NETWORKS, openAsDoctor, sealDiagnosis, sha256, solveUblockHeader, toHex, txId, utf8Bytes
} from '../../hub/src/core/index.ts'
import { startHub, type Hub } from '../../hub/src/hub.ts'
import { CoreNode } from '../../hub/src/roles/core/node.ts'
import { UserKeys } from '../../hub/src/roles/user/keys.ts'
import { openAdmission, StorageNode } from '../../hub/src/roles/storage/index.ts'
import { digestOfCid } from '../../hub/src/ipfs/index.ts'
import { analyze } from '../../hub/src/ai/analyzer.ts'
import { Client, trustCa } from '../helpers/http-client.ts'
import { hubConfigFollowing, startDocchainMembers } from '../helpers/docchain-members.ts'
import { who } from '../helpers/core.ts'

// Node-RED keeps a login-session expiry timer (one week) that RED.stop() does not clear
t.teardown(() => { setTimeout(() => { process.exit() }, 200).unref() })

const FAKE_STORAGE = '/ip4/127.0.0.1/tcp/1/p2p/12D3KooWNMghTXJunhDMmtDsALrNukYYKisBMyzrcDPfW6DeTino'

async function until (what: string, cond: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

t.test('the hub follows Docchain and resumes after a restart', { timeout: 110_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hub-docchain-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const m = await startDocchainMembers(dir, 'hub-dc')
  t.teardown(m.stop)
  const first = await Promise.all([0, 1].map(async (i) => await m.nodes[i]!.submit(m.diag())))
  t.ok(first.every((r) => r.ok), 'two tx_diag committed before the hub starts')
  const height = (): number => Math.max(...m.nodes.map((x) => x.height))

  const cfg = hubConfigFollowing(m, join(dir, 'hub'), FAKE_STORAGE, dir)
  const user = who('hub-dc-user')
  const lines: string[] = []
  let hub: Hub = await startHub(cfg, user, () => undefined, { log: (l) => lines.push(l) })
  let stopped = false
  t.teardown(async () => { if (!stopped) await hub.stop() })
  await until('the hub at the members\' height', () => (hub.docchain()?.height ?? 0) >= height())
  const s1 = hub.docchain()!
  t.equal(s1.height, height(), `the hub caught up to Dblock ${s1.height}`)
  t.equal(s1.refused, 0, `no Dblock refused (${lines.join('; ')})`)
  t.equal(s1.diagnoses, 0, 'none of them concerns this hub\'s user')

  await hub.stop()
  stopped = true
  const whileDown = await m.nodes[2]!.submit(m.diag())
  t.ok(whileDown.ok, 'a tx_diag committed while the hub is down')
  hub = await startHub(cfg, user, () => undefined, { log: (l) => lines.push(l) })
  stopped = false
  t.ok(hub.docchain()!.height >= s1.height, 'the restarted hub starts from its position, not from genesis')
  await until('the Dblock committed meanwhile', () => (hub.docchain()?.height ?? 0) >= height())
  const s2 = hub.docchain()!
  t.equal(s2.delivered, height() - s1.height, 'only the Dblocks committed while it was down were read')
  t.equal(s2.refused, 0, 'none refused')
})

t.test('the hub\'s patient page lists its user\'s certified diagnosis, also after a restart', { timeout: 110_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hub-diag-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const m = await startDocchainMembers(dir, 'hub-diag')
  t.teardown(m.stop)
  const storage = await StorageNode.create({ dataDir: join(dir, 'storage'), admission: openAdmission })
  t.teardown(async () => { await storage.stop() })
  const rng = (n: number): Uint8Array => new Uint8Array(randomBytes(n))
  const now = (): number => Math.floor(Date.now() / 1000)
  const user = who('hub-diag-user')
  const hubDir = join(dir, 'hub')

  // the user's Userchain as the hub finds it: a tx_key granting the doctor and a tx_IoT, mined
  const doctorKey = { id: m.doctor.id, x25519: m.doctor.agreement.publicKey }
  const keys = new UserKeys(user, { rng, now, directory: { lookup: (id) => (equalBytes(id, m.doctor.id) ? doctorKey : undefined) } })
  const core = await CoreNode.open({ dir: join(hubDir, 'userchain', 'devnet'), params: NETWORKS.devnet })
  const first = keys.init()
  const grant = keys.grant(m.doctor.id)
  const iot = buildTxIoT(user, { ts: now(), heiot: sha256(utf8Bytes('a sealed batch')), epoch: keys.current!.epoch })
  for (const tx of [first, grant, iot]) { const r = await core.submitTx(tx); t.ok(r.accepted, `${tx.kind} admitted${r.accepted ? '' : `: ${r.reason}`}`) }
  const tpl = core.template(user.id)
  const mined = await core.submitBlock({ header: solveUblockHeader(tpl.header, 100_000_000)!, txs: tpl.txs })
  t.ok(mined.accepted, 'mined into a Ublock')
  await core.close()

  // the doctor: dk_ij from its envelope, the diagnosis sealed and stored, tx_diag committed by the members
  const trace = Array.from({ length: 60 }, (_, i) => [{ t: 'spo2', v: 85 + (i % 2), ts: 1_790_000_000_000 + i * 10_000 }, { t: 'hr', v: 96, ts: 1_790_000_000_000 + i * 10_000 }]).flat()
  const diagnosis = analyze(trace)
  const sealed = sealDiagnosis(openAsDoctor(grant, m.doctor)!.dk, rng(12), m.doctor.id, txId(iot), utf8Bytes(JSON.stringify(diagnosis)))
  const hedm = digestOfCid(await storage.ipfs.put(sealed))
  const diag = buildTxDiag(m.doctor, { ts: now(), causes: [txId(iot)], hedm })
  m.accept(txId(iot))
  const other = await m.nodes[1]!.submit(m.diag())
  const receipt = await m.nodes[0]!.submit(diag)
  t.ok(other.ok && receipt.ok, 'the user\'s tx_diag and another patient\'s committed')

  const cfg = hubConfigFollowing(m, hubDir, storage.ipfs.multiaddrs[0]!.toString(), dir)
  const lines: string[] = []
  let hub: Hub = await startHub(cfg, user, () => undefined, { log: (l) => lines.push(l) })
  let stopped = false
  t.teardown(async () => { if (!stopped) await hub.stop() })
  const login = hub.logins.web!
  const page = async (): Promise<Array<{ htxd?: string }>> => {
    trustCa(hub.tls!.ca!) // over HTTPS, as a browser that imported the hub's CA
    const c = new Client(hub.urls.patient.replace(/\/$/, ''))
    await c.login(login.username, login.password)
    const r = await c.req('GET', '/api/patient')
    t.equal(r.status, 200)
    return (r.json() as { diagnoses: Array<{ htxd?: string }> }).diagnoses
  }
  await until('the diagnosis', () => (hub.docchain()?.diagnoses ?? 0) >= 1)
  const htxd = toHex(txId(diag))
  const shown = await page()
  t.equal(shown.length, 1, `the patient page lists one diagnosis (${lines.join('; ')})`)
  t.match(JSON.stringify(shown[0]), htxd, 'the user\'s certified tx_diag')

  await hub.stop()
  stopped = true
  hub = await startHub(cfg, user, () => undefined, { log: (l) => lines.push(l) })
  stopped = false
  t.equal(hub.docchain()!.diagnoses, 1, 'after a restart the diagnosis is read again from the Dblock kept for it')
  const again = await page()
  t.equal(again.length, 1, 'and the page lists it')
  t.match(JSON.stringify(again[0]), htxd)
})
