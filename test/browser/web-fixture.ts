/**
 * A patient hub and two doctors in one process, with the real roles (paper
 * Alg. 2–4): UserKeys with real identities publishing real tx_keys, sealed
 * batches named by real tx_IoTs, an AI DoctorNode and a human DoctorNode
 * fed the Userchain transactions, Dblocks built with dblockProposal and
 * certified by 3 of 4 accounting signatures (signCommit), and a
 * PatientReader verifying them. Content addressing is an in-memory map by
 * SHA-256 (the IPFS layer is tested in test/integration/ipfs-*). The web
 * server runs the pages over the models of hub/src/web/adapt.ts.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  buildTxCoin, buildTxIoT, contentDigest, dblockHash, dblockProposal, decodeTx, encodeTx, identityFromSeed, sealBatch, sha256, signCommit, toHex, txId, utf8Bytes,
  type Dblock, type DoctorKey, type Identity, type Tx, type TxDiag, type TxIoT, type TxKey
} from '../../hub/src/core/index.ts'
import { UserKeys } from '../../hub/src/roles/user/keys.ts'
import { PatientReader, type PatientDiagnosis } from '../../hub/src/roles/user/diagnoses.ts'
import { DoctorNode, type DoctorEvent } from '../../hub/src/roles/doctor/doctor.ts'
import { doctorModel, patientModel } from '../../hub/src/web/adapt.ts'
import { openAlerts } from '../../hub/src/app/alerts.ts'
import { AlertsSettingsBody, CHANNELS } from '../../hub/src/alerts/settings.ts'
import { parseWith, z } from '../../hub/src/config/schema.ts'
import type { DeviceView, DoctorModel, DoctorView, PatientModel, PaymentView, ReadingView } from '../../hub/src/web/model.ts'
import { createWebServer, type WebServer, type WebServerOptions } from '../../hub/src/web/server.ts'
import { loadOrCreateTls } from '../../hub/src/store/tls.ts'
import { trustCa } from '../helpers/http-client.ts'

const rng = (n: number): Uint8Array => new Uint8Array(randomBytes(n))
const who = (label: string): Identity => identityFromSeed(sha256(utf8Bytes(`web-fixture:${label}`)))

export const T0 = 1_790_000_000_000

/** One reading every 10 s per type: SpO2 and heart rate (normal unless given). */
export function trace (from: number, n: number, spo2: number, hr: number): ReadingView[] {
  return Array.from({ length: n }, (_, i) => [
    { device: 'ox-1', type: 'spo2', value: spo2 + (i % 2), unit: '%', at: from + i * 10_000 },
    { device: 'ox-1', type: 'hr', value: hr + (i % 3), unit: '/min', at: from + i * 10_000 }
  ]).flat()
}

export interface Fixture {
  readonly user: Identity
  readonly ai: Identity
  readonly human: Identity
  readonly spare: Identity
  readonly keys: UserKeys
  readonly reader: PatientReader
  readonly aiNode: DoctorNode
  readonly humanNode: DoctorNode
  readonly patient: PatientModel
  readonly doctor: DoctorModel
  readonly readings: ReadingView[]
  readonly published: TxKey[]
  readonly committed: Dblock[]
  readonly events: DoctorEvent[]
  readonly state: { balance: number }
  /** Seals readings as one batch, names it in a tx_IoT and puts it on the (simulated) chain. */
  publishBatch: (readings: readonly ReadingView[]) => Promise<TxIoT>
  /** Secrets that must never reach a browser, as hex. */
  secrets: () => string[]
}

