#!/usr/bin/env node
/**
 * `npm start`: a whole Healthchain devnet on loopback, in one process
 * (paper §III-A roles, DESIGN §1):
 * - virtual Espruino boards running the real device sketches (device/src):
 *   an oximeter publishing over MQTT with its own credentials and a
 *   thermometer on USB serial, with physiological models (a desaturation
 *   episode after a minute); an Arduino Uno running the real StandardFirmata
 *   firmware in avr8js on a pty (when socat is installed), read by johnny-five;
 * - the hub: ingest (embedded MQTT broker with device auth), Node-RED running
 *   flows/hub.json (batch → AES-GCM → IPFS → tx_IoT → mining), the core user
 *   node mining Userchain, the patient web page; a second core user node
 *   mining too, connected to the hub over libp2p (gossip and sync);
 * - two consortium storage nodes (Helia), an AI doctor and a human doctor
 *   (web page with a review queue), four accounting nodes running PBFT on
 *   Docchain (in-process transport), Healthcoin prepaid credit.
 * It prints the URLs and the login, then live progress. Stop with Ctrl-C.
 */
import { randomBytes } from 'node:crypto'
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import {
  buildIdentityRecord, buildTxCoin, concatBytes, dblockProposal, DEVNET, encodeIdentityRecord, identityFromSeed, sha256, toHex,
  txId, utf8Bytes, type Dblock, type Identity, type Tx, type TxIoT, type TxReg
} from './core/index.ts'
import { CoreNode } from './roles/core/node.ts'
import { Miner } from './roles/core/miner.ts'
import { CoreNet } from './net/service.ts'
import { coreChain } from './net/core-chain.ts'
import { IpfsNode, cidFromDigest, digestOfCid, uploadBatch } from './ipfs/index.ts'
import { openAdmission, StorageNode } from './roles/storage/index.ts'
import { DocchainRegistry, DoctorRegistry } from './core/pbft/registry.ts'
import { AccountingNode, type DiagReceipt } from './roles/accounting/node.ts'
import { MemoryNetwork } from './roles/accounting/transport.ts'
import { accountingLookups, UserchainView } from './roles/accounting/userchain-view.ts'
import { UserKeys } from './roles/user/keys.ts'
import { scheduleRotation } from './roles/user/rotation.ts'
import { settler } from './roles/consortium/settlement.ts'
import { keyHistory } from './roles/user/chain.ts'
import { PatientReader } from './roles/user/diagnoses.ts'
import { DoctorNode, type DoctorEvent } from './roles/doctor/doctor.ts'
import { CreditBook, DIAGNOSIS_PRICE } from './roles/consortium/credit.ts'
import { startIngestService } from './ingest/hub.ts'
import { LineSplitter } from './ingest/lines.ts'
import { FirmataSource } from './ingest/firmata.ts'
import { startNodeRed } from './nodered/embed.ts'
import { hubRuntime } from './nodered/wire.ts'
import { listenError } from './config/ports.ts'
import { createWebRouter, deviceView, doctorModel, patientModel, recentReadings, registeredDoctors, userPayments } from './web/index.ts'
import { buildSketch, DIST_DIR } from '../../device/build.ts'
import { VirtualEspruino } from '../../hardware/virtual-espruino/board.ts'
import { PatientModel } from '../../hardware/sensors/models.ts'
import { unoOnPty } from '../../hardware/arduino-uno/serve.ts'
import { haveSocat, openPtyPair } from '../../hardware/pty.ts'

const HELP = `usage: npm start [-- options]
  --data-dir <dir>   where the devnet keeps its state (default .devnet)
  --fresh            wipe the data dir first
  --port <n>         HTTP port of the hub's pages and Node-RED editor (default 1880; 0 = any)
  --duration <s>     stop after this many seconds (default: run until Ctrl-C)
  --episode <s>      seconds until the oximeter's desaturation episode (default 60)
  --quiet            no progress lines
  --no-firmata       leave out the emulated StandardFirmata Uno (needs socat)
  --help`

export interface DevnetOptions {
  readonly dataDir: string
  readonly port?: number
  readonly episodeSeconds?: number
  /** Also run an Arduino Uno with the real StandardFirmata firmware (avr8js) on a socat pty, read by johnny-five (default false: it costs a quarter of a core). */
  readonly firmata?: boolean
  readonly log?: (line: string) => void
}

