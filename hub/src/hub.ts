/**
 * The production hub (DESIGN §1): a Raspberry Pi that is a user node and a
 * core user node. One process runs ingest (real serial ports, embedded or
 * external MQTT broker), the core node on Userchain with libp2p (and,
 * optionally, the miner), IPFS on the same libp2p node, Node-RED carrying the
 * pipeline (flows/hub.json), and the patient page. `healthchain hub --config
 * <file>` starts it; hub/hub.example.json documents every field.
 */
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { InvalidFieldError, NETWORKS, toHex, type DoctorKey, type Identity, type NetworkParams } from './core/index.ts'
import { CoreNode } from './roles/core/node.ts'
import { Miner } from './roles/core/miner.ts'
import { CoreNet } from './net/service.ts'
import { coreChain } from './net/core-chain.ts'
import { IpfsNode } from './ipfs/index.ts'
import { UserKeys } from './roles/user/keys.ts'
import { keyHistory } from './roles/user/chain.ts'
import { PatientReader } from './roles/user/diagnoses.ts'
import { startIngestService } from './ingest/hub.ts'
import { startNodeRed } from './nodered/embed.ts'
import { hubRuntime } from './nodered/wire.ts'
import { createWebRouter, deviceView, patientModel } from './web/index.ts'
import type { HubConfig } from './hub-config.ts'

export { loadHubConfig, parseHubConfig, validateHubConfig, type HubConfig } from './hub-config.ts'

export interface Hub {
  readonly urls: { readonly patient: string, readonly editor: string }
  readonly logins: { readonly web?: { username: string, password: string }, readonly editor?: { username: string, password: string } }
  readonly peer: string
  readonly mqttPort: number | null
  stop: () => Promise<void>
}

/** Starts every part of the hub for `user`; `doctors` resolves doctors' X25519 keys (the doctor book). */
export async function startHub (cfg: HubConfig, user: Identity, doctors: (id: Uint8Array) => DoctorKey | undefined): Promise<Hub> {
  const params: NetworkParams = NETWORKS[cfg.network]
  const rng = (n: number): Uint8Array => new Uint8Array(randomBytes(n))
  const stops: Array<() => Promise<unknown>> = []
  const stop = async (): Promise<void> => { for (const s of stops.splice(0).reverse()) await s().catch(() => {}) }
  try {
    const core = await CoreNode.open({ dir: join(cfg.dataDir, 'userchain', params.name), params })
    stops.push(async () => { await core.close() })
    const net = await CoreNet.start({ chain: coreChain(core), params, dataDir: join(cfg.dataDir, 'net'), ...(cfg.listen.length > 0 ? { listen: cfg.listen } : {}), bootstrap: cfg.bootstrap })
    stops.push(async () => { await net.stop() })
    const miner = new Miner(core, { miner: user.id, ...(cfg.threads === undefined ? {} : { threads: cfg.threads }) })
    stops.push(async () => { await miner.close() })
    const ipfs = await IpfsNode.create({ dataDir: join(cfg.dataDir, 'ipfs'), libp2p: net.net.libp2p })
    stops.push(async () => { await ipfs.stop() })
    const password = 'passwordFile' in cfg.broker && cfg.broker.passwordFile !== undefined ? (await readFile(cfg.broker.passwordFile, 'utf8')).trim() : undefined
    const ingest = await startIngestService({
      dataDir: cfg.dataDir,
      hubId: cfg.hubId,
      ...('embedded' in cfg.broker
        ? { mqttHost: cfg.broker.embedded.host, mqttPort: cfg.broker.embedded.port }
        : { externalBroker: { url: cfg.broker.url, ...(cfg.broker.username === undefined ? {} : { username: cfg.broker.username }), ...(password === undefined ? {} : { password }) } }),
      serial: cfg.serial.map((s) => ({ ...s }))
    })
    stops.push(async () => { await ingest.close() })
    const keys = UserKeys.fromChain(user, await keyHistory(core.store, core.mempool, user.id), { rng, now: () => Math.floor(Date.now() / 1000), directory: { lookup: doctors } })
    const red = await startNodeRed({
      dataDir: cfg.dataDir,
      host: cfg.http.host,
      port: cfg.http.port,
      runtimes: { hub: hubRuntime({ identity: user, keys, core, miner, ipfs, storageNodes: [...cfg.storageNodes], replication: cfg.replication, ingest: ingest.ingest, user: toHex(user.id).slice(0, 16), rng }) },
      print: () => {}
    })
    stops.push(async () => { await red.stop() })
    // Docchain diagnoses reach the page once this hub follows Docchain (the patient reader is fed by it)
    const reader = new PatientReader(keys, { ownIoT: () => undefined, fetch: async (d) => await ipfs.get(d), accountingNodes: () => [] })
    const web = await createWebRouter({
      dataDir: cfg.dataDir,
      patient: patientModel({
        keys,
        reader,
        publishKey: async (tx) => { const r = await core.submitTx(tx); if (!r.accepted) throw new InvalidFieldError('tx_key', r.reason) },
        balance: () => core.store.account(user.id).balance,
        devices: () => ingest.ingest.registry.list().map(deviceView)
      })
    })
    red.app.use('/', web.router)
    if (cfg.mine) miner.start()
    const mqttPort = ingest.broker === null ? null : (ingest.broker.server.address() as { port: number }).port
    return {
      urls: { patient: `${red.origin}/`, editor: `${red.origin}/red/` },
      logins: { ...(web.created === undefined ? {} : { web: web.created }), ...(red.created === undefined ? {} : { editor: red.created }) },
      peer: net.net.libp2p.getMultiaddrs().map(String)[0] ?? '',
      mqttPort,
      stop
    }
  } catch (err) {
    await stop()
    throw err
  }
}
