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
import { join, resolve } from 'node:path'
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

export interface HubConfig {
  readonly dataDir: string
  readonly network: 'devnet' | 'mainnet'
  readonly hubId: string
  readonly listen: readonly string[]
  readonly bootstrap: readonly string[]
  readonly mine: boolean
  readonly threads?: number
  readonly storageNodes: readonly string[]
  readonly replication: number
  readonly broker: { readonly embedded: { readonly host: string, readonly port: number } } | { readonly url: string, readonly username?: string, readonly passwordFile?: string }
  readonly serial: ReadonlyArray<{ readonly path: string, readonly baudRate?: number }>
  readonly http: { readonly host: string, readonly port: number }
}

type Json = Record<string, unknown>
const isObj = (x: unknown): x is Json => x !== null && typeof x === 'object' && !Array.isArray(x)

function str (o: Json, k: string, path: string, fallback?: string): string {
  const v = o[k] ?? fallback
  if (typeof v !== 'string' || v === '') throw new InvalidFieldError(`${path}${k}`, 'must be a non-empty string')
  return v
}
function int (o: Json, k: string, path: string, min: number, max: number, fallback?: number): number {
  const v = o[k] ?? fallback
  if (!Number.isInteger(v) || (v as number) < min || (v as number) > max) throw new InvalidFieldError(`${path}${k}`, `must be an integer in [${min}, ${max}]`)
  return v as number
}
function strings (o: Json, k: string, path: string): string[] {
  const v = o[k] ?? []
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string' && x !== '')) throw new InvalidFieldError(`${path}${k}`, 'must be a list of strings')
  return v as string[]
}

/** Checks a parsed config, naming the first bad field; fills the defaults. */
export function validateHubConfig (j: unknown, baseDir = '.'): HubConfig {
  if (!isObj(j)) throw new InvalidFieldError('config', 'must be a JSON object')
  const known = new Set(['dataDir', 'network', 'hubId', 'listen', 'bootstrap', 'mine', 'threads', 'storageNodes', 'replication', 'broker', 'serial', 'http'])
  for (const k of Object.keys(j)) if (!known.has(k)) throw new InvalidFieldError(k, `unknown setting (have: ${[...known].join(', ')})`)
  const network = str(j, 'network', '', 'devnet')
  if (!(network in NETWORKS)) throw new InvalidFieldError('network', `must be one of ${Object.keys(NETWORKS).join(', ')}`)
  const hubId = str(j, 'hubId', '', 'hub')
  if (!/^[a-z0-9-]{1,32}$/.test(hubId)) throw new InvalidFieldError('hubId', 'must match [a-z0-9-]{1,32}')
  if (j.mine !== undefined && typeof j.mine !== 'boolean') throw new InvalidFieldError('mine', 'must be true or false')
  const storageNodes = strings(j, 'storageNodes', '')
  if (storageNodes.some((a) => !a.includes('/p2p/'))) throw new InvalidFieldError('storageNodes', 'each must be a multiaddr ending in /p2p/<peer id>')
  const replication = int(j, 'replication', '', 1, 16, Math.min(2, Math.max(1, storageNodes.length)))
  if (storageNodes.length < replication) throw new InvalidFieldError('storageNodes', `${storageNodes.length} given, replication ${replication} needs at least that many`)
  const b = j.broker ?? { embedded: {} }
  if (!isObj(b)) throw new InvalidFieldError('broker', 'must be {"embedded": {…}} or {"url": …}')
  let broker: HubConfig['broker']
  if (isObj(b.embedded)) broker = { embedded: { host: str(b.embedded, 'host', 'broker.embedded.', '127.0.0.1'), port: int(b.embedded, 'port', 'broker.embedded.', 0, 65535, 1883) } }
  else if (typeof b.url === 'string') {
    if (!/^mqtts?:\/\//.test(b.url)) throw new InvalidFieldError('broker.url', 'must start with mqtt:// or mqtts://')
    broker = { url: b.url, ...(typeof b.username === 'string' ? { username: b.username } : {}), ...(typeof b.passwordFile === 'string' ? { passwordFile: resolve(baseDir, b.passwordFile) } : {}) }
  } else throw new InvalidFieldError('broker', 'must be {"embedded": {"host", "port"}} or {"url", "username", "passwordFile"}')
  const serialRaw = j.serial ?? []
  if (!Array.isArray(serialRaw)) throw new InvalidFieldError('serial', 'must be a list of {"path", "baudRate"}')
  const serial = serialRaw.map((s, i) => {
    if (!isObj(s)) throw new InvalidFieldError(`serial[${i}]`, 'must be {"path", "baudRate"}')
    return { path: str(s, 'path', `serial[${i}].`), ...(s.baudRate === undefined ? {} : { baudRate: int(s, 'baudRate', `serial[${i}].`, 300, 4_000_000) }) }
  })
  const h = j.http ?? {}
  if (!isObj(h)) throw new InvalidFieldError('http', 'must be {"host", "port"}')
  return {
    dataDir: resolve(baseDir, str(j, 'dataDir', '')),
    network: network as HubConfig['network'],
    hubId,
    listen: strings(j, 'listen', ''),
    bootstrap: strings(j, 'bootstrap', ''),
    mine: j.mine === true,
    ...(j.threads === undefined ? {} : { threads: int(j, 'threads', '', 1, 256) }),
    storageNodes,
    replication,
    broker,
    serial,
    http: { host: str(h, 'host', 'http.', '127.0.0.1'), port: int(h, 'port', 'http.', 0, 65535, 1880) }
  }
}

export async function loadHubConfig (file: string): Promise<HubConfig> {
  let j: unknown
  try { j = JSON.parse(await readFile(file, 'utf8')) } catch (err) {
    throw new InvalidFieldError('config', `${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`)
  }
  return validateHubConfig(j, resolve(file, '..'))
}

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