export interface DevnetStats {
  height: number
  /** Tip height of the second core node (it follows the hub over libp2p). */
  height2: number
  mempool: number
  readings: number
  batches: number
  txIoT: number
  dblocks: number
  diagnoses: number
  urgent: number
}

export interface Devnet {
  readonly urls: { readonly patient: string, readonly doctor: string, readonly editor: string }
  readonly logins: { readonly web?: { username: string, password: string }, readonly editor?: { username: string, password: string } }
  readonly stats: DevnetStats
  readonly user: Identity
  readonly core: CoreNode
  readonly reader: PatientReader
  readonly credit: CreditBook
  readonly consortium: Identity
  readonly doctors: { readonly ai: Identity, readonly human: Identity }
  /** The doctor registry derived from the committed Docchain (genesis + TxReg records). */
  readonly registry: DoctorRegistry
  /** A consortium member's registry record (TxReg) submitted to an accounting node: its receipt once committed or refused. */
  submitRecord: (tx: TxReg | Uint8Array) => Promise<DiagReceipt>
  /** Resolves when the devnet has seen `n` committed diagnoses. */
  diagnosed: (n: number) => Promise<void>
  stop: () => Promise<void>
}

const rng = (n: number): Uint8Array => new Uint8Array(randomBytes(n))
const now = (): number => Math.floor(Date.now() / 1000)

/** One 0600 seed per devnet; every role's key derives from it (a devnet, not production: no passphrase). */
async function devnetSeed (dir: string): Promise<Uint8Array> {
  const file = join(dir, 'devnet-seed')
  if (existsSync(file)) return new Uint8Array(await readFile(file))
  const seed = rng(32)
  await writeFile(file, seed, { mode: 0o600 })
  return seed
}