export function makeFixture (): Fixture {
  const user = who('patient')
  const ai = who('ai-doctor')
  const human = who('human-doctor')
  const spare = who('spare-doctor')
  const acct = [who('acc0'), who('acc1'), who('acc2'), who('acc3')]
  const registry: DoctorView[] = [
    { id: toHex(ai.id), name: 'Dr. AI' },
    { id: toHex(human.id), name: 'Dr. Ada Human' },
    { id: toHex(spare.id), name: 'Dr. Spare' }
  ]
  const ids = [ai, human, spare]
  const directory = { lookup: (id: Uint8Array): DoctorKey | undefined => { const d = ids.find((x) => toHex(x.id) === toHex(id)); return d === undefined ? undefined : { id: d.id, x25519: d.agreement.publicKey } } }
  let clock = 1_790_000_000
  const keys = new UserKeys(user, { rng, now: () => clock++, directory })
  const blobs = new Map<string, Uint8Array>()
  const put = async (b: Uint8Array): Promise<Uint8Array> => { const d = contentDigest(b); blobs.set(toHex(d), b); return d }
  const get = async (d: Uint8Array): Promise<Uint8Array> => {
    const b = blobs.get(toHex(d))
    if (b === undefined) throw new Error(`no content ${toHex(d)}`)
    return b
  }
  const own = new Map<string, TxIoT>()
  const reader = new PatientReader(keys, { ownIoT: (h) => own.get(toHex(h)), fetch: get, accountingNodes: () => acct.map((a) => a.id) })
  const committed: Dblock[] = []
  const found: PatientDiagnosis[] = []
  // the accounting nodes: one Dblock per tx_diag with a certificate of 3 of 4 (PBFT itself is tested in pbft-*)
  const submit = async (tx: TxDiag): Promise<void> => {
    const prev = committed[committed.length - 1]
    const p = dblockProposal({ index: committed.length + 1, gtime: clock, prehash: prev === undefined ? new Uint8Array(32) : dblockHash(prev.header), view: 0, leader: acct[0]!.id, txs: [tx] })
    const block: Dblock = { ...p, cert: acct.slice(0, 3).map((a) => signCommit(a.signing, p.header, 0)) }
    committed.push(block)
    found.push(...await reader.onDblock(block))
  }
  const events: DoctorEvent[] = []
  const io = { fetch: get, upload: put, submit, hasPaid: async () => true, now: () => clock, rng }
  // episode timing compressed: one normal batch closes an episode
  const aiNode = new DoctorNode(ai, io, { mode: 'ai', episodes: { recoveryMs: 0 }, onEvent: (e) => events.push(e) })
  const humanNode = new DoctorNode(human, io, { mode: 'human', episodes: { recoveryMs: 0 }, onEvent: (e) => events.push(e) })
  const seen: TxIoT[] = []
  const chain = async (tx: Tx): Promise<void> => {
    const wire = decodeTx(encodeTx(tx))
    if (wire.kind === 'iot') seen.push(wire)
    await aiNode.onTx(wire)
    await humanNode.onTx(wire)
  }
  const published: TxKey[] = []
  const readings: ReadingView[] = []
  const state = { balance: 6_546_000_000 }
  const devices: DeviceView[] = [
    { id: 'ox-1', sensors: ['spo2', 'hr'], lastSeen: T0 + 600_000, accepted: 120, dropped: 0 },
    { id: 'bp-1', sensors: ['bp'], lastSeen: null, accepted: 0, dropped: 2 }
  ]
  // a real signed tx_coin prepaying the AI doctor (the Userchain ledger is tested in store-*)
  const coin = buildTxCoin(user, { to: ai.id, amount: 250_000, fee: 1000, nonce: 0 })
  const payments: PaymentView[] = [{ id: toHex(txId(coin)), to: toHex(coin.to), amount: coin.amount, fee: coin.fee, confirmed: true }]
  const patient = patientModel({
    keys,
    reader,
    publishKey: async (tx) => { published.push(tx); await chain(tx) },
    balance: () => state.balance,
    readings: () => readings,
    doctors: () => registry,
    devices: () => devices,
    payments: () => payments,
    keyRotation: true
  })
  const doctor = doctorModel({ node: humanNode, name: 'Dr. Ada Human', now: () => clock * 1000, recent: (u) => seen.filter((x) => toHex(x.user) === toHex(u)).slice(-5) })
  const publishBatch = async (rs: readonly ReadingView[]): Promise<TxIoT> => {
    const e = keys.current!
    const plain = utf8Bytes(JSON.stringify(rs.map((r) => ({ device: r.device, type: r.type, value: r.value, ts: r.at, at: r.at }))))
    const tx = buildTxIoT(user, { ts: clock++, heiot: await put(sealBatch(e.ik, rng(12), user.id, e.epoch, plain)), epoch: e.epoch })
    own.set(toHex(txId(tx)), tx)
    readings.push(...rs)
    await chain(tx)
    return tx
  }
  const secrets = (): string[] => {
    const out: string[] = []
    for (const id of [user, ai, human, spare]) {
      out.push(toHex(new Uint8Array(id.signing.key.export({ format: 'der', type: 'pkcs8' }).subarray(-32))))
      out.push(toHex(new Uint8Array(id.agreement.key.export({ format: 'der', type: 'pkcs8' }).subarray(-32))))
    }
    for (const e of keys.history()) out.push(toHex(e.ik), toHex(e.epochSecret))
    return out
  }
  return { user, ai, human, spare, keys, reader, aiNode, humanNode, patient, doctor, readings, published, committed, events, state, publishBatch, secrets }
}

