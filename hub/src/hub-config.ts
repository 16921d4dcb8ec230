/**
 * The hub's config file (`healthchain hub --config <file>`;
 * hub/hub.example.json shows every field, hub/schemas/hub.schema.json is its
 * JSON Schema): parsed and checked here, naming the first bad field, with
 * nothing else loaded — `--check`, the tests and the fuzzer read configs
 * without starting a hub.
 */
import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { NETWORKS } from './core/index.ts'
import { HealthchainError, InvalidFieldError } from './core/errors.ts'
import { portFree, tcpListenPort } from './config/ports.ts'
import type { LevelSizes } from './store/chain.ts'
import { AlertsConfigSection } from './alerts/settings.ts'
import { docchainReaderConfig, DocchainSection, type DocchainReaderConfig } from './config/docchain.ts'
import { hexId, intIn, loadConfigFile, nonEmpty, oneOf, p2pAddr, parseConfigText, parseWith, port, schemaRef, multiaddrs, z } from './config/schema.ts'

const NETWORK_NAMES = Object.keys(NETWORKS) as ['devnet', 'mainnet']

/** The hub's config file as written (the JSON Schema is generated from this). */
export const HubConfigFile = z.strictObject({
  $schema: schemaRef,
  dataDir: nonEmpty().describe('where the hub keeps its chain, keys, ingest store, IPFS blocks and Node-RED files'),
  network: oneOf(NETWORK_NAMES).default('devnet').describe('the Userchain network (consensus parameters)'),
  hubId: z.string({ error: 'must match [a-z0-9-]{1,32}' }).regex(/^[a-z0-9-]{1,32}$/, { error: 'must match [a-z0-9-]{1,32}' }).default('hub').describe('this hub\'s name in MQTT topics and logs'),
  listen: multiaddrs().default([]).describe('libp2p listen multiaddrs (e.g. /ip4/0.0.0.0/tcp/4001)'),
  bootstrap: multiaddrs().default([]).describe('core user nodes to connect to at start'),
  mode: z.enum(['core', 'light'], { error: 'must be "core" or "light"' }).default('core')
    .describe('core: keep the whole Userchain and serve it (a core user node, paper §III-A); light: keep only its headers and this user\'s own transactions with Merkle proofs from the core nodes in bootstrap, never mine (a lightweight user node)'),
  mine: z.boolean({ error: 'must be true or false' }).default(false).describe('mine Userchain blocks (paper §IV-B3, proof of work); core mode only'),
  threads: intIn(1, 256).optional().describe('mining threads (default: every core)'),
  storageNodes: z.array(p2pAddr(), { error: 'must be a list of multiaddrs ending in /p2p/<peer id>' })
    .default([]).describe('the consortium\'s IPFS storage nodes (multiaddrs ending in /p2p/<peer id>)'),
  pinningServices: z.array(z.strictObject({
    endpoint: z.url({ protocol: /^https?$/, error: 'must be an http(s):// URL' }).describe('the IPFS Pinning Service API base URL (its /pins is appended): IPFS Cluster, a commercial service, or a storage node\'s pinningApi'),
    tokenFile: nonEmpty().optional().describe('file holding the service\'s bearer token; without it the hub signs an identity token with its user\'s key (what the consortium\'s storage nodes accept)')
  }, { error: 'must be {"endpoint", "tokenFile"}' }), { error: 'must be a list of {"endpoint", "tokenFile"}' }).default([])
    .describe('IPFS Pinning Service API endpoints used as storage targets beside storageNodes: each pin it reports counts as an acknowledgement'),
  replication: intIn(1, 16).optional().describe('storage nodes and pinning services that must acknowledge an upload (default: min(2, their number))'),
  batchConfirmations: intIn(1, 100).default(3).describe('blocks on top of a batch\'s tx_IoT before the hub forgets the batch and destroys its plaintext (deeper than the reorgs you expect)'),
  memory: z.strictObject({
    verifyThreads: intIn(1, 64).default(1).describe('signature-check worker threads of the core node (started on the first large batch; each costs some 25 MB)'),
    leveldbCacheMB: intIn(1, 1024).default(2).describe('LevelDB block cache of each database (Userchain, IPFS blocks and data), MB'),
    leveldbWriteBufferMB: intIn(1, 256).default(1).describe('LevelDB write buffer (memtable) of each of those databases, MB'),
    nodeRedPalette: z.enum(['lean', 'full'], { error: 'must be "lean" or "full"' }).default('lean').describe('lean: Node-RED without the core nodes that bring large libraries (HTTP, WebSocket, MQTT client, TCP/UDP, HTML/XML/YAML/CSV parsers, exec); full: every core node'),
    semiSpaceMB: intIn(0, 64).default(1).describe('V8 young-generation semi-space, MB (node --max-semi-space-size; 0: V8\'s default, up to 16): `healthchain hub` restarts itself once with it')
  }, { error: 'must be {"verifyThreads", "leveldbCacheMB", "leveldbWriteBufferMB", "nodeRedPalette", "semiSpaceMB"}' }).default({ verifyThreads: 1, leveldbCacheMB: 2, leveldbWriteBufferMB: 1, nodeRedPalette: 'lean', semiSpaceMB: 1 })
    .describe('what the hub may hold in memory, sized to the board (README "What the hub costs in memory")'),
  keyRotationDays: intIn(0, 3650).default(7).describe('days between scheduled renewals of the user\'s IoT key (paper §IV-B5 periodic update); 0 turns them off'),
  emergencyAccess: z.strictObject({
    optIn: z.boolean({ error: 'must be true or false' }).default(false).describe('escrow each key epoch\'s IoT key t-of-n to the accounting nodes of the followed Docchain, so that an emergency doctor can read it after an audited request (README "Emergency access"); the page and the API change it, and the patient\'s choice then wins')
  }, { error: 'must be {"optIn"}' }).default({ optIn: false }).describe('emergency access to the patient\'s data (README "Emergency access")'),
  broker: z.strictObject({
    embedded: z.strictObject({
      host: nonEmpty().default('127.0.0.1').describe('plain MQTT: loopback unless plainOnLan is true'),
      port: port().default(1883),
      tls: z.strictObject({
        host: nonEmpty().default('0.0.0.0'),
        port: port().default(8883)
      }, { error: 'must be {"host", "port"}' }).optional().describe('an mqtts listener for devices on the LAN, with the hub\'s certificate (its CA in <dataDir>/tls/ca.pem)'),
      plainOnLan: z.boolean({ error: 'must be true or false' }).default(false).describe('allow plain MQTT on a non-loopback address (device secrets and readings in clear; the page shows a warning)')
    }).optional().describe('run the embedded MQTT broker on this address'),
    url: z.string({ error: 'must start with mqtt:// or mqtts://' }).regex(/^mqtts?:\/\//, { error: 'must start with mqtt:// or mqtts://' }).optional().describe('an external broker (Mosquitto), mqtt:// or mqtts://'),
    username: nonEmpty().optional(),
    passwordFile: nonEmpty().optional().describe('file holding the hub\'s broker password')
  }, { error: 'must be {"embedded": {"host", "port"}} or {"url", "username", "passwordFile"}' })
    .refine((b) => (b.embedded === undefined) !== (b.url === undefined), { error: 'must be {"embedded": {"host", "port"}} or {"url", "username", "passwordFile"}' })
    .optional().describe('the MQTT broker devices publish to'),
  serial: z.array(z.strictObject({
    path: nonEmpty().describe('serial device, e.g. /dev/ttyACM0'),
    device: z.string({ error: 'must be the id of the device paired on this port ([a-z0-9-]{1,32})' }).regex(/^[a-z0-9-]{1,32}$/, { error: 'must be the id of the device paired on this port ([a-z0-9-]{1,32})' })
      .describe('the registered device on this port: lines of any other device are refused'),
    baudRate: intIn(300, 4_000_000).optional()
  }, { error: 'must be {"path", "device", "baudRate"}' }), { error: 'must be a list of {"path", "device", "baudRate"}' }).default([]).describe('sensor boards on serial ports, each bound to its paired device'),
  http: z.strictObject({
    host: nonEmpty().default('127.0.0.1'),
    port: port().default(1880),
    tls: z.union([z.literal(false), z.strictObject({ cert: nonEmpty(), key: nonEmpty() })], { error: 'must be false or {"cert", "key"} (PEM files)' }).optional()
      .describe('default: HTTPS with a certificate of the hub\'s own CA, made at first start; {"cert", "key"}: these PEM files; false: plain HTTP (loopback only)')
  }, { error: 'must be {"host", "port", "tls"}' }).default({ host: '127.0.0.1', port: 1880 }).describe('the patient page (HTTPS; plain HTTP on the port is redirected)'),
  editor: z.strictObject({
    host: nonEmpty().default('127.0.0.1'),
    port: port().default(1881)
  }, { error: 'must be {"host", "port"}' }).default({ host: '127.0.0.1', port: 1881 }).describe('the Node-RED editor, on its own listener (HTTPS like the page): loopback by default, reach it through an SSH tunnel'),
  api: z.strictObject({
    tcp: z.strictObject({
      host: z.enum(['127.0.0.1', '::1'], { error: 'must be a loopback address: 127.0.0.1 or ::1' }).default('127.0.0.1'),
      port: port()
    }, { error: 'must be {"host", "port"}' }).optional().describe('also serve the control API on this loopback TCP address (the Unix socket <dataDir>/api.sock is always on)')
  }, { error: 'must be {"tcp": {"host", "port"}}' }).default({}).describe('the local control API the CLI and an external Node-RED use (cookie in <dataDir>/.cookie)'),
  docchain: DocchainSection.optional().describe('the Docchain this hub follows for its user\'s certified diagnoses (paper §IV-B3); without it the page shows none'),
  backup: z.strictObject({
    dir: nonEmpty().describe('the folder scheduled archives go to (another disk, a mounted share)'),
    everyHours: intIn(1, 24 * 31).default(24).describe('hours between scheduled backups'),
    keep: intIn(1, 1000).default(7).describe('archives kept in the folder; older ones are deleted')
  }, { error: 'must be {"dir", "everyHours", "keep"}' }).optional().describe('scheduled encrypted backups of the data dir (keystore, devices, logins, flows, acknowledged readings), under the keystore passphrase (README "Backup and restore")'),
  alerts: AlertsConfigSection.optional(),
  consortium: hexId().optional().describe('the consortium\'s Healthcoin account (as in the accounting config): the patient page lists the user\'s prepayments to it (paper §IV-B4); without it, every Healthcoin transfer of the user')
}, { error: 'must be a JSON object' })

export interface HubConfig {
  readonly dataDir: string
  readonly network: 'devnet' | 'mainnet'
  readonly hubId: string
  readonly listen: readonly string[]
  readonly bootstrap: readonly string[]
  /** core: the whole Userchain (a core user node); light: headers and the user's own proven transactions (a lightweight user node, never mines). */
  readonly mode: 'core' | 'light'
  readonly mine: boolean
  readonly threads?: number
  /** Worker threads and LevelDB sizes, to the board. */
  readonly memory: { readonly verifyThreads: number, readonly leveldbCacheMB: number, readonly leveldbWriteBufferMB: number, readonly nodeRedPalette: 'lean' | 'full', readonly semiSpaceMB: number }
  readonly storageNodes: readonly string[]
  /** Pinning Service API endpoints used as storage targets (token file, or an identity token when absent). */
  readonly pinningServices: ReadonlyArray<{ readonly endpoint: string, readonly tokenFile?: string }>
  readonly replication: number
  /** Days between scheduled IoT-key rotations (paper §IV-B5); 0: none. */
  readonly keyRotationDays: number
  /** Emergency access: escrow each epoch's Ik to the accounting nodes (until the patient changes it on the page or API). */
  readonly emergencyAccess: { readonly optIn: boolean }
  readonly batchConfirmations: number
  readonly broker: { readonly embedded: EmbeddedBrokerConfig } | { readonly url: string, readonly username?: string, readonly passwordFile?: string }
  readonly serial: ReadonlyArray<{ readonly path: string, readonly device: string, readonly baudRate?: number }>
  readonly http: { readonly host: string, readonly port: number, readonly tls: false | 'self-signed' | { readonly cert: string, readonly key: string } }
  readonly editor: { readonly host: string, readonly port: number }
  /** The control API: always on the data dir's Unix socket; also on loopback TCP when given. */
  readonly api?: { readonly tcp?: { readonly host: string, readonly port: number } }
  /** The accounting nodes (leader order), genesis time and genesis registry of the Docchain followed, if any. */
  readonly docchain?: DocchainReaderConfig
  /** Where alerts go (README "Alerts out"): the config's section, secret files resolved (read at start). */
  readonly alerts?: z.output<typeof AlertsConfigSection>
  /** The consortium's Healthcoin account (hex ID) users prepay, if known. */
  readonly consortium?: string
  /** Scheduled backups of the data dir into `dir`. */
  readonly backup?: { readonly dir: string, readonly everyHours: number, readonly keep: number }
}

export interface EmbeddedBrokerConfig {
  readonly host: string
  readonly port: number
  readonly tls?: { readonly host: string, readonly port: number }
  readonly plainOnLan: boolean
}

/** The default broker: plain MQTT on loopback, mqtts for the LAN. */
export const DEFAULT_BROKER: { embedded: EmbeddedBrokerConfig } = { embedded: { host: '127.0.0.1', port: 1883, tls: { host: '0.0.0.0', port: 8883 }, plainOnLan: false } }

/** The LevelDB sizes of the config's memory section (the Userchain and IPFS stores). */
export function levelSizes (cfg: Pick<HubConfig, 'memory'>): LevelSizes {
  return { cacheSize: cfg.memory.leveldbCacheMB * 1024 * 1024, writeBufferSize: cfg.memory.leveldbWriteBufferMB * 1024 * 1024 }
}

export function isLoopbackHost (host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host)
}