export async function startDevnet (opts: DevnetOptions): Promise<Devnet> {
  const log = opts.log ?? ((l: string) => { console.log(l) })
  const dir = resolve(opts.dataDir)
  await mkdir(dir, { recursive: true, mode: 0o700 })
  await chmod(dir, 0o700)
  const seed = await devnetSeed(dir)
  const who = (label: string): Identity => identityFromSeed(sha256(concatBytes(seed, utf8Bytes(label))))
  const user = who('user')
  const ai = who('doctor-ai')
  const human = who('doctor-human')
  const consortium = who('consortium')
  const members = [0, 1, 2, 3].map((i) => who(`accounting-${i}`))
  const stoppers: Array<() => Promise<unknown>> = []
  const stats: DevnetStats = { height: 0, height2: 0, mempool: 0, readings: 0, batches: 0, txIoT: 0, dblocks: 0, diagnoses: 0, urgent: 0 }
  const stop = async (): Promise<void> => { for (const s of stoppers.splice(0).reverse()) await s().catch(() => {}) }
  try {
    // ---- storage nodes (consortium IPFS) ----
    const storage = [await StorageNode.create({ dataDir: join(dir, 'storage-0'), admission: openAdmission })]
    storage.push(await StorageNode.create({ dataDir: join(dir, 'storage-1'), admission: openAdmission, replicas: [storage[0]!.ipfs.multiaddrs[0]!.toString()] }))
    for (const s of storage) stoppers.push(async () => { await s.stop() })
    const storageAddrs = storage.map((s) => s.ipfs.multiaddrs[0]!.toString())

    // ---- Userchain: the hub is a core user node and mines ----
    const core = await CoreNode.open({ dir: join(dir, 'hub', 'chain'), params: DEVNET })
    stoppers.push(async () => { await core.close() })
    // the hub's one libp2p node: Userchain gossip and sync, and its IPFS (DESIGN §6)
    const hubNet = await CoreNet.start({ chain: coreChain(core), params: DEVNET, dataDir: join(dir, 'hub', 'net') })
    stoppers.push(async () => { await hubNet.stop() })
    const miner = new Miner(core, { miner: user.id, threads: 1, refreshMs: 2000 })
    stoppers.push(async () => { await miner.stop() })
    // a second core user node, mining too, connected over libp2p
    const core2 = await CoreNode.open({ dir: join(dir, 'core2', 'chain'), params: DEVNET })
    stoppers.push(async () => { await core2.close() })
    const net2 = await CoreNet.start({ chain: coreChain(core2), params: DEVNET, dataDir: join(dir, 'core2', 'net'), bootstrap: [hubNet.net.libp2p.getMultiaddrs()[0]!.toString()] })
    stoppers.push(async () => { await net2.stop() })
    const miner2 = new Miner(core2, { miner: who('miner-2').id, threads: 1, refreshMs: 2000 })
    stoppers.push(async () => { await miner2.stop() })
    const hubIpfs = await IpfsNode.create({ dataDir: join(dir, 'hub', 'ipfs'), libp2p: hubNet.net.libp2p })
    stoppers.push(async () => { await hubIpfs.stop() })
    const docIpfs = await IpfsNode.create({ dataDir: join(dir, 'doctors', 'ipfs') })
    stoppers.push(async () => { await docIpfs.stop() })
    const fetchVia = (node: IpfsNode) => async (d: Uint8Array): Promise<Uint8Array> => await node.get(cidFromDigest(d), { providers: storageAddrs })
    const uploadVia = (node: IpfsNode) => async (b: Uint8Array): Promise<Uint8Array> => digestOfCid((await uploadBatch(node, b, { storageNodes: storageAddrs, replication: 2 })).cid)

    const view = new UserchainView(core.store)
    const userOf = async (htxI: Uint8Array): Promise<Uint8Array | null> => await view.userOf(htxI)

    // ---- Docchain: doctor registry and four accounting nodes (PBFT) ----
    const record = (d: Identity): Uint8Array => encodeIdentityRecord(buildIdentityRecord(d, DEVNET.genesisTime))
    // genesis: the consortium (1 of 1 on a devnet) and the two doctors; later REGISTER/SUSPEND records ride on Docchain (TxReg)
    const genesisRegistry = new DoctorRegistry({ members: [consortium.id], threshold: 1 }, [record(ai), record(human)])
    const credit = new CreditBook(core.store, consortium.id)
    const genesis: Dblock = dblockProposal({ index: 0, gtime: DEVNET.genesisTime, prehash: new Uint8Array(32), view: 0, leader: new Uint8Array(32), txs: [] })
    const net = new MemoryNetwork()
    const accounting: AccountingNode[] = []
    for (let i = 0; i < members.length; i++) {
      const node = await AccountingNode.start({
        identity: members[i]!,
        members: members.map((m) => m.id),
        genesis,
        dir: join(dir, `accounting-${i}`),
        transport: net.join(members[i]!.id),
        registry: genesisRegistry,
        ...accountingLookups(view, credit)
      })
      accounting.push(node)
      stoppers.push(async () => { await node.stop() })
    }

    /** Committed Dblocks from a previous run count again (credit consumed, diagnoses read). */
    const replayDocchain = async (): Promise<void> => {
      for (let h = 1; h <= accounting[0]!.height; h++) {
        const b = await accounting[0]!.block(h)
        if (b === undefined) continue
        await credit.onDblock(b, userOf)
        stats.diagnoses += (await reader.onDblock(b)).length
        stats.dblocks = h
      }
    }

    // The doctor registry as any Docchain reader derives it: genesis + the committed Dblocks (then each commit, below).
    const docchain = await new DocchainRegistry(genesisRegistry).catchUp(accounting[0]!.height, async (h) => await accounting[0]!.block(h))

    // ---- the patient: keys, diagnoses ----
    const directory = { lookup: (id: Uint8Array) => docchain.registry.lookup(id) }
    const keys = UserKeys.fromChain(user, await keyHistory(core.store, core.mempool, user.id), { rng, now, directory, rotationSeconds: 600 })
    const publish = async (tx: Tx): Promise<void> => {
      const r = await core.submitTx(tx)
      if (!r.accepted) throw new Error(`hub refused its own ${tx.kind}: ${r.reason}`)
    }
    if (keys.current === null) {
      await publish(keys.init())
      await publish(keys.grant(ai.id))
      await publish(keys.grant(human.id))
    }
    const ownIoT = new Map<string, TxIoT>()
    const reader = new PatientReader(keys, { ownIoT: (h) => ownIoT.get(toHex(h)), fetch: fetchVia(hubIpfs), accountingNodes: () => members.map((m) => m.id) })

    /** Resolves once htxI is in a block on the best chain (accounting nodes admit only confirmed causes, §IV-B2). */
    const confirmed = async (htxI: Uint8Array, timeoutMs = 120_000): Promise<void> => {
      if (core.store.txLocation(htxI) !== undefined) return
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => { core.off('block', check); reject(new Error(`${toHex(htxI).slice(0, 12)}… not confirmed in ${timeoutMs / 1000} s`)) }, timeoutMs)
        const check = (): void => { if (core.store.txLocation(htxI) !== undefined) { clearTimeout(timer); core.off('block', check); resolve() } }
        core.on('block', check)
      })
    }

    // ---- doctors: analysis on mempool sight (real-time path), submission once the causes are confirmed ----
    const waiters: Array<{ n: number, resolve: () => void }> = []
    const doctorIo = (d: Identity) => ({
      fetch: fetchVia(docIpfs),
      upload: uploadVia(docIpfs),
      submit: async (tx: Parameters<AccountingNode['submitOrThrow']>[0]) => {
        for (const c of tx.causes) await confirmed(c)
        await accounting[Math.floor(Math.random() * accounting.length)]!.submitOrThrow(tx)
      },
      hasPaid: async (u: Uint8Array) => await credit.hasPaid(u),
      now,
      rng,
      id: d.id
    })
    const onDoctor = (name: string) => (e: DoctorEvent): void => {
      if (e.type === 'error') log(`[${name}] ${e.htxI.slice(0, 12)}… ${e.error.message}`)
      if (e.type === 'submitted') log(`[${name}] diagnosis ${e.severity} for ${e.causes[0]!.slice(0, 12)}… submitted to Docchain`)
      if (e.type === 'queued') log(`[${name}] ${e.severity} batch queued for review on the doctor page`)
    }
    const aiDoctor = new DoctorNode(ai, doctorIo(ai), { mode: 'ai', onEvent: onDoctor('AI doctor') })
    const humanDoctor = new DoctorNode(human, doctorIo(human), { mode: 'human', onEvent: onDoctor('human doctor') })

    // the patient's own confirmed tx_IoTs, so Dblocks from a previous run link to them
    for (const { txid } of await core.store.userTxs(user.id)) {
      const tx = await core.store.confirmedTx(txid)
      if (tx?.kind === 'iot' && toHex(tx.user) === toHex(user.id)) ownIoT.set(toHex(txid), tx)
    }
    await replayDocchain()
    // Docchain commits: the patient reads its diagnoses, credit is consumed
    accounting[0]!.onCommit = (block) => {
      docchain.onDblock(block)
      void (async () => {
        stats.dblocks = block.header.index
        await credit.onDblock(block, userOf)
        for (const d of await reader.onDblock(block)) {
          stats.diagnoses++
          if (d.diagnosis.severity === 'urgent' || d.diagnosis.severity === 'emergency') stats.urgent++
          log(`[patient] Dblock ${block.header.index}: ${d.diagnosis.severity} diagnosis — ${d.diagnosis.findings.map((f) => f.text).join('; ') || 'no findings'} (certificate verified)`)
        }
        for (const w of waiters.filter((x) => stats.diagnoses >= x.n)) { waiters.splice(waiters.indexOf(w), 1); w.resolve() }
      })().catch((err: Error) => { log(`[patient] ${err.message}`) })
    }

    // Userchain feed: mempool (real-time path) and connected blocks
    const feed = async (tx: Tx): Promise<void> => {
      if (tx.kind === 'iot' && toHex(tx.user) === toHex(user.id)) ownIoT.set(toHex(txId(tx)), tx)
      for (const s of storage) void s.onTx(tx, [hubIpfs.multiaddrs[0]!.toString()]).catch(() => {})
      await aiDoctor.onTx(tx)
      await humanDoctor.onTx(tx)
    }
    core.on('tx', (id: string) => {
      stats.mempool = core.mempool.list().length
      const e = core.mempool.get(id)
      if (e !== undefined) { if (e.bt.tx.kind === 'iot') stats.txIoT++; void feed(e.bt.tx) }
    })
    core.on('block', (r: { connected: ReadonlyArray<{ txs: ReadonlyArray<{ tx: Tx }> }> }) => {
      stats.height = core.store.tip.height
      stats.mempool = core.mempool.list().length
      for (const b of r.connected) for (const t of b.txs) void feed(t.tx)
    })

    // Healthcoin: the hub mines, and keeps the patient's prepaid credit topped up
    let paying = false
    const topUp = async (): Promise<void> => {
      if (paying) return
      paying = true
      try {
        const s = await credit.state(user.id)
        const account = core.store.account(user.id)
        if (s.credit < 5 * DIAGNOSIS_PRICE && account.balance >= 20 * DIAGNOSIS_PRICE) {
          const pending = core.mempool.list().some((e) => e.bt.tx.kind === 'coin' && toHex(e.bt.tx.from) === toHex(user.id))
          if (!pending) {
            const tip = core.store.tip.hex
            const r = await core.submitTx(buildTxCoin(user, { to: consortium.id, amount: 20 * DIAGNOSIS_PRICE, fee: 0, nonce: account.nonce }))
            if (r.accepted) log(`[patient] prepaid ${20 * DIAGNOSIS_PRICE} Healthcoin to the consortium`)
            // the second miner's branch can take the block that paid the patient while the transfer is checked: the next tip retries
            else if (core.store.tip.hex !== tip) log(`[patient] payment deferred: Userchain moved to another tip while it was checked (${r.reason})`)
            else throw new Error(`hub refused its own coin: ${r.reason}`)
          }
        }
      } catch (err) {
        log(`[patient] payment: ${(err as Error).message}`)
      } finally { paying = false }
    }
    // the consortium pays each doctor what it earned per committed diagnosis (§IV-B4, roles/consortium/settlement.ts)
    const settle = settler(core, consortium, credit, () => [ai.id, human.id])
    // scheduled IoT-key rotation against offline attacks (§IV-B5); the devnet rotates every 10 minutes
    const rotation = scheduleRotation({ keys, publish, checkEveryMs: 30_000, log: (line) => { log(`[patient] ${line}`) } })
    stoppers.push(async () => { rotation.stop() })
    core.on('tip', () => { void topUp(); void settle() })
    core2.on('tip', () => { stats.height2 = core2.store.tip.height })

    // ---- hub: ingest with its MQTT broker, Node-RED carrying the pipeline, web pages ----
    const ingestSvc = await startIngestService({ dataDir: join(dir, 'hub'), hubId: 'hub', mqttPort: 0, mqttHost: '127.0.0.1', windowMs: 30_000 })
    stoppers.push(async () => { await ingestSvc.close() })
    const ingest = ingestSvc.ingest
    const userName = toHex(user.id).slice(0, 16)
    ingest.on('reading', () => { stats.readings++ })
    const devices: Record<string, string> = {}
    for (const [id, sensors] of [['ox-1', ['hr', 'spo2']], ['th-1', ['temp']]] as const) {
      const have = ingest.registry.get(id)
      if (have === undefined) devices[id] = (await ingest.registry.add(id, { user: userName, sensors: [...sensors], secret: toHex(sha256(concatBytes(seed, utf8Bytes(`device:${id}`)))).slice(0, 32) })).secret
      else devices[id] = toHex(sha256(concatBytes(seed, utf8Bytes(`device:${id}`)))).slice(0, 32)
    }
    const nodeRed = await startNodeRed({
      dataDir: join(dir, 'hub'),
      port: opts.port ?? 1880,
      runtimes: { hub: hubRuntime({ identity: user, keys, core, miner, ipfs: hubIpfs, storageNodes: storageAddrs, replication: 2, ingest, user: userName, rng }) },
      print: () => {}
    }).catch((err: unknown) => { throw listenError(err, '--port') })
    stoppers.push(async () => { await nodeRed.stop() })
    const vitals = recentReadings(ingest)
    stoppers.push(async () => { vitals.close() })
    ingest.on('batch', () => { stats.batches++ })
    const patientWeb = await createWebRouter({
      dataDir: join(dir, 'hub'),
      patient: patientModel({
        keys, reader,
        publishKey: async (tx) => { await publish(tx) },
        keyRotation: true,
        balance: () => core.store.account(user.id).balance,
        readings: vitals.readings,
        devices: () => ingest.registry.list().map((d) => deviceView(d)),
        doctors: () => registeredDoctors(docchain.registry, (id) => id === toHex(ai.id) ? 'AI analyzer (NEWS2)' : id === toHex(human.id) ? 'Dr. Human' : `doctor ${id.slice(0, 12)}…`),
        payments: userPayments(core, user.id, { to: consortium.id })
      }),
      log
    })
    const doctorWeb = await createWebRouter({ dataDir: join(dir, 'doctor'), doctor: doctorModel({ node: humanDoctor, name: 'Dr. Human', recent: (u) => [...ownIoT.values()].filter((tx) => toHex(tx.user) === toHex(u)).slice(-6) }), log })
    nodeRed.app.use('/doctor', doctorWeb.router)
    nodeRed.app.use('/', patientWeb.router)

    // ---- devices: the real sketches on virtual boards ----
    const brokerPort = ingestSvc.broker!.port
    const episode = opts.episodeSeconds ?? 60
    const sketch = async (name: string): Promise<string> => {
      const file = join(DIST_DIR, `${name}.js`)
      if (!existsSync(file)) buildSketch(name)
      return await readFile(file, 'utf8')
    }
    const oxBoard = new VirtualEspruino({ model: new PatientModel('desaturation', { onset: episode, ramp: 20 }), write: () => {}, board: 'ESP32' })
    oxBoard.run(`var HC_CONFIG = ${JSON.stringify({ device: 'ox-1', hub: 'hub', mqttHost: '127.0.0.1', mqttPort: brokerPort, secret: devices['ox-1'] })};\n${await sketch('oximeter-wifi')}`)
    const splitter = new LineSplitter()
    const thBoard = new VirtualEspruino({
      model: new PatientModel('normal'),
      board: 'PICO',
      write: (bytes) => {
        for (const p of splitter.push(Buffer.from(bytes, 'latin1'))) {
          if (p.kind === 'line' && p.text.startsWith('{')) void ingest.submit(p.text.replace(/\r$/, ''), { source: 'serial' })
        }
      }
    })
    thBoard.run(`var HC_CONFIG = ${JSON.stringify({ device: 'th-1' })};\n${await sketch('thermometer')}`)
    stoppers.push(async () => { oxBoard.close(); thBoard.close() })

    // an Arduino Uno running the real StandardFirmata (avr8js), TMP36 on A0, read over a pty by johnny-five
    if (opts.firmata === true) {
      if (!haveSocat()) log('[devnet] socat is not installed: the StandardFirmata board is left out (apt-get install socat)')
      else {
        const pair = await openPtyPair()
        stoppers.push(async () => { await pair.close() })
        const uno = await unoOnPty(pair.board, new PatientModel('normal'))
        stoppers.push(async () => { await uno.close() })
        if (ingest.registry.get('uno-1') === undefined) await ingest.registry.add('uno-1', { user: userName, sensors: ['temp'] })
        // TMP36: V = 0.5 + 0.01·T, ADC 0…1023 over 0…5 V → T from −50 to 450 °C
        const firmata = new FirmataSource(ingest, { path: pair.host, device: 'uno-1', channels: [{ pin: 'A0', type: 'temp', range: [-50, 450], decimals: 1 }], rateMs: 5000, timeoutMs: 60_000 })
        // An optional board, brought up in the background: on a loaded machine the emulated
        // Uno can take most of its 60 s handshake timeout, and the devnet's pages must not wait
        // for it (a CI run saw `npm start` print no URL within 60 s of a resume).
        let stopped = false
        const up = firmata.start().then(() => {
          if (!stopped) log('[devnet] StandardFirmata Uno (avr8js) on a pty: temperature on A0 every 5 s')
        }, (err: Error) => {
          if (!stopped) log(`[devnet] the StandardFirmata Uno did not come up (${err.message.split('\n')[0]}): left out`)
        })
        // (the pty and the board close after this, so a handshake still pending fails at once)
        stoppers.push(async () => { stopped = true; await firmata.stop(); void up.then(async () => { await firmata.stop() }) })
      }
    }

    miner.start()
    miner2.start()
    const origin = nodeRed.origin
    const logins = {
      ...(patientWeb.created === undefined ? {} : { web: patientWeb.created }),
      ...(nodeRed.created === undefined ? {} : { editor: nodeRed.created })
    }
    if (doctorWeb.created !== undefined) log(`doctor page login: ${doctorWeb.created.username} / ${doctorWeb.created.password}`)
    return {
      urls: { patient: `${origin}/`, doctor: `${origin}/doctor/`, editor: `${origin}/red/` },
      logins,
      stats,
      user,
      core,
      reader,
      credit,
      consortium,
      doctors: { ai, human },
      registry: docchain.registry,
      submitRecord: async (tx) => await accounting[0]!.submit(tx),
      diagnosed: async (n) => { if (stats.diagnoses >= n) return; await new Promise<void>((resolve) => waiters.push({ n, resolve })) },
      stop
    }
  } catch (err) {
    await stop()
    throw err
  }
}

