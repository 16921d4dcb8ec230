/**
 * The production hub (DESIGN §1): a Raspberry Pi that is a user node and a
 * core user node. One process runs ingest (real serial ports, embedded or
 * external MQTT broker), the core node on Userchain with libp2p (and,
 * optionally, the miner), IPFS on the same libp2p node, Node-RED carrying the
 * pipeline (flows/hub.json), and the patient page. With a `docchain`
 * section it follows Docchain (paper §IV-B3, roles/docchain/follower.ts):
 * every committed Dblock verified against the accounting members, its
 * user's diagnoses opened (§IV-B5) and listed on the patient page; only the
 * Dblocks holding them are kept, so after a restart the page shows them
 * again and Docchain is followed on from where it was. `healthchain hub
 * --config <file>` starts it; hub/hub.example.json documents every field.
 */
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { TxVerdict } from './app/hub-chain.ts'
import { fromHex, HealthchainError, InvalidFieldError, NETWORKS, toHex, txId, type DoctorKey, type Identity, type NetworkParams, type Tx, type TxKey } from './core/index.ts'
import { levelSizes } from './hub-config.ts'
import { cidFromDigest, IpfsNode, PinningClient } from './ipfs/index.ts'
import { UserKeys } from './roles/user/keys.ts'
import { openEmergency, type EmergencyService } from './app/emergency.ts'
import { startBackups, type BackupService } from './app/backup.ts'
import { destroyKeyFiles, withdrawConsent, withdrawnAt, type WithdrawalReport } from './app/erasure.ts'
import type { ArchiveKey } from './store/backup-archive.ts'
import { openAlerts, type AlertsService } from './app/alerts.ts'
import { ClockCheck, type ClockStatus } from './app/clock.ts'
import { ClockOffError } from './app/errors.ts'
import { performance } from 'node:perf_hooks'
import { AlertsSettingsBody, CHANNELS, settingsFromConfig } from './alerts/settings.ts'
import { parseWith, z } from './config/schema.ts'
import { EpochCommitter, pendingEpochsPath } from './roles/user/commit.ts'
import { scheduleRotation } from './roles/user/rotation.ts'
import { firstTxStamper } from './roles/user/stamp.ts'
import { PatientReader } from './roles/user/diagnoses.ts'
import { DocchainFollower, type DocchainFollowerStats } from './roles/docchain/follower.ts'
import { registryOf } from './config/docchain.ts'
import { onPreliminary } from './net/preliminary.ts'
import { startIngestService } from './ingest/hub.ts'
import { openBatchKeys } from './ingest/batch-keys.ts'
import type { SubmitContext } from './ingest/pipeline.ts'
import { LEAN_PALETTE_EXCLUDES, startNodeRed } from './nodered/embed.ts'
import { hubRuntime } from './nodered/wire.ts'
import { DurableBatches, type Stage } from './ingest/batches.ts'
import { createWebRouter, deviceView, lastDrops, patientModel, recentReadings, registeredDoctors, userPayments, type DeviceView, type PatientModel } from './web/index.ts'
import { DoctorBook } from './app/doctor-book.ts'
import { createFhirRouter, hubFhirSource } from './fhir/index.ts'
import { batchesService, devicesService, diagnosesService, keysService, pipelineService, type UserchainStatus, type BatchesService, type ChainService, type CoinService, type DevicesService, type DiagnosesService, type KeysService, type MinerService, type PipelineService } from './app/hub-service.ts'
import type { DiagnosisEvent, HealthchainRuntime } from './nodered/runtime.ts'
import { startApiServer, type ApiStats } from './api/server.ts'
import { hubRoutes } from './api/hub-routes.ts'
import express from 'express'
import { isLoopbackHost, type HubConfig } from './hub-config.ts'
import { loadOrCreateTls } from './store/tls.ts'
import { webServer } from './web/listen.ts'
import { listenError, portFree } from './config/ports.ts'

export { loadHubConfig, parseHubConfig, validateHubConfig, type HubConfig } from './hub-config.ts'