/** Checks a parsed config, naming the first bad field; fills the defaults and resolves paths against `baseDir`. */
export function validateHubConfig (j: unknown, baseDir = '.'): HubConfig {
  const f = parseWith(HubConfigFile, j)
  const targets = f.storageNodes.length + f.pinningServices.length
  const replication = f.replication ?? Math.min(2, Math.max(1, targets))
  if (targets < replication) throw new InvalidFieldError('storageNodes', `${targets} given, replication ${replication} needs at least that many (storage nodes and pinningServices together)`)
  const b: NonNullable<typeof f.broker> = f.broker ?? DEFAULT_BROKER
  if (b.embedded !== undefined && !isLoopbackHost(b.embedded.host) && !b.embedded.plainOnLan) {
    throw new InvalidFieldError('broker.embedded.host', `plain MQTT on ${b.embedded.host} sends device secrets and readings in clear: keep it on 127.0.0.1 and give devices broker.embedded.tls, or set broker.embedded.plainOnLan to true`)
  }
  if (f.mode === 'light' && f.mine) throw new InvalidFieldError('mine', 'a light hub never mines: set "mode": "core" to mine, or "mine": false')
  if (f.mode === 'light' && f.bootstrap.length === 0) throw new InvalidFieldError('bootstrap', 'a light hub needs at least one core user node to ask for its transactions and their proofs (two or more, so that one lying is caught)')
  if (f.http.tls === false && !isLoopbackHost(f.http.host)) throw new InvalidFieldError('http.tls', `plain HTTP on ${f.http.host} sends logins in clear: remove "tls": false, or listen on 127.0.0.1`)
  const broker: HubConfig['broker'] = b.embedded !== undefined
    ? { embedded: { host: b.embedded.host, port: b.embedded.port, plainOnLan: b.embedded.plainOnLan ?? false, ...(b.embedded.tls === undefined ? {} : { tls: b.embedded.tls }) } }
    : { url: b.url!, ...(b.username === undefined ? {} : { username: b.username }), ...(b.passwordFile === undefined ? {} : { passwordFile: resolve(baseDir, b.passwordFile) }) }
  return {
    dataDir: resolve(baseDir, f.dataDir),
    network: f.network,
    hubId: f.hubId,
    listen: f.listen,
    bootstrap: f.bootstrap,
    mode: f.mode,
    mine: f.mine,
    memory: f.memory,
    ...(f.threads === undefined ? {} : { threads: f.threads }),
    storageNodes: f.storageNodes,
    pinningServices: f.pinningServices.map((p) => p.tokenFile === undefined ? { endpoint: p.endpoint } : { endpoint: p.endpoint, tokenFile: resolve(baseDir, p.tokenFile) }),
    replication,
    keyRotationDays: f.keyRotationDays,
    emergencyAccess: { optIn: f.emergencyAccess.optIn },
    batchConfirmations: f.batchConfirmations,
    broker,
    serial: f.serial.map((s) => s.baudRate === undefined ? { path: s.path, device: s.device } : { path: s.path, device: s.device, baudRate: s.baudRate }),
    http: { host: f.http.host, port: f.http.port, tls: f.http.tls === undefined ? 'self-signed' : f.http.tls === false ? false : { cert: resolve(baseDir, f.http.tls.cert), key: resolve(baseDir, f.http.tls.key) } },
    editor: f.editor,
    api: f.api.tcp === undefined ? {} : { tcp: f.api.tcp },
    ...(f.docchain === undefined ? {} : { docchain: docchainReaderConfig(f.docchain, f.network) }),
    ...(f.consortium === undefined ? {} : { consortium: f.consortium }),
    ...(f.backup === undefined ? {} : { backup: { dir: resolve(baseDir, f.backup.dir), everyHours: f.backup.everyHours, keep: f.backup.keep } }),
    ...(f.alerts === undefined ? {} : { alerts: resolveSecretFiles(f.alerts, baseDir) })
  }
}

