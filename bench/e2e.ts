/**
 * End-to-end alert latency on the process devnet (`npm start`: every role
 * its own daemon process on loopback). Every figure starts when the device
 * publishes its first abnormal reading (an SpO₂ of 86 %, then 85 % a second
 * later, over MQTT with its paired credentials, QoS 1) and goes through the shipped Node-RED flow
 * (its NEWS2 flush rule), the AI doctor's analysis at mempool sight, real
 * admission (accounting nodes admit causes confirmed on Userchain only) and
 * the devnet's real block times:
 * - alert_to_analysis_ms: → the preliminary finding listed on the hub's
 *   patient page (the hub's log line when it listed it);
 * - alert_out_ms: → the same preliminary finding received by all three of
 *   a home's alert receivers (README "Alerts out"): a Mosquitto subscriber
 *   on Home Assistant's state topic, an SMTP server and a webhook receiver,
 *   started by the bench (test/helpers/alert-receivers.ts); the clock stops
 *   when the last of the three has it (the bench's own clock: the receivers
 *   run in the bench's process);
 * - alert_to_confirmed_ms: → the cause's tx_IoT in a Ublock at the hub;
 * - confirmed_to_diagnosis_ms: that block → the AI doctor holding the
 *   commit certificate of its tx_diag (committed on Docchain);
 * - alert_to_diagnosis_ms: the sum; diagnosis_on_patient_page_ms: → the hub
 *   lists the certified diagnosis it read from Docchain;
 * - devnet_stop_ms: Ctrl-C → every daemon gone; devnet_rss_mb_total: the
 *   daemons' resident memory at the end;
 * - diagnoses_per_episode: the tx_diag the AI doctor signed while the bench's
 *   episodes ran, per episode it opened (ai/episodes.ts: one diagnosis when
 *   an episode opens, worsens, shows a new finding and resolves, not one per
 *   batch; target ≤ 3). Each episode ends with normal readings until the AI
 *   doctor has closed it (the devnet's recovery time is 0: one normal batch).
 * Times are read from the daemons' timestamped log lines (one clock).
 * sealed_batch_to_commit_ms keeps the earlier in-process figure under its
 * honest name: a batch already sealed in memory → commit.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import {
  buildIdentityRecord, buildTxIoT, dblockProposal, DEVNET, encodeIdentityRecord, identityFromSeed, sealBatch, solveUblockHeader,
  toHex, txId, utf8Bytes, type Dblock, type NetworkParams, type Tx, type TxDiag
} from '../hub/src/core/index.ts'
import { CoreNode } from '../hub/src/roles/core/node.ts'
import { IpfsNode, cidFromDigest, digestOfCid, uploadBatch } from '../hub/src/ipfs/index.ts'
import { openAdmission, StorageNode } from '../hub/src/roles/storage/index.ts'
import { DoctorRegistry } from '../hub/src/core/pbft/registry.ts'
import { AccountingNode } from '../hub/src/roles/accounting/node.ts'
import { MemoryNetwork } from '../test/helpers/memory-network.ts'
import { UserKeys } from '../hub/src/roles/user/keys.ts'
import { PatientReader } from '../hub/src/roles/user/diagnoses.ts'
import { DoctorNode } from '../hub/src/roles/doctor/doctor.ts'
import { table } from './_stats.ts'
import { readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import mqtt from 'mqtt'
import { ApiClient } from '../hub/src/api/client.ts'
import { formatLine } from '../hub/src/ingest/line.ts'
import { readingsTopic } from '../hub/src/ingest/mqtt.ts'
import { DevnetRun } from '../test/helpers/devnet-run.ts'
import { startAlertReceivers } from '../test/helpers/alert-receivers.ts'

const rnd = (n: number): Uint8Array => new Uint8Array(randomBytes(n))
const SEALED_EPISODES = Number(process.env.BENCH_E2E_SEALED_EPISODES ?? 20)
const EPISODES = Number(process.env.BENCH_E2E_EPISODES ?? 5)
const PARAMS: NetworkParams = { ...DEVNET, powLimitBits: 0x207fffff, genesisBits: 0x207fffff, retargetInterval: 1_000_000 }

function pct (xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(s.length * p))]!
}

/** Today's in-process figure: a batch already sealed in memory → committed, decrypted diagnosis (mempool path, causes admitted from the mempool, payment check stubbed). */
async function sealedBatchToCommit (): Promise<Record<string, number>> {
  const dir = await mkdtemp(join(tmpdir(), 'hc-bench-e2e-'))
  const stops: Array<() => Promise<unknown>> = []
  try {
    const user = identityFromSeed(rnd(32))
    const ai = identityFromSeed(rnd(32))
    const members = [0, 1, 2, 3].map(() => identityFromSeed(rnd(32)))
    const storage = [await StorageNode.create({ dataDir: join(dir, 's0'), admission: openAdmission }), await StorageNode.create({ dataDir: join(dir, 's1'), admission: openAdmission })]
    for (const s of storage) stops.push(async () => { await s.stop() })
    const S = storage.map((s) => s.ipfs.multiaddrs[0]!.toString())
    const hubIpfs = await IpfsNode.create({ dataDir: join(dir, 'hub-ipfs') })
    const docIpfs = await IpfsNode.create({ dataDir: join(dir, 'doc-ipfs') })
    stops.push(async () => { await hubIpfs.stop() }, async () => { await docIpfs.stop() })
    const core = await CoreNode.open({ dir: join(dir, 'chain'), params: PARAMS, verifyThreads: 1 })
    stops.push(async () => { await core.close() })
    const upload = (n: IpfsNode) => async (b: Uint8Array): Promise<Uint8Array> => digestOfCid((await uploadBatch(n, b, { storageNodes: S, replication: 2 })).cid)
    const fetch = (n: IpfsNode) => async (d: Uint8Array): Promise<Uint8Array> => await n.get(cidFromDigest(d), { providers: S })

    const known = new Map<string, Uint8Array>() // htxI → user, as the Userchain network carries it (mempool or block)
    const registry = (): DoctorRegistry => new DoctorRegistry({ members: [members[0]!.id], threshold: 1 }, [encodeIdentityRecord(buildIdentityRecord(ai, 1))])
    const genesis: Dblock = dblockProposal({ index: 0, gtime: PARAMS.genesisTime, prehash: new Uint8Array(32), view: 0, leader: new Uint8Array(32), txs: [] })
    const net = new MemoryNetwork()
    const acct: AccountingNode[] = []
    for (let i = 0; i < 4; i++) {
      const a = await AccountingNode.start({
        identity: members[i]!, members: members.map((m) => m.id), genesis, dir: join(dir, `acct${i}`), transport: net.join(members[i]!.id), registry: registry(),
        userchain: { iotTx: async (h) => { const u = known.get(toHex(h)); return u === undefined ? null : { user: u, epoch: 1 } }, epochReaders: async () => ({ envelopes: [ai.id] }) },
        payments: { paid: async () => Infinity, price: 1 },
        replica: { batchDelayMs: 2 },
        tickMs: 5
      })
      acct.push(a)
      stops.push(async () => { await a.stop() })
    }
    const now = (): number => Math.floor(Date.now() / 1000)
    const keys = new UserKeys(user, { rng: rnd, now, directory: { lookup: (id) => (toHex(id) === toHex(ai.id) ? { id, x25519: ai.agreement.publicKey } : undefined) } })
    const doctor = new DoctorNode(ai, {
      fetch: fetch(docIpfs), upload: upload(docIpfs), hasPaid: async () => true, now, rng: rnd,
      submit: async (tx: TxDiag) => { await acct[0]!.submitOrThrow(tx) }
    }, { mode: 'ai', episodes: { recoveryMs: 0 } }) // as on the devnet: one normal batch closes an episode
    const reader = new PatientReader(keys, { ownIoT: (h) => { const tx = ownTx.get(toHex(h)); return tx }, fetch: fetch(hubIpfs), accountingNodes: () => members.map((m) => m.id) })
    const ownTx = new Map<string, ReturnType<typeof buildTxIoT>>()
    const waiting = new Map<string, (t: number) => void>()
    acct[0]!.onCommit = (block) => {
      void reader.onDblock(block).then((found) => { for (const d of found) waiting.get(toHex(txId(d.causes[0]!)))?.(performance.now()) })
    }
    let path: 'mempool' | 'block' = 'mempool'
    const seen = (tx: Tx): void => { if (tx.kind === 'iot') known.set(toHex(txId(tx)), tx.user); void doctor.onTx(tx) }
    core.on('tx', (id: string) => { const e = core.mempool.get(id); if (e !== undefined && (path === 'mempool' || e.bt.tx.kind === 'key')) seen(e.bt.tx) })
    core.on('block', (r: { connected: ReadonlyArray<{ txs: ReadonlyArray<{ tx: Tx }> }> }) => { if (path === 'block') for (const b of r.connected) for (const t of b.txs) if (t.tx.kind === 'iot') seen(t.tx) })
    const mine = async (): Promise<void> => {
      const tpl = core.template(user.id)
      await core.submitBlock({ ...tpl, header: solveUblockHeader(tpl.header, 10_000_000)! })
    }
    for (const tx of [keys.init(), keys.grant(ai.id)]) await core.submitTx(tx)
    await mine()

    /** Seals a batch, names it in a tx_IoT and resolves with the time its diagnosis was committed and read. */
    const batch = async (i: number, spo2: (k: number) => number): Promise<number> => {
      const readings = Array.from({ length: 30 }, (_, k) => ({ t: 'spo2', v: spo2(k), ts: Date.now() - (30 - k) * 2000 + i }))
      const e = keys.current!
      const sealed = sealBatch(e.ik, rnd(12), user.id, e.epoch, utf8Bytes(JSON.stringify({ v: 1, readings })))
      const tx = buildTxIoT(user, { ts: now(), heiot: await upload(hubIpfs)(sealed), epoch: e.epoch })
      ownTx.set(toHex(txId(tx)), tx)
      const done = new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => { reject(new Error(`episode ${i} (${path}) got no diagnosis in 60 s`)) }, 60_000)
        waiting.set(toHex(txId(tx)), (t1) => { clearTimeout(timer); resolve(t1) })
      })
      const r = await core.submitTx(tx)
      if (!r.accepted) throw new Error(`tx_IoT refused: ${r.reason}`)
      if (path === 'block') await mine()
      return await done
    }
    const episode = async (i: number): Promise<number> => {
      // the previous episode closes first (not timed): a normal batch, its resolution diagnosed (ai/episodes.ts)
      if (i > 0) await batch(i, () => 97)
      const t0 = performance.now() // the abnormal reading reaches the hub; the event threshold flushes the batch at once
      return (await batch(i, (k) => k < 20 ? 97 : 84)) - t0
    }
    const res: Record<string, number[]> = { mempool: [], block: [] }
    for (const p of ['mempool'] as const) {
      path = p
      for (let i = 0; i < SEALED_EPISODES; i++) res[p]!.push(await episode(i))
      if (p === 'mempool') await mine() // confirm the real-time path's txs before switching
    }
    const out = {
      sealed_batch_to_commit_ms_p50: pct(res.mempool!, 0.5),
      sealed_batch_to_commit_ms_p99: pct(res.mempool!, 0.99)
    }
    console.log(`\nSealed batch in memory → committed, decrypted diagnosis, in one process (${SEALED_EPISODES} episodes; not what a user sees: no device, no flow, causes admitted from the mempool, payment stubbed)`)
    table([['path', 'p50 ms', 'p99 ms'], ['sealed batch → commit (in-process accounting nodes)', out.sealed_batch_to_commit_ms_p50, out.sealed_batch_to_commit_ms_p99]])
    return out
  } finally {
    for (const s of stops.reverse()) await s().catch(() => {})
    await rm(dir, { recursive: true, force: true })
  }
}