/**
 * The hub's service layer: what its pages call, and what a local control
 * API exposes as it is (DESIGN §3.1). Plain async methods returning plain
 * JSON-able data; every state change of the hub goes through one of them.
 */
export interface HubService {
  /** Where the hub is: Userchain tip and peers, the miner, Docchain, paired devices. */
  status: () => Promise<HubStatus>
  /** The patient's view and actions: the page's data, grant and revoke (tx_key published once the node accepts it), FHIR reports. */
  readonly patient: PatientModel
  /** Key epochs: grant, revoke, rotate (the page's grant and revoke are these). */
  readonly keys: KeysService
  readonly devices: DevicesService
  readonly coin: CoinService
  readonly chain: ChainService
  /** A transaction signed elsewhere (another wallet's transfer to this user, say), into the node's mempool as gossip would bring it. */
  readonly txs: { readonly submit: (tx: Tx) => Promise<TxVerdict> }
  readonly miner: MinerService
  /** The durable batches (closed → sealed → uploaded → tx_IoT accepted → confirmed) with the leases the batch nodes take them under. */
  readonly batches: BatchesService
  /** The upload path's steps (seal, upload, tx_IoT, readings) as the hub's Node-RED runtime does them. */
  readonly pipeline: PipelineService
  /** The user's diagnoses as Docchain delivers them, and opening one with dk_ij (the diagnosis in node's). */
  readonly diagnoses: DiagnosesService
  /** Emergency access: the patient's opt-in and every access Docchain audited (README "Emergency access"). */
  readonly emergency: EmergencyService
  /** Backups of the data dir: one now, and the schedule's status (README "Backup and restore"). */
  readonly backup: BackupService
  /** Alerts out (README "Alerts out"): MQTT for Home Assistant, e-mail, webhook; their settings, counters and tests. */
  readonly alerts: AlertsService
  /** Withdrawing consent (README "Withdrawing consent (erasure)"): final; the hub stops afterwards and destroys its keys. */
  readonly erasure: ErasureService
}

export interface ErasureService {
  /** Whether this data dir's patient withdrew consent (null: not). */
  status: () => Promise<{ readonly withdrawn: number | null }>
  /** Signs and sends the withdrawal, then stops the hub, which destroys the keystore and batch keys; refused without `confirm`. */
  withdraw: (o: { readonly confirm: boolean }) => Promise<WithdrawalReport>
}

export interface HubStatus {
  readonly user: string
  readonly network: string
  readonly userchain: UserchainStatus
  /** Is the hub's clock in step with the network (app/clock.ts): while not, it signs nothing, and says why. */
  readonly clock: ClockStatus
  readonly mining: boolean
  readonly docchain: DocchainStatus | null
  readonly devices: number
  /** Requests the control API answered and refused (by reason). */
  readonly api: ApiStats | null
  /** Lines accepted and dropped (by error code) since start; each paired device with its drops by reason and the last message. */
  readonly ingest: { readonly accepted: number, readonly dropped: Readonly<Record<string, number>>, readonly devices: readonly DeviceView[] }
  /** Readings acknowledged but not yet in a closed batch, and the open batches by stage (ingest/batches.ts). */
  readonly batches: { readonly pendingReadings: number } & Readonly<Record<Stage, number>>
}

export interface Hub {
  readonly service: HubService
  readonly urls: { readonly patient: string, readonly editor: string }
  /** The certificate the page, the editor and mqtts present (null with TLS off): its SHA-256 fingerprint and the CA file devices trust. */
  readonly tls: { readonly fingerprint: string, readonly spki: string, readonly caFile?: string, readonly ca?: string } | null
  readonly logins: { readonly web?: { username: string, password: string }, readonly editor?: { username: string, password: string } }
  readonly peer: string
  readonly mqttPort: number | null
  /** The control API: its Unix socket, and its loopback URL when `api.tcp` is set. */
  readonly api: { readonly socket: string, readonly url: string | null }
  /** the mqtts listener's port (null without one) */
  readonly mqttsPort: number | null
  /** Where this hub is on Docchain (null without a `docchain` section) and how many diagnoses its page lists. */
  docchain: () => DocchainStatus | null
  stop: () => Promise<void>
}