async function main (): Promise<void> {
  const { values } = parseArgs({
    options: {
      'data-dir': { type: 'string', default: '.devnet' },
      fresh: { type: 'boolean', default: false },
      port: { type: 'string', default: '1880' },
      duration: { type: 'string' },
      episode: { type: 'string', default: '60' },
      quiet: { type: 'boolean', default: false },
      'no-firmata': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false }
    }
  })
  if (values.help) { console.log(HELP); return }
  const port = Number(values.port)
  const duration = values.duration === undefined ? undefined : Number(values.duration)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port: ${values.port} is not a port number`)
  if (duration !== undefined && !(duration > 0)) throw new Error(`--duration: ${values.duration} is not a positive number of seconds`)
  if (values.fresh) await rm(values['data-dir'], { recursive: true, force: true })
  console.log(`starting the Healthchain devnet in ${resolve(values['data-dir'])} …`)
  const net = await startDevnet({ dataDir: values['data-dir'], port, episodeSeconds: Number(values.episode), firmata: !values['no-firmata'] })
  console.log(`\nHealthchain devnet is up.
  patient page   ${net.urls.patient}
  doctor page    ${net.urls.doctor}
  Node-RED       ${net.urls.editor}`)
  if (net.logins.web !== undefined) console.log(`  page login     ${net.logins.web.username} / ${net.logins.web.password}   (shown once; stored hashed)`)
  if (net.logins.editor !== undefined) console.log(`  editor login   ${net.logins.editor.username} / ${net.logins.editor.password}   (shown once; stored hashed)`)
  console.log(`  user ID        ${toHex(net.user.id)}\n`)
  const progress = values.quiet
    ? undefined
    : setInterval(() => {
      const s = net.stats
      console.log(`blocks ${s.height} (core 2: ${s.height2})  mempool ${s.mempool}  readings ${s.readings}  tx_IoT ${s.txIoT}  Dblocks ${s.dblocks}  diagnoses ${s.diagnoses} (${s.urgent} urgent)  rss ${Math.round(process.memoryUsage().rss / 2 ** 20)} MB`)
    }, 5000)
  let stopping = false
  const shutdown = async (code: number): Promise<void> => {
    if (stopping) return
    stopping = true
    if (progress !== undefined) clearInterval(progress)
    console.log('stopping …')
    // Work cut short by the stop (a store closed under a pending write) may still fail: it is
    // reported, and Ctrl-C still ends with the stop's own exit code instead of a crash.
    const late = (err: unknown): void => { console.error(`devnet: while stopping: ${(err as Error)?.stack ?? String(err)}`) }
    process.on('unhandledRejection', late)
    process.on('uncaughtException', late)
    await net.stop()
    process.exit(code) // Node-RED keeps a session timer alive after stop (see nodered/embed.ts)
  }
  process.on('SIGINT', () => { void shutdown(0) })
  process.on('SIGTERM', () => { void shutdown(0) })
  if (duration !== undefined) setTimeout(() => { void shutdown(0) }, duration * 1000)
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err: Error) => {
    console.error(`devnet: ${err.message}`)
    process.exit(1)
  })
}