const at = (line: RegExpExecArray): number => Date.parse(line[1]!)

/** The figures on the process devnet. */
async function processDevnet (): Promise<Record<string, number>> {
  const dir = await mkdtemp(join(tmpdir(), 'hc-bench-e2e-devnet-'))
  // the bench's device is the patient's only oximeter: the devnet's own would report a normal SpO₂ beside
  // it, and the AI doctor reads a vital sign's readings of one batch together (median windows)
  const closers: Array<() => unknown> = []
  const rx = await startAlertReceivers({ teardown: (fn) => { closers.push(fn) } }, dir)
  const run = new DevnetRun(dir, ['--boards', 'thermometer', '--alerts', await rx.configFile()])
  try {
    await run.up()
    await run.line(/^\[devnet\] the patient prepaid/, 'the prepayment', 300_000)
    const api = await ApiClient.forDataDir(join(dir, 'hub'))
    const state = JSON.parse(await readFile(join(dir, 'devnet.json'), 'utf8')) as { ports: Record<string, number> }
    const user = (await api.call<{ user: string }>('GET', '/v1/status')).user
    const dev = await api.call<{ id: string, secret: string }>('POST', '/v1/devices', { id: 'bench-ox', user, sensors: ['spo2'] })
    api.close()
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${state.ports['hub-mqtt']!}`, { username: dev.id, password: dev.secret, clientId: dev.id, reconnectPeriod: 0 })
    // the prepayment confirmed (the doctor analyses only patients who paid)
    await run.line(/^\[hub\] \S+ batch recorded/, 'a first batch recorded', 300_000)
    const m: Record<string, number[]> = { analysis: [], out: [], confirmed: [], commit: [], total: [], page: [] }
    const firstMark = run.lines.length
    let seq = 0
    const reading = async (v: number): Promise<void> => {
      seq++
      await c.publishAsync(readingsTopic('hub', dev.id), formatLine({ d: dev.id, b: 1, s: seq, t: 'spo2', v, ts: seq * 1000 }).trimEnd(), { qos: 1 })
    }
    for (let i = 0; i < EPISODES; i++) {
      // between episodes the patient recovered: a normal reading first (not timed), so the episode's first abnormal reading crosses the threshold
      await reading(97)
      const mark = run.lines.length
      const t0 = Date.now()
      // the first abnormal reading crosses the flush rule and closes the batch at once; the second, a second later, stays in the window's batch
      await reading(86)
      await new Promise((resolve) => setTimeout(resolve, 1000))
      await reading(85)
      const pre = await run.line(/^\[hub\] (\S+) preliminary finding: tx_diag ([0-9a-f]{64}) \((low|urgent|emergency)\)/, `episode ${i}: the preliminary finding`, 300_000, mark)
      const htxd = pre[2]!
      // the clock (started at the publish) stops when the last of the three receivers has this finding
      const got = await Promise.all([
        rx.waitFor(rx.mqtt, (x) => x.topic === 'healthchain/hub/alert/state' && x.text.includes(htxd), `episode ${i}: the alert on MQTT`, 120_000),
        rx.waitFor(rx.mail, (x) => x.text.includes(htxd), `episode ${i}: the alert e-mail`, 120_000),
        rx.waitFor(rx.webhook, (x) => x.text.includes(htxd), `episode ${i}: the alert webhook`, 120_000)
      ])
      const outMs = Math.max(...got.map((x) => x.at)) - t0
      m.out!.push(outMs)
      const signed = await run.line(new RegExp(`^\\[doctor-ai\\] \\S+ \\w+ diagnosis ${htxd.slice(0, 12)}… signed for ([0-9a-f]{12})…`), `episode ${i}: the doctor's signature`, 60_000, mark)
      const confirmed = await run.line(new RegExp(`^\\[hub\\] (\\S+) batch recorded: tx_IoT ${signed[1]!}`), `episode ${i}: the cause confirmed`, 600_000, mark)
      const committed = await run.line(new RegExp(`^\\[doctor-ai\\] (\\S+) tx_diag ${htxd.slice(0, 12)}… committed in Dblock`), `episode ${i}: the commit`, 600_000, mark)
      const page = await run.line(new RegExp(`^\\[hub\\] (\\S+) certified diagnosis: tx_diag ${htxd}`), `episode ${i}: the certified diagnosis at the hub`, 600_000, mark)
      m.analysis!.push(at(pre) - t0)
      m.confirmed!.push(at(confirmed) - t0)
      m.commit!.push(at(committed) - at(confirmed))
      m.total!.push(at(committed) - t0)
      m.page!.push(at(page) - t0)
      // recovery (not timed): five normal readings (one batch window's worth of a normal median), again
      // after a window if the AI doctor has not closed the episode; none after it did, so the next
      // episode's first batch holds the one normal reading and the abnormal ones, as before
      const recovering = run.lines.length
      let closed = false
      const done = run.line(/^\[doctor-ai\] \S+ patient [0-9a-f]{12}…: episode [0-9a-f]{12}… resolved/, `episode ${i}: its resolution`, 300_000, recovering).then(() => { closed = true })
      while (!closed) {
        for (let k = 0; k < 5; k++) await reading(97)
        await Promise.race([done, new Promise((resolve) => setTimeout(resolve, 40_000))])
      }
      console.log(`episode ${i}: preliminary ${at(pre) - t0} ms, alerts out (MQTT ${got[0].at - t0}, e-mail ${got[1].at - t0}, webhook ${got[2].at - t0}) ${outMs} ms, confirmed ${at(confirmed) - t0} ms, committed ${at(committed) - t0} ms, on the page ${at(page) - t0} ms; closed after recovery`)
    }
    // what the AI doctor signed while the episodes ran, per episode it opened (its resolutions signed by now are counted)
    await new Promise((resolve) => setTimeout(resolve, 3000))
    const during = run.lines.slice(firstMark)
    const signedDiags = during.filter((l) => /^\[doctor-ai\] \S+ \w+ diagnosis [0-9a-f]{12}… signed for/.test(l)).length
    const opened = during.filter((l) => /^\[doctor-ai\] \S+ patient [0-9a-f]{12}…: episode [0-9a-f]{12}… opened/.test(l)).length
    await c.endAsync()
    let kb = 0
    for (const name of ['hub', 'core2', 'storage-0', 'storage-1', 'doctor-ai', 'doctor-human', 'accounting-0', 'accounting-1', 'accounting-2', 'accounting-3']) {
      try { kb += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${run.pid(name)}/status`, 'utf8'))?.[1] ?? 0) } catch {}
    }
    const stop = await run.interrupt()
    if (stop.code !== 0) throw new Error(`Ctrl-C: the devnet exited ${stop.code}`)
    const out = {
      alert_to_analysis_ms_p50: pct(m.analysis!, 0.5),
      alert_out_ms_p50: pct(m.out!, 0.5),
      alert_to_confirmed_ms_p50: pct(m.confirmed!, 0.5),
      confirmed_to_diagnosis_ms_p50: pct(m.commit!, 0.5),
      alert_to_diagnosis_ms_p50: pct(m.total!, 0.5),
      alert_to_diagnosis_ms_p99: pct(m.total!, 0.99),
      diagnosis_on_patient_page_ms_p50: pct(m.page!, 0.5),
      devnet_stop_ms: stop.ms,
      devnet_rss_mb_total: Math.round(kb / 1024),
      e2e_episodes: EPISODES,
      diagnoses_per_episode: opened === 0 ? NaN : Math.round(signedDiags / opened * 100) / 100,
      ai_episodes_opened: opened,
      ai_diagnoses_signed: signedDiags
    }
    console.log(`\nFrom the device's publish of an abnormal reading, on the process devnet (${EPISODES} episodes; 11 daemon processes on loopback, devnet block times)`)
    table([['figure', 'ms', 'target'],
      ['→ preliminary finding on the patient page (alert_to_analysis p50)', out.alert_to_analysis_ms_p50, '<= 1000'],
      ['→ preliminary finding received on MQTT (Home Assistant), e-mail and webhook, the last of the three (alert_out p50)', out.alert_out_ms_p50, '<= 2000'],
      ['→ cause confirmed on Userchain (alert_to_confirmed p50: the block wait)', out.alert_to_confirmed_ms_p50, ''],
      ['confirmed → certified diagnosis committed on Docchain (p50)', out.confirmed_to_diagnosis_ms_p50, '<= 1000'],
      ['→ certified diagnosis committed (alert_to_diagnosis p50 / p99)', `${out.alert_to_diagnosis_ms_p50} / ${out.alert_to_diagnosis_ms_p99}`, ''],
      ['→ certified diagnosis on the hub\'s patient page (p50)', out.diagnosis_on_patient_page_ms_p50, ''],
      ['Ctrl-C → every daemon gone', out.devnet_stop_ms, ''],
      ['RSS of the daemons (MB)', out.devnet_rss_mb_total, ''],
      [`AI diagnoses per episode (${signedDiags} signed / ${opened} episodes opened)`, out.diagnoses_per_episode, '<= 3']])
    return out
  } finally {
    if (run.exit === undefined) { run.child.kill('SIGKILL'); for (const p of run.pids()) { try { process.kill(p, 'SIGKILL') } catch {} } }
    for (const c of closers.reverse()) await Promise.resolve(c()).catch(() => {})
    await rm(dir, { recursive: true, force: true })
  }
}

export async function run (): Promise<Record<string, number>> {
  return { ...await processDevnet(), ...await sealedBatchToCommit() }
}