/** The desaturation of the story: SpO₂ 85–86 % in two batches, then 84–85 % with a fast heart rate (a new finding). */
export const DESATURATION = [trace(T0 + 300_000, 10, 85, 96), trace(T0 + 400_000, 10, 85, 96), trace(T0 + 500_000, 10, 84, 118)]

/**
 * The story the tests start from: the patient opened its first epoch,
 * granted both doctors, sent a normal batch and then one desaturation
 * episode in three batches; the AI doctor's diagnoses of it (opened, new
 * finding) are committed and the human doctor has them queued.
 */
export async function story (f: Fixture): Promise<void> {
  const init = f.keys.init()
  f.published.push(init)
  const dec = decodeTx(encodeTx(init))
  await f.aiNode.onTx(dec)
  await f.humanNode.onTx(dec)
  await f.patient.grant(toHex(f.ai.id))
  await f.patient.grant(toHex(f.human.id))
  await f.publishBatch(trace(T0, 30, 97, 72))
  for (const b of DESATURATION) await f.publishBatch(b)
  if (f.reader.diagnoses.length === 0) throw new Error(`fixture: no diagnosis committed; events ${JSON.stringify(f.events.map((e) => e.type))}`)
}

export interface Served {
  readonly fixture: Fixture
  readonly web: WebServer
  readonly dir: string
  readonly password: string
  /** base64 SHA-256 of the server certificate's public key, for a browser to trust it (Chromium --ignore-certificate-errors-spki-list) */
  readonly spki: string
  close: () => Promise<void>
}

export async function serve (opts: Partial<WebServerOptions> = {}): Promise<Served> {
  const fixture = makeFixture()
  await story(fixture)
  const dir = await mkdtemp(join(tmpdir(), 'hc-web-'))
  // HTTPS as on the hub, with a certificate of a CA made for this server; the test clients trust that CA
  const tls = await loadOrCreateTls(dir, { hosts: ['127.0.0.1'] })
  trustCa(tls.ca!)
  // the hub's alerts out (app/alerts.ts) as the page shows them: a webhook set up, its settings form and test button
  const alerts = await openAlerts({ dataDir: dir, user: fixture.user, node: 'hub', devices: () => [], log: () => {}, backoffMs: [] })
  await alerts.service.configure(parseWith(AlertsSettingsBody, { minSeverity: 'urgent', webhook: { url: 'http://127.0.0.1:9/alerts', secret: 'fixture-secret' } }))
  const patient: PatientModel = {
    ...fixture.patient,
    page: async () => ({ ...await fixture.patient.page(), alertsOut: await alerts.service.status() }),
    configureAlerts: async (b) => await alerts.service.configure(parseWith(AlertsSettingsBody, b)),
    testAlert: async (c) => await alerts.service.test(parseWith(z.enum(CHANNELS), c))
  }
  const web = await createWebServer({ dataDir: dir, patient, doctor: fixture.doctor, log: () => {}, tls: { key: tls.key, cert: tls.cert }, ...opts })
  if (web.created === undefined) throw new Error('fixture: the login was not created')
  return {
    fixture, web, dir, password: web.created.password, spki: tls.spki,
    close: async () => { await web.close(); await alerts.stop(); await rm(dir, { recursive: true, force: true }) }
  }
}
