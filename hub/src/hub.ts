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
import { equalBytes, fromHex, HealthchainError, InvalidFieldError, NETWORKS, toHex, type DoctorKey, type Identity, type NetworkParams, type TxIoT, type TxKey } from './core/index.ts'
import { CoreNode } from './roles/core/node.ts'
import { Miner } from './roles/core/miner.ts'
import { CoreNet } from './net/service.ts'
import { coreChain } from './net/core-chain.ts'
import { cidFromDigest, IpfsNode } from './ipfs/index.ts'
import { publishEpoch, UserKeys } from './roles/user/keys.ts'
import { scheduleRotation } from './roles/user/rotation.ts'
import { keyHistory } from './roles/user/chain.ts'
import { PatientReader } from './roles/user/diagnoses.ts'
import { DocchainFollower, type DocchainFollowerStats } from './roles/docchain/follower.ts'
import { registryOf } from './config/docchain.ts'
import { startIngestService } from './ingest/hub.ts'
import type { SubmitContext } from './ingest/pipeline.ts'
import type { AddResult } from './store/chain.ts'
import { startNodeRed } from './nodered/embed.ts'
import { hubRuntime } from './nodered/wire.ts'
import { createWebRouter, deviceView, lastDrops, patientModel, recentReadings, registeredDoctors, userPayments, type DeviceView, type PatientModel } from './web/index.ts'
import type { HubConfig } from './hub-config.ts'
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
}

export interface HubStatus {
  readonly user: string
  readonly network: string
  readonly userchain: { readonly height: number, readonly tip: string, readonly mempool: number, readonly peers: number }
  readonly mining: boolean
  readonly docchain: DocchainStatus | null
  readonly devices: number
  /** Lines accepted and dropped (by error code) since start; each paired device with its drops by reason and the last message. */
  readonly ingest: { readonly accepted: number, readonly dropped: Readonly<Record<string, number>>, readonly devices: readonly DeviceView[] }
}

export interface Hub {
  readonly service: HubService
  readonly urls: { readonly patient: string, readonly editor: string }
  readonly logins: { readonly web?: { username: string, password: string }, readonly editor?: { username: string, password: string } }
  readonly peer: string
  readonly mqttPort: number | null
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
}

