/**
 * The devnet's layout on disk (paper §III-A roles, one data dir each): every
 * role's identity derives from one devnet seed, every libp2p peer key too,
 * so every address (`/ip4/127.0.0.1/tcp/<port>/p2p/<peer id>`) is known
 * before any daemon starts; the ports are picked once and kept in
 * `devnet.json`, so a resumed devnet, and a daemon the supervisor restarts,
 * listen where the others reach them. The configs are the shipped examples
 * (hub/<role>.example.json) with the devnet's values, as an operator writes
 * them; keystores are encrypted with a passphrase kept in a 0600 file (a
 * devnet, not production: the scrypt cost is lowered so eleven unlocks do
 * not cost eleven seconds of CPU).
 */
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:net'
import { existsSync } from 'node:fs'
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import {
  buildIdentityRecord, concatBytes, DEVNET, encodeIdentityRecord, identityFromSeed, sha256, toHex, utf8Bytes, type Identity
} from '../core/index.ts'
import { saveKeystore, writeFileAtomic } from '../store/keystore.ts'
import { PEER_KEY_FILE } from '../net/node.ts'

const HUB_DIR = fileURLToPath(new URL('../../', import.meta.url))
export const CLI = fileURLToPath(new URL('../cli.ts', import.meta.url))
const DEVNET_SCRYPT = { N: 2 ** 12, r: 8, p: 1 }

export const ACCOUNTING = 4
export type Role = 'hub' | 'core2' | 'storage-0' | 'storage-1' | 'doctor-ai' | 'doctor-human' | `accounting-${number}`
export const ROLES: readonly Role[] = ['storage-0', 'storage-1', 'hub', 'core2', ...Array.from({ length: ACCOUNTING }, (_, i) => `accounting-${i}` as Role), 'doctor-ai', 'doctor-human']

/** What the devnet keeps between starts (devnet.json, 0600). */
export interface DevnetState {
  readonly ports: Record<string, number>
  /** Paired devices' MQTT secrets (the hub shows each once). */
  devices: Record<string, string>
  /** The doctors the patient granted (identity records). */
  granted: string[]
}

export interface DevnetPlan {
  readonly dir: string
  readonly state: DevnetState
  readonly passphraseFile: string
  readonly user: Identity
  readonly ai: Identity
  readonly human: Identity
  readonly consortium: Identity
  readonly members: readonly Identity[]
  readonly miner2: Identity
  /** Each role's libp2p address with /p2p/. */
  readonly addr: Readonly<Record<string, string>>
  readonly record: (d: Identity) => string
  /** The data dir of a role. */
  readonly at: (role: Role, ...p: string[]) => string
  /** `node` arguments of a role's daemon. */
  readonly command: (role: Role) => string[]
  readonly save: () => Promise<void>
}

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => { resolve(p) }) })
  })
}

async function example (role: string): Promise<Record<string, unknown>> {
  const { $schema: _s, ...ex } = JSON.parse(await readFile(join(HUB_DIR, `${role}.example.json`), 'utf8')) as Record<string, unknown>
  return ex
}

export interface PlanOptions {
  /** The hub page's port (0: any free one, kept for the next start). */
  readonly pagePort: number
  /** The thermometer board's serial port (a pty), when there is one. */
  readonly serial?: string
  /** The hub's alerts section (README "Alerts out"; secret files as absolute paths), from `npm start -- --alerts <file>`. */
  readonly alerts?: Record<string, unknown>
  /** false: the hub does not mine (core 2 does); the patient's first Healthcoin comes from another wallet (README "Healthcoin to start with"). */
  readonly hubMining?: boolean
}