/** The alerts section with its secret files resolved against the config's folder. */
export function resolveSecretFiles (a: z.output<typeof AlertsConfigSection>, baseDir: string): z.output<typeof AlertsConfigSection> {
  const at = <T extends object>(o: T | undefined, k: string): T | undefined => {
    const v = (o as Record<string, unknown> | undefined)?.[k]
    return o === undefined || typeof v !== 'string' ? o : { ...o, [k]: resolve(baseDir, v) }
  }
  return { ...a, mqtt: at(a.mqtt, 'passwordFile'), email: at(a.email, 'passwordFile'), webhook: at(a.webhook, 'secretFile') }
}

/** An alerts section on its own (npm start's --alerts file): checked, its secret files resolved against `baseDir`. */
export function alertsSectionFile (text: string, baseDir: string, name: string): z.output<typeof AlertsConfigSection> {
  return parseConfigText(text, baseDir, name, (j, dir) => resolveSecretFiles(parseWith(AlertsConfigSection, j), dir))
}

/** A hub config file's text, parsed and checked; relative paths resolve against `baseDir`. */
export function parseHubConfig (text: string, baseDir: string, name = 'config'): HubConfig {
  return parseConfigText(text, baseDir, name, validateHubConfig)
}

/**
 * What `--check` can check offline beyond the file itself, each problem
 * naming its field: the keystore in the data dir, the serial devices and
 * the broker's password file exist, and every port the hub will listen on
 * is free now.
 */