/** Starts every part of the hub for `user`; `doctors` resolves doctors' X25519 keys (the doctor book). */
export async function startHub (cfg: HubConfig, user: Identity, doctors: (id: Uint8Array) => DoctorKey | undefined, opts: HubOptions = {}): Promise<Hub> {
  const log = opts.log ?? ((line: string) => { process.stderr.write(`${line}\n`) })
  const params: NetworkParams = NETWORKS[cfg.network]
  const rng = (n: number): Uint8Array => new Uint8Array(randomBytes(n))
  const stops: Array<() => Promise<unknown>> = []
  const stop = async (): Promise<void> => { for (const s of stops.splice(0).reverse()) await s().catch(() => {}) }
  try {
    const core = await CoreNode.open({ dir: join(cfg.dataDir, 'userchain', params.name), params })
    stops.push(async () => { await core.close() })
    const net = await CoreNet.start({ chain: coreChain(core), params, dataDir: join(cfg.dataDir, 'net'), ...(cfg.listen.length > 0 ? { listen: cfg.listen } : {}), bootstrap: cfg.bootstrap })
      .catch((err: unknown) => { throw listenError(err, 'listen') })
    stops.push(async () => { await net.stop() })
    const miner = new Miner(core, { miner: user.id, ...(cfg.threads === undefined ? {} : { threads: cfg.threads }) })
    stops.push(async () => { await miner.close() })
    const ipfs = await IpfsNode.create({ dataDir: join(cfg.dataDir, 'ipfs'), libp2p: net.net.libp2p })
    stops.push(async () => { await ipfs.stop() })
    const pwFile = 'passwordFile' in cfg.broker ? cfg.broker.passwordFile : undefined
    const password = pwFile === undefined ? undefined : (await readFile(pwFile, 'utf8').catch((err: NodeJS.ErrnoException) => { throw new InvalidFieldError('broker.passwordFile', `${pwFile}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`) })).trim()
    const ingest = await startIngestService({
      dataDir: cfg.dataDir,
      hubId: cfg.hubId,
      ...('embedded' in cfg.broker
        ? { mqttHost: cfg.broker.embedded.host, mqttPort: cfg.broker.embedded.port }
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
    // doctors this user may grant: the doctor book, else the registry folded from Docchain
    let follower: DocchainFollower | null = null
    const lookup = (id: Uint8Array): DoctorKey | undefined => doctors(id) ?? follower?.registry.lookup(id)
    const keys = UserKeys.fromChain(user, await keyHistory(core.store, core.mempool, user.id), {
      rng, now: () => Math.floor(Date.now() / 1000), directory: { lookup }, ...(cfg.keyRotationDays > 0 ? { rotationSeconds: cfg.keyRotationDays * 86_400 } : {})
    })
    // the user's tx_keys (grants, revocations, scheduled rotations) go to the core node, which gossips them
    const publishKey = async (tx: TxKey): Promise<void> => { const r = await core.submitTx(tx); if (!r.accepted) throw new InvalidFieldError('tx_key', r.reason) }
    // the first start publishes key epoch 1, with no doctors (§IV-B5): readings are sealed from the first batch on, before any grant
    if (keys.current === null) await publishEpoch(keys, keys.init(), publishKey)
    // the paper's periodic key update (§IV-B5), checked every 10 minutes
    if (cfg.keyRotationDays > 0) {
      const rotation = scheduleRotation({ keys, publish: publishKey, checkEveryMs: 600_000, log })
      stops.push(async () => { rotation.stop() })
    }
    // the editor's login is made (and shown once) before Node-RED listens: a port in use must stop the start before that
    const httpBusy = await portFree('http.port', cfg.http.host, cfg.http.port)
    if (httpBusy !== null) throw httpBusy
    const red = await startNodeRed({
      dataDir: cfg.dataDir,
      host: cfg.http.host,
      port: cfg.http.port,
      runtimes: { hub: hubRuntime({ identity: user, keys, core, miner, ipfs, storageNodes: [...cfg.storageNodes], replication: cfg.replication, ingest: ingest.ingest, user: toHex(user.id), rng }) },
      print: () => {}
    }).catch((err: unknown) => { throw listenError(err, 'http.port') })
    stops.push(async () => { await red.stop() })
    // the user's own tx_IoT, confirmed or still in the mempool: the causes a diagnosis of theirs cites
    const ownIoT = async (htxI: Uint8Array): Promise<TxIoT | undefined> => {
      const tx = await core.store.confirmedTx(htxI) ?? core.mempool.get(htxI)?.bt.tx
      return tx?.kind === 'iot' && equalBytes(tx.user, user.id) ? tx : undefined
    }
    const members = (cfg.docchain?.members ?? []).map((m, i) => fromHex(`docchain.members[${i}].id`, m.id))
    const reader = new PatientReader(keys, {
      ownIoT,
      fetch: async (d) => await ipfs.get(cidFromDigest(d), { providers: [...cfg.storageNodes] }),
      accountingNodes: () => members
    })
    if (cfg.docchain !== undefined) {
      const dc = cfg.docchain
      const f = await DocchainFollower.open({
        net: net.net,
        members,
        genesisTime: dc.genesisTime,
        registry: registryOf(dc.registry),
        peers: dc.members.flatMap((m) => (m.addr === undefined ? [] : [m.addr])),
        dir: join(cfg.dataDir, 'docchain'),
        // a Dblock holding a diagnosis of this user is kept; the rest of Docchain is not
        onDblock: async (b) => (await reader.onDblock(b)).length > 0,
        log,
        pollMs: dc.pollSeconds * 1000
      })
      follower = f
      stops.push(async () => { await f.stop() })
      // the diagnoses read before a restart, from the Dblocks kept for them (certificates checked again)
      for (const b of await f.kept()) await reader.onDblock(b).catch((err: Error) => { log(`docchain: kept Dblock ${b.header.index}: ${err.message}`) })
      f.start()
    }
    const patient = patientModel({
        keys,
        reader,
        publishKey,
        keyRotation: cfg.keyRotationDays > 0,
        balance: () => core.store.account(user.id).balance,
        readings: vitals.readings,
        // the doctors of the registry folded from Docchain (none without a `docchain` section)
        doctors: () => follower === null ? [] : registeredDoctors(follower.registry),
        devices,
        // the user's prepayments to the consortium (§IV-B4), pending and on Userchain
        payments: userPayments(core, user.id, cfg.consortium === undefined ? {} : { to: fromHex('consortium', cfg.consortium) })
    })
    const docchain = (): DocchainStatus | null => follower === null ? null : { height: follower.height, ...follower.stats, diagnoses: reader.diagnoses.length }
    const service: HubService = {
      patient,
      status: async () => ({
        user: toHex(user.id),
        network: params.name,
        userchain: { height: core.store.tip.height, tip: core.store.tip.hex, mempool: core.mempool.size, peers: net.net.libp2p.getPeers().length },
        mining: miner.mining,
        docchain: docchain(),
        devices: ingest.ingest.registry.list().length,
        ingest: { accepted: ingest.ingest.counters.accepted, dropped: { ...ingest.ingest.counters.dropped }, devices: devices() }
      })
    }
    const web = await createWebRouter({ dataDir: cfg.dataDir, patient: service.patient })
    red.app.use('/', web.router)
    const activity = opts.activity
    if (activity !== undefined) {
      const onBlock = (r: AddResult): void => {
        for (const b of r.connected) {
          for (const bt of b.txs) if (bt.tx.kind === 'iot' && equalBytes(bt.tx.user, user.id)) activity(`batch recorded: tx_IoT ${toHex(bt.id)} (key epoch ${bt.tx.epoch}) in Ublock ${b.header.index}`)
        }
      }
      const onDrop = (err: HealthchainError, ctx: SubmitContext): void => { activity(`dropped from ${ctx.device ?? ctx.source}: ${err.code} ${err.message}`) }
      core.on('block', onBlock)
      ingest.ingest.on('dropped', onDrop)
      stops.push(async () => { core.off('block', onBlock); ingest.ingest.off('dropped', onDrop) })
    }
    if (cfg.mine) miner.start()
    const mqttPort = ingest.broker === null ? null : (ingest.broker.server.address() as { port: number }).port
    return {
      urls: { patient: `${red.origin}/`, editor: `${red.origin}/red/` },
      logins: { ...(web.created === undefined ? {} : { web: web.created }), ...(red.created === undefined ? {} : { editor: red.created }) },
      peer: net.net.libp2p.getMultiaddrs().map(String)[0] ?? '',
      mqttPort,
      docchain,
      service,
      stop
    }
  } catch (err) {
    await stop()
    throw err
  }
}