/** Creates (first start) or reads the devnet's identities, keys, ports and configs in `dir`. */
export async function devnetPlan (dir: string, o: PlanOptions): Promise<DevnetPlan> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
  await chmod(dir, 0o700)
  const seedFile = join(dir, 'devnet-seed')
  if (!existsSync(seedFile)) await writeFile(seedFile, randomBytes(32), { mode: 0o600 })
  const seed = new Uint8Array(await readFile(seedFile))
  const passphraseFile = join(dir, 'devnet-passphrase')
  if (!existsSync(passphraseFile)) await writeFile(passphraseFile, randomBytes(16).toString('hex'), { mode: 0o600 })
  const passphrase = (await readFile(passphraseFile, 'utf8')).trim()
  const stateFile = join(dir, 'devnet.json')
  const state: DevnetState = existsSync(stateFile) ? JSON.parse(await readFile(stateFile, 'utf8')) as DevnetState : { ports: {}, devices: {}, granted: [] }
  const save = async (): Promise<void> => { await writeFileAtomic(stateFile, JSON.stringify(state, null, 2)) }

  const derive = (label: string): Uint8Array => sha256(concatBytes(seed, utf8Bytes(label)))
  const who = (label: string): Identity => identityFromSeed(derive(label))
  const user = who('user')
  const ai = who('doctor-ai')
  const human = who('doctor-human')
  const consortium = who('consortium')
  const miner2 = who('miner-2')
  const members = Array.from({ length: ACCOUNTING }, (_, i) => who(`accounting-${i}`))
  const at = (role: Role, ...p: string[]): string => join(dir, role, ...p)
  const record = (d: Identity): string => toHex(encodeIdentityRecord(buildIdentityRecord(d, DEVNET.genesisTime)))

  // ports: picked once
  const portNames = [...ROLES, 'hub-http', 'hub-editor', 'hub-mqtt', 'doctor-ai-http', 'doctor-human-http']
  for (const n of portNames) {
    if (state.ports[n] !== undefined) continue
    state.ports[n] = n === 'hub-http' && o.pagePort !== 0 ? o.pagePort : await freePort()
  }
  if (o.pagePort !== 0) state.ports['hub-http'] = o.pagePort

  // keystores and libp2p peer keys (where each daemon reads it)
  const keystores: Array<[string, Identity, string]> = [
    [at('hub', 'keystore.json'), user, 'user'],
    [at('doctor-ai', 'keystore.json'), ai, 'doctor-ai'],
    [at('doctor-human', 'keystore.json'), human, 'doctor-human'],
    [at('accounting-0', 'consortium.json'), consortium, 'consortium'],
    ...members.map((m, i): [string, Identity, string] => [at(`accounting-${i}`, 'keystore.json'), m, `accounting-${i}`])
  ]
  for (const [file, , label] of keystores) {
    await mkdir(join(file, '..'), { recursive: true, mode: 0o700 })
    if (!existsSync(file)) await saveKeystore(file, derive(label), passphrase, { scrypt: DEVNET_SCRYPT })
  }
  const netDir = (role: Role): string => (role.startsWith('storage') ? at(role) : at(role, 'net'))
  const addr: Record<string, string> = {}
  for (const role of ROLES) {
    const d = netDir(role)
    await mkdir(d, { recursive: true, mode: 0o700 })
    const peerSeed = derive(`libp2p:${role}`)
    const file = join(d, PEER_KEY_FILE)
    if (!existsSync(file)) await writeFile(file, peerSeed, { mode: 0o600 })
    const key = await generateKeyPairFromSeed('Ed25519', new Uint8Array(await readFile(file)))
    addr[role] = `/ip4/127.0.0.1/tcp/${state.ports[role]!}/p2p/${key.publicKey.toString()}`
  }
  await save()

  // configs
  const listen = (role: Role): string[] => [`/ip4/127.0.0.1/tcp/${state.ports[role]!}`]
  const accountingRoles = members.map((_, i) => `accounting-${i}` as Role)
  // the human doctor may request emergency access; the accounting nodes publish their X25519 keys (README "Emergency access")
  const registry = { members: [toHex(consortium.id)], threshold: 1, doctors: [record(ai), record(human)], emergency: [toHex(human.id)], accounting: members.map(record) }
  const docchain = { members: members.map((m, i) => ({ id: toHex(m.id), addr: addr[accountingRoles[i]!]! })), genesisTime: DEVNET.genesisTime, registry, pollSeconds: 2 }
  const storageNodes = [addr['storage-0']!, addr['storage-1']!]
  const write = async (role: Role, cfg: Record<string, unknown>): Promise<void> => { await writeFile(at(role, 'config.json'), JSON.stringify(cfg, null, 2) + '\n', { mode: 0o600 }) }
  const hubEx = await example('hub')
  const { docchain: _d, serial: _s, alerts: _a, ...hubBase } = hubEx
  await write('hub', {
    ...hubBase,
    dataDir: at('hub'),
    listen: listen('hub'),
    bootstrap: docchain.members.map((m) => m.addr),
    mine: o.hubMining !== false,
    threads: 1,
    storageNodes,
    replication: 2,
    keyRotationDays: 0,
    broker: { embedded: { host: '127.0.0.1', port: state.ports['hub-mqtt'] } },
    serial: o.serial === undefined ? [] : [{ path: o.serial, device: 'th-1', baudRate: 115200 }],
    http: { host: '127.0.0.1', port: state.ports['hub-http'] },
    editor: { host: '127.0.0.1', port: state.ports['hub-editor'] },
    docchain,
    consortium: toHex(consortium.id),
    ...(o.alerts === undefined ? {} : { alerts: o.alerts })
  })
  const storageEx = await example('storage')
  const { pinningApi: _p, ...storageBase } = storageEx
  for (const [i, role] of (['storage-0', 'storage-1'] as const).entries()) {
    await write(role, {
      ...storageBase, dataDir: at(role), listen: listen(role), replicas: [storageNodes[1 - i]!], userchain: { bootstrap: [addr.hub!] }, docchain
    })
  }
  const doctorEx = await example('doctor')
  for (const [role, mode, name] of [['doctor-ai', 'ai', 'AI analyzer'], ['doctor-human', 'human', 'Dr. Human']] as const) {
    await write(role, {
      ...doctorEx, dataDir: at(role), keystore: at(role, 'keystore.json'), mode, name, listen: listen(role), userchain: { bootstrap: [addr.hub!] }, storageNodes, replication: 2, docchain,
      // episode timing compressed: one normal batch closes an episode (a demo shows a whole episode in a minute)
      submit: { timeoutSeconds: 30, retrySeconds: 5 }, episodes: { recoverySeconds: 0 }, consortium: toHex(consortium.id), http: { host: '127.0.0.1', port: state.ports[`${role}-http`] }
    })
  }
  const accountingEx = await example('accounting')
  for (const [i, role] of accountingRoles.entries()) {
    await write(role, {
      ...accountingEx,
      dataDir: at(role),
      keystore: at(role, 'keystore.json'),
      listen: listen(role),
      members: docchain.members,
      registry,
      consortium: toHex(consortium.id),
      userchain: { bootstrap: [addr.hub!] },
      // the consortium's account lives on member 0, which pays the doctors what they earned (§IV-B4)
      ...(i === 0 ? { settlement: { keystore: at(role, 'consortium.json') } } : { settlement: undefined })
    })
  }

  const pass = ['--passphrase-file', passphraseFile]
  const command = (role: Role): string[] => {
    const base = ['--no-warnings', CLI]
    if (role === 'hub') return [...base, 'hub', '--config', at(role, 'config.json'), ...pass]
    if (role === 'core2') return [...base, 'node', '--data-dir', at(role), '--network', 'devnet', '--mine', '--threads', '1', '--miner', toHex(miner2.id), '--listen', ...listen(role), '--bootstrap', addr.hub!]
    if (role.startsWith('storage')) return [...base, 'storage', '--config', at(role, 'config.json')]
    if (role.startsWith('doctor')) return [...base, 'doctor', '--config', at(role, 'config.json'), ...pass]
    return [...base, 'accounting', '--config', at(role, 'config.json'), ...pass]
  }
  return { dir, state, passphraseFile, user, ai, human, consortium, members, miner2, addr, record, at, command, save }
}