export async function checkHubConfigOffline (cfg: HubConfig): Promise<HealthchainError[]> {
  const out: HealthchainError[] = []
  const keystore = join(cfg.dataDir, 'keystore.json')
  if (!existsSync(keystore)) out.push(new InvalidFieldError('dataDir', `no keystore at ${keystore}: create the user's identity first (healthchain keys new --data-dir ${cfg.dataDir})`))
  cfg.serial.forEach((s, i) => { if (!existsSync(s.path)) out.push(new InvalidFieldError(`serial[${i}].path`, `${s.path} does not exist: is the board plugged in? (ls /dev/serial/by-id/ lists the boards)`)) })
  if ('url' in cfg.broker && cfg.broker.passwordFile !== undefined && !existsSync(cfg.broker.passwordFile)) out.push(new InvalidFieldError('broker.passwordFile', `${cfg.broker.passwordFile}: no such file`))
  const ports: Array<[string, string, number]> = cfg.listen.flatMap((a, i) => { const p = tcpListenPort(a); return p === null ? [] : [[`listen[${i}]`, p.host, p.port] as [string, string, number]] })
  if ('embedded' in cfg.broker) ports.push(['broker.embedded.port', cfg.broker.embedded.host, cfg.broker.embedded.port])
  ports.push(['http.port', cfg.http.host, cfg.http.port])
  for (const [field, host, p] of ports) { const e = await portFree(field, host, p); if (e !== null) out.push(e) }
  return out
}

export async function loadHubConfig (file: string): Promise<HubConfig> {
  return await loadConfigFile(file, parseHubConfig)
}