export interface DocchainStatus extends DocchainFollowerStats {
  /** Height of the last Dblock verified and read. */
  readonly height: number
  /** The user's certified diagnoses read so far. */
  readonly diagnoses: number
}

export interface HubOptions {
  /** Docchain warnings (refused Dblocks, unreachable members); default stderr. */
  readonly log?: (line: string) => void
  /** What the user's data goes through: each of the user's tx_IoT once a Ublock of the best chain holds it, each line ingest dropped and why. */
  readonly activity?: (line: string) => void
  /** The doctors known by identity record (default: <dataDir>/doctors.json). */
  readonly book?: DoctorBook
  /** Backups (app/backup.ts): the keystore passphrase's archive key for scheduled ones and the config file to include. */
  readonly backup?: { readonly key: ArchiveKey | null, readonly configFile?: string }
  /** The patient withdrew consent: the hub has stopped and destroyed its keys (the CLI exits). */
  readonly onWithdrawn?: (report: WithdrawalReport) => void
  /** The wall clock the hub signs with, ms since 1970 (default Date.now); a test gives a wrong one to see the hub refuse to sign. */
  readonly clock?: () => number
}

/** Starts every part of the hub for `user`; `doctors` resolves doctors' X25519 keys (the doctor book). */
export async function startHub (cfg: HubConfig, user: Identity, doctors: (id: Uint8Array) => DoctorKey | undefined, opts: HubOptions = {}): Promise<Hub> {
  const log = opts.log ?? ((line: string) => { process.stderr.write(`${line}\n`) })
  const params: NetworkParams = NETWORKS[cfg.network]
  const rng = (n: number): Uint8Array => new Uint8Array(randomBytes(n))
  const wall = opts.clock ?? Date.now
  const nowSec = (): number => Math.floor(wall() / 1000)
  const stops: Array<() => Promise<unknown>> = []
  // after a withdrawal of consent the key files go last, once nothing holds them open (app/erasure.ts)
  // one stop, however many callers (the withdrawal's own and the process's)
  let withdrawn = false
  let stopping: Promise<void> | undefined
  const stop = async (): Promise<void> => {
    stopping ??= (async () => {
      for (const s of stops.splice(0).reverse()) await s().catch(() => {})
      if (withdrawn) await destroyKeyFiles(cfg.dataDir)
    })()
    await stopping
  }
  try {
    // the Userchain: a core user node (all of it, mining if asked), or a light one (headers and the user's own proven transactions)
    // each mode loads only its own chain code: a light hub never loads the core node, its LevelDB chain store or the miner
    const chain = cfg.mode === 'light'
      ? await (await import('./app/light-hub.ts')).startLightHubChain(cfg, params, user, stops, log)
      : await (await import('./app/hub-chain.ts')).startCoreHubChain(cfg, params, user, stops, nowSec)
    const net = chain.net
    // the clock: compared with the chain's median time past and other miners' Ublocks; while off, the hub signs nothing (app/clock.ts)
    const warnings: string[] = []
    let onInStep: (() => void) | null = null
    const clockWarning = (reason: string): string => `${reason} Until then the hub signs nothing: no readings are recorded on Userchain, no key change, no payment.`
    const clock = new ClockCheck({
      params,
      now: nowSec,
      mono: () => performance.now(),
      recentTimes: chain.recentTimes,
      log,
      onChange: (s) => {
        const i = warnings.findIndex((w) => w.startsWith('the hub\'s clock'))
        if (s.ok && i >= 0) { warnings.splice(i, 1); onInStep?.() }
        if (!s.ok) warnings.splice(i < 0 ? warnings.length : i, 1, clockWarning(s.reason!))
      }
    })
    const offBlock = chain.onBlock((gtime, mine) => { clock.observe(gtime, mine) })
    const clockTimer = setInterval(() => { clock.check() }, 5000)
    clockTimer.unref()
    stops.push(async () => { clearInterval(clockTimer); offBlock() })
    clock.check()
    /** The time a signature of `what` carries, once the clock is in step (else ClockOffError). */
    const signNow = (what: string) => (): number => { clock.assertCanSign(what); return nowSec() }
    // a light hub uploads to and fetches from storage nodes over the store protocol only; serving Kubo peers by bitswap is left to core and storage nodes
    const ipfs = await IpfsNode.create({ dataDir: join(cfg.dataDir, 'ipfs'), libp2p: net.libp2p, leveldb: levelSizes(cfg), bitswap: cfg.mode !== 'light' })
    stops.push(async () => { await ipfs.stop() })
    // one certificate for the page, the editor and mqtts (store/tls.ts)
    const embedded = 'embedded' in cfg.broker ? cfg.broker.embedded : undefined
    const needTls = cfg.http.tls !== false || embedded?.tls !== undefined
    const tls = needTls
      ? await loadOrCreateTls(cfg.dataDir, { hosts: [cfg.http.host, cfg.editor.host, ...(embedded?.tls === undefined ? [] : [embedded.tls.host])], ...(typeof cfg.http.tls === 'object' ? { configured: cfg.http.tls } : {}) })
      : undefined
    if (embedded !== undefined && embedded.plainOnLan && !isLoopbackHost(embedded.host)) warnings.push(`devices on the LAN publish over plain MQTT (${embedded.host}:${embedded.port}): their secrets and readings cross the network in clear. Use the mqtts listener (broker.embedded.tls) and set plainOnLan to false.`)
    const pwFile = 'passwordFile' in cfg.broker ? cfg.broker.passwordFile : undefined
    const password = pwFile === undefined ? undefined : (await readFile(pwFile, 'utf8').catch((err: NodeJS.ErrnoException) => { throw new InvalidFieldError('broker.passwordFile', `${pwFile}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`) })).trim()
    // readings at rest are sealed under per-batch keys wrapped under the identity's secret, destroyed once their batch is confirmed (ingest/batch-keys.ts)
    const batchKeys = await openBatchKeys(cfg.dataDir, user)
    stops.push(async () => { await batchKeys.close() })
    const ingest = await startIngestService({
      dataDir: cfg.dataDir,
      batchKeys,
      hubId: cfg.hubId,
      ...('embedded' in cfg.broker
        ? { mqttHost: cfg.broker.embedded.host, mqttPort: cfg.broker.embedded.port, ...(cfg.broker.embedded.tls === undefined || tls === undefined ? {} : { mqttTls: { ...cfg.broker.embedded.tls, key: tls.key, cert: tls.cert } }) }
        : { externalBroker: { url: cfg.broker.url, ...(cfg.broker.username === undefined ? {} : { username: cfg.broker.username }), ...(password === undefined ? {} : { password }) } }),
      serial: cfg.serial.map((s) => ({ ...s }))
    }).catch((err: unknown) => { throw listenError(err, 'broker.embedded.port') })
    stops.push(async () => { await ingest.close() })
    // the vitals the patient page shows: what ingest accepted, newest kept
    const vitals = recentReadings(ingest.ingest)
    stops.push(async () => { vitals.close() })
    // why each device's lines were dropped: the page and the status show it
    const drops = lastDrops(ingest.ingest)
    stops.push(async () => { drops.close() })
    const devices = (): DeviceView[] => ingest.ingest.registry.list().map((d) => deviceView(d, drops.last))
    // alerts out: findings at or above the settings' severity, silent sensors, and the vitals for Home Assistant (app/alerts.ts)
    const alerts = await openAlerts({
      dataDir: cfg.dataDir,
      user,
      ...(cfg.alerts === undefined ? {} : { config: await settingsFromConfig(cfg.alerts, cfg.hubId) }),
      node: cfg.hubId,
      devices: () => ingest.ingest.registry.list().map((d) => d.id),
      log
    })
    ingest.ingest.on('reading', alerts.reading)
    stops.push(async () => { ingest.ingest.off('reading', alerts.reading); await alerts.stop() })
    // doctors this user may grant: the doctor book, else the registry folded from Docchain
    let follower: DocchainFollower | null = null
    const book = opts.book ?? await DoctorBook.load(cfg.dataDir)
    const lookup = (id: Uint8Array): DoctorKey | undefined => doctors(id) ?? book.lookup(id) ?? follower?.registry.lookup(id)
    // emergency access: opted in or not, the accounting nodes' keys from the registry folded from Docchain (app/emergency.ts)
    let rotateNow: (() => Promise<{ readonly epoch: number, readonly tx: string }>) | null = null
    // (until the follower runs, the genesis registry of the config: its accounting nodes' records)
    const genesisRegistry = cfg.docchain === undefined ? null : registryOf(cfg.docchain.registry)
    const emergency = await openEmergency({ dataDir: cfg.dataDir, user, optIn: cfg.emergencyAccess.optIn, registry: () => follower?.registry ?? genesisRegistry, rotate: () => rotateNow?.() ?? null })
    const keys = UserKeys.fromChain(user, await chain.keyHistory(), {
      rng, now: nowSec, directory: { lookup }, escrow: emergency.policy, ...(cfg.keyRotationDays > 0 ? { rotationSeconds: cfg.keyRotationDays * 86_400 } : {})
    })
    // the user's tx_keys (grants, revocations, scheduled rotations) go to the core node, which gossips them
    // its first one stamped when the network's relay policy asks for it, or peers would not relay it (roles/user/stamp.ts)
    // (a tx_key built while the clock is off is dropped before it is stored or broadcast: the stamp step asks the clock first)
    const stamper = firstTxStamper(user, chain.stampView, { rng, doctors: { lookup }, log })
    const stampFirst = async (tx: TxKey): Promise<TxKey> => { clock.assertCanSign('a tx_key'); return await stamper(tx) }
    const publishKey = async (tx: TxKey): Promise<void> => { const r = await chain.submit(await stampFirst(tx)); if (!r.accepted) throw new InvalidFieldError('tx_key', r.reason ?? 'refused') }
    // key epochs are built without touching the keys, stamped if need be, persisted, broadcast, applied once accepted, re-broadcast until mined (roles/user/commit.ts)
    const committer = await EpochCommitter.open({ keys, chain: chain.epochs, file: pendingEpochsPath(cfg.dataDir), stamp: stampFirst })
    committer.on('error', (err) => { log(`key epochs: ${err.message}`) })
    committer.on('reissued', (p) => { log(`key epochs: the ${p.kind} tx_key expired unmined and was issued again as epoch ${p.epoch}`) })
    stops.push(async () => { committer.stop() })
    // the first start publishes key epoch 1, with no doctors (§IV-B5): readings are sealed from the first batch on, before any grant
    // (with the clock off it waits: epoch 1 is published once the clock is back in step)
    const init = async (): Promise<void> => { if (keys.current === null) await committer.commit({ kind: 'init' }) }
    await init().catch((err: unknown) => {
      if (!(err instanceof ClockOffError)) throw err
      onInStep = () => { onInStep = null; void init().catch((e: Error) => { log(`key epochs: ${e.message}`) }) }
    })
    // the paper's periodic key update (§IV-B5), checked every 10 minutes
    if (cfg.keyRotationDays > 0) {
      const rotation = scheduleRotation({ keys, commit: async () => (await committer.commit({ kind: 'rotate' })).tx, checkEveryMs: 600_000, log })
      stops.push(async () => { rotation.stop() })
    }
    const keysSvc = keysService({ committer, book })
    rotateNow = keys.current === null ? null : async () => { const r = await keysSvc.rotate(); return { epoch: r.epoch, tx: r.tx } }
    // the durable life of each closed batch: sealed, uploaded, tx_IoT accepted, confirmed (ingest/batches.ts)
    const batches = new DurableBatches({ ingest: ingest.ingest, identity: user, chain: { ...chain.batches, now: signNow('a tx_IoT') }, confirmations: cfg.batchConfirmations, users: [toHex(user.id)] })
    batches.on('error', (err) => { log(`batches: ${err.message}`) })
    stops.push(async () => { batches.stop() })
    // the user's diagnoses the Docchain follower verified and read, as they come (the diagnosis in node's source)
    const diagnosisListeners = new Set<(e: DiagnosisEvent) => void>()
    const runtime: HealthchainRuntime = {
      ...hubRuntime({ identity: user, keys, ...chain.runtime, ipfs, storageNodes: [...cfg.storageNodes], pinningServices: await pinningClients(cfg, user), replication: cfg.replication, ingest: ingest.ingest, user: toHex(user.id), rng, batches, epochs: committer }),
      // the keys node's grant and revoke are the key service's, as the CLI's and the page's
      keyEpochs: keysSvc,
      // the flow's own transactions carry the clock-checked time too
      now: signNow('a transaction of the flow'),
      diagnoses: { subscribe: (cb) => { diagnosisListeners.add(cb); return () => { diagnosisListeners.delete(cb) } } }
    }
    const httpsOn = cfg.http.tls !== false && tls !== undefined
    // the editor's login is made (and shown once) before Node-RED listens: a port in use must stop the start before that
    for (const [field, host, port] of [['http.port', cfg.http.host, cfg.http.port], ['editor.port', cfg.editor.host, cfg.editor.port]] as const) {
      const busy = await portFree(field, host, port)
      if (busy !== null) throw busy
    }
    const red = await startNodeRed({
      dataDir: cfg.dataDir,
      // the editor has its own listener, loopback by default (reached through an SSH tunnel)
      host: cfg.editor.host,
      port: cfg.editor.port,
      ...(httpsOn ? { tls: { key: tls.key, cert: tls.cert } } : {}),
      runtimes: { hub: runtime },
      ...(cfg.memory.nodeRedPalette === 'lean' ? { nodesExcludes: LEAN_PALETTE_EXCLUDES } : {}),
      print: () => {}
    }).catch((err: unknown) => { throw listenError(err, 'editor.port') })
    stops.push(async () => { await red.stop() })
    // the user's own tx_IoT, confirmed or still in the mempool: the causes a diagnosis of theirs cites
    const ownIoT = chain.ownIoT
    const members = (cfg.docchain?.members ?? []).map((m, i) => fromHex(`docchain.members[${i}].id`, m.id))
    const reader = new PatientReader(keys, {
      ownIoT,
      fetch: async (d) => await ipfs.get(cidFromDigest(d), { providers: [...cfg.storageNodes] }),
      accountingNodes: () => members
    })
    if (cfg.docchain !== undefined) {
      const dc = cfg.docchain
      const f = await DocchainFollower.open({
        net,
        members,
        genesisTime: dc.genesisTime,
        registry: registryOf(dc.registry),
        peers: dc.members.flatMap((m) => (m.addr === undefined ? [] : [m.addr])),
        dir: join(cfg.dataDir, 'docchain'),
        // a Dblock holding a diagnosis of this user is kept; the rest of Docchain is not
        onDblock: async (b) => {
          const found = await reader.onDblock(b)
          for (const d of found) {
            const tx = b.txs.find((x) => x.tx.kind === 'diag' && toHex(txId(x.tx)) === d.htxd)?.tx
            if (tx?.kind === 'diag') for (const l of diagnosisListeners) l({ tx, epoch: d.causes[0]!.epoch })
          }
          for (const d of found) alerts.finding(d, true)
          for (const d of found) opts.activity?.(`certified diagnosis: tx_diag ${d.htxd} (${d.diagnosis.severity}) by doctor ${d.doctor.slice(0, 12)}… in Dblock ${d.dblock}, certificate verified`)
          return found.length > 0
        },
        log,
        pollMs: dc.pollSeconds * 1000
      })
      follower = f
      stops.push(async () => { await f.stop() })
      // the diagnoses read before a restart, from the Dblocks kept for them (certificates checked again)
      for (const b of await f.kept()) await reader.onDblock(b).catch((err: Error) => { log(`docchain: kept Dblock ${b.header.index}: ${err.message}`) })
      f.start()
      // the real-time path: a doctor's signed finding on this user's batch, shown as preliminary until Docchain certifies it
      stops.push(async () => { unsubscribe() })
      const unsubscribe = onPreliminary(net, params.name, {
        wanted: async (tx) => f.registry.status(tx.doctor) === 'active' && await ownIoT(tx.causes[0]!) !== undefined,
        onFinding: async (tx) => {
          const d = await reader.onPreliminary(tx)
          if (d !== undefined) alerts.finding(d, false)
          if (d !== undefined) opts.activity?.(`preliminary finding: tx_diag ${d.htxd} (${d.diagnosis.severity}) signed by doctor ${d.doctor.slice(0, 12)}…, not yet on Docchain`)
        }
      })
    }
    const page = patientModel({
        keys,
        reader,
        publishKey,
        pendingEpochs: () => committer.pending(),
        keyRotation: cfg.keyRotationDays > 0,
        balance: chain.balance,
        readings: vitals.readings,
        // the doctors of the registry folded from Docchain (none without a `docchain` section)
        doctors: () => follower === null ? [] : registeredDoctors(follower.registry),
        devices,
        // the user's prepayments to the consortium (§IV-B4), pending and on Userchain
        payments: userPayments(chain.view, user.id, cfg.consortium === undefined ? {} : { to: fromHex('consortium', cfg.consortium) })
    })
    // withdrawing consent: final (app/erasure.ts); the hub stops after answering, and its stop destroys the key files
    const erasure: ErasureService = {
      status: async () => ({ withdrawn: await withdrawnAt(cfg.dataDir) }),
      withdraw: async (o) => {
        const report = await withdrawConsent({
          dataDir: cfg.dataDir, user, keys, libp2p: net.libp2p, ipfs, storageNodes: [...cfg.storageNodes],
          accounting: cfg.docchain === undefined ? null : cfg.docchain.members.flatMap((m) => m.addr === undefined ? [] : [m.addr]),
          now: () => Math.floor(Date.now() / 1000)
        }, o)
        withdrawn = true
        // the answer goes out first; then everything stops and the key files are destroyed
        setImmediate(() => { void stop().then(() => { opts.onWithdrawn?.(report) }, (err: Error) => { log(`withdrawal: stopping: ${err.message}`) }) })
        return report
      }
    }
    // the page's grant and revoke are the service's: one code path for pages, CLI, API and Node-RED
    const patient: PatientModel = {
      ...page,
      page: async () => ({ ...await page.page(), emergency: await emergency.service.status(), backup: await backups.status(), alertsOut: await alerts.service.status(), erasure: await erasure.status() }),
      withdraw: async (o) => await erasure.withdraw(o),
      ...(cfg.backup === undefined ? {} : { backupNow: async () => await backups.now({}) }),
      grant: async (d) => (await keysSvc.grant(d)).epoch,
      revoke: async (d) => (await keysSvc.revoke(d)).epoch,
      setEmergency: emergency.service.setOptIn,
      configureAlerts: async (b) => await alerts.service.configure(parseWith(AlertsSettingsBody, b)),
      testAlert: async (c) => await alerts.service.test(parseWith(z.enum(CHANNELS, { error: 'must be mqtt, email or webhook' }), c))
    }
    // backups of the data dir: the ingest store read through its open handle, one consistent snapshot (app/backup.ts)
    const configFile = opts.backup?.configFile
    const backups = startBackups({
      key: opts.backup?.key ?? null,
      schedule: cfg.backup ?? null,
      log,
      source: async () => ({
        dataDir: cfg.dataDir,
        user: toHex(user.id),
        latestEpoch: (await chain.keyHistory()).filter((k) => chain.epochs.mined(txId(k))).reduce((m, k) => Math.max(m, k.epoch), 0),
        ...(configFile === undefined ? {} : { config: { path: configFile, text: await readFile(configFile, 'utf8') } }),
        open: new Map([['ingest', ingest.ingest.store.db]])
      })
    })
    stops.push(async () => { backups.stop() })
    let api: Awaited<ReturnType<typeof startApiServer>> | null = null
    const docchain = (): DocchainStatus | null => follower === null ? null : { height: follower.height, ...follower.stats, diagnoses: reader.diagnoses.length }
    const service: HubService = {
      patient,
      status: async () => ({
        user: toHex(user.id),
        network: params.name,
        userchain: chain.status(),
        clock: clock.check(),
        mining: chain.mining(),
        docchain: docchain(),
        devices: ingest.ingest.registry.list().length,
        api: api?.stats() ?? null,
        ingest: { accepted: ingest.ingest.counters.accepted, dropped: { ...ingest.ingest.counters.dropped }, devices: devices() },
        batches: { pendingReadings: ingest.ingest.pendingCount(toHex(user.id)), ...await batches.counts() }
      }),
      keys: keysSvc,
      devices: devicesService(ingest.ingest.registry),
      coin: { ...chain.coin, pay: async (r) => { clock.assertCanSign('a payment'); return await chain.coin.pay(r) } },
      chain: chain.chain,
      txs: { submit: chain.submit },
      miner: chain.minerService(runtime.miner!),
      batches: batchesService(batches, runtime.batches!),
      pipeline: pipelineService(runtime),
      diagnoses: diagnosesService(runtime),
      emergency: emergency.service,
      backup: backups,
      erasure,
      alerts: alerts.service
    }
    const server = await startApiServer({ dataDir: cfg.dataDir, name: 'hub', routes: hubRoutes(service), ...(cfg.api?.tcp === undefined ? {} : { tcp: cfg.api.tcp }), log })
    api = server
    stops.push(async () => { await server.close() })
    const web = await createWebRouter({ dataDir: cfg.dataDir, patient: service.patient, warnings })
    const app = express()
    app.disable('x-powered-by')
    // the FHIR API (/fhir): the user's own data, behind the page's login
    app.use('/fhir', createFhirRouter({ source: hubFhirSource({ chain: chain.view, keys, reader, fetch: async (d) => await ipfs.get(cidFromDigest(d), { providers: [...cfg.storageNodes] }) }), web, log }).router)
    app.use('/', web.router)
    const pages = await webServer(app, { host: cfg.http.host, port: cfg.http.port, ...(httpsOn ? { tls: { key: tls.key, cert: tls.cert } } : {}) }).listen().catch((err: unknown) => { throw listenError(err, 'http.port') })
    stops.push(async () => { await pages.close() })
    const activity = opts.activity
    if (activity !== undefined) {
      const offOwn = chain.onOwnTx((tx, id, height) => { if (tx.kind === 'iot') activity(`batch recorded: tx_IoT ${id} (key epoch ${tx.epoch}) in Ublock ${height}${chain.mode === 'light' ? ', its Merkle proof verified' : ''}`) })
      const onDrop = (err: HealthchainError, ctx: SubmitContext): void => { activity(`dropped from ${ctx.device ?? ctx.source}: ${err.code} ${err.message}`) }
      ingest.ingest.on('dropped', onDrop)
      stops.push(async () => { offOwn(); ingest.ingest.off('dropped', onDrop) })
    }
    chain.start()
    const mqttPort = ingest.broker === null ? null : ingest.broker.port
    const mqttsPort = ingest.broker?.tlsServer == null ? null : ingest.broker.tlsPort
    return {
      urls: { patient: `${pages.origin}/`, editor: `${red.adminUrl}/` },
      tls: tls === undefined ? null : { fingerprint: tls.fingerprint, spki: tls.spki, ...(tls.files.ca === undefined ? {} : { caFile: tls.files.ca }), ...(tls.ca === undefined ? {} : { ca: tls.ca }) },
      mqttsPort,
      logins: { ...(web.created === undefined ? {} : { web: web.created }), ...(red.created === undefined ? {} : { editor: red.created }) },
      peer: net.libp2p.getMultiaddrs().map(String)[0] ?? '',
      mqttPort,
      api: { socket: server.socket, url: server.url },
      docchain,
      service,
      stop
    }
  } catch (err) {
    await stop()
    throw err
  }
}

/** The hub's Pinning Service API targets (DESIGN §6): each with its token file's token, or the user's identity token. */
async function pinningClients (cfg: HubConfig, user: Identity): Promise<PinningClient[]> {
  return await Promise.all(cfg.pinningServices.map(async (p) => p.tokenFile === undefined
    ? new PinningClient({ endpoint: p.endpoint, identity: user })
    : new PinningClient({ endpoint: p.endpoint, token: (await readFile(p.tokenFile, 'utf8')).trim() })))
}
