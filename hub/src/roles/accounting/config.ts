/**
 * The accounting node's config file (`healthchain accounting --config <file>`;
 * hub/accounting.example.json documents every field), parsed and checked
 * here, naming the first bad field, with nothing else loaded (paper §III-A:
 * each consortium accounting node runs on its own machine; §IV-B3: the
 * n = 3f+1 accounting nodes, in leader order; §IV-B4: the consortium account
 * users prepay). Relative paths resolve against the file's directory.
 */
import { join, resolve } from 'node:path'
import { fromHex, InvalidFieldError, NETWORKS, toHex, decodeIdentityRecord } from '../../core/index.ts'
import { int, isObj, loadConfigFile, parseConfigText, str, strings, type Json } from '../../hub-config.ts'
import { DIAGNOSIS_PRICE } from '../consortium/credit.ts'

/** Replica timing and batching settings a config may override (core/pbft/replica.ts ReplicaConfig). */
export const PBFT_SETTINGS = ['checkpointInterval', 'window', 'maxBatch', 'batchDelayMs', 'maxInFlight', 'requestTimeoutMs', 'viewChangeTimeoutMs', 'rotateEveryBlocks', 'fetchTimeoutMs', 'statusEveryMs'] as const
export type PbftSettings = Partial<Record<typeof PBFT_SETTINGS[number], number>>

export interface AccountingMember {
  /** Accounting node ID (Ed25519 public key, hex). */
  readonly id: string
  /** Its libp2p multiaddr with /p2p/<peer id>; may be left out for this node itself. */
  readonly addr?: string
}

export interface AccountingConfig {
  readonly dataDir: string
  readonly network: 'devnet' | 'mainnet'
  readonly keystore: string
  readonly listen: readonly string[]
  /** The accounting nodes in leader order (n = 3f+1). */
  readonly members: readonly AccountingMember[]
  /** gtime of Dblock 0 (default: the network's genesis time). */
  readonly genesisTime: number
  /** Consortium signers of doctor register/suspend records, m-of-n, and the genesis doctors' identity records (hex). */
  readonly registry: { readonly members: readonly string[], readonly threshold: number, readonly doctors: readonly string[] }
  /** The consortium's Healthcoin account users prepay, and the price of one diagnosis. */
  readonly consortium: string
  readonly diagnosisPrice: number
  /** Core user nodes to sync Userchain from (for the htxI and payment checks). */
  readonly userchain: { readonly bootstrap: readonly string[] }
  /** Doctor submissions accepted per second per doctor peer. */
  readonly submitRate: number
  readonly pbft: PbftSettings
}

function hexId (v: unknown, field: string): string {
  if (typeof v !== 'string' || !/^[0-9a-f]{64}$/i.test(v)) throw new InvalidFieldError(field, 'must be an ID: 64 hex digits')
  return v.toLowerCase()
}

function p2pAddr (v: unknown, field: string): string {
  if (typeof v !== 'string' || !v.startsWith('/') || !/\/p2p\/[1-9A-HJ-NP-Za-km-z]+$/.test(v)) throw new InvalidFieldError(field, 'must be a multiaddr ending in /p2p/<peer id>')
  return v
}

function only (o: Json, path: string, known: readonly string[]): void {
  for (const k of Object.keys(o)) if (!known.includes(k)) throw new InvalidFieldError(`${path}${k}`, `unknown setting (have: ${known.join(', ')})`)
}

/** Checks a parsed config, naming the first bad field; fills the defaults. */
export function validateAccountingConfig (j: unknown, baseDir = '.'): AccountingConfig {
  if (!isObj(j)) throw new InvalidFieldError('config', 'must be a JSON object')
  only(j, '', ['dataDir', 'network', 'keystore', 'listen', 'members', 'genesisTime', 'registry', 'consortium', 'diagnosisPrice', 'userchain', 'submitRate', 'pbft'])
  const network = str(j, 'network', '', 'devnet')
  if (!(network in NETWORKS)) throw new InvalidFieldError('network', `must be one of ${Object.keys(NETWORKS).join(', ')}`)
  const params = NETWORKS[network as keyof typeof NETWORKS]
  const dataDir = resolve(baseDir, str(j, 'dataDir', ''))

  if (!Array.isArray(j.members) || j.members.length === 0) throw new InvalidFieldError('members', 'must be a non-empty list of {"id", "addr"} in leader order')
  if (j.members.length > 100) throw new InvalidFieldError('members', 'at most 100 accounting nodes')
  const members = j.members.map((m, i): AccountingMember => {
    if (!isObj(m)) throw new InvalidFieldError(`members[${i}]`, 'must be {"id", "addr"}')
    only(m, `members[${i}].`, ['id', 'addr'])
    const id = hexId(m.id, `members[${i}].id`)
    return m.addr === undefined ? { id } : { id, addr: p2pAddr(m.addr, `members[${i}].addr`) }
  })
  const ids = new Set(members.map((m) => m.id))
  if (ids.size !== members.length) throw new InvalidFieldError('members', 'an ID is listed twice')

  const r = j.registry
  if (!isObj(r)) throw new InvalidFieldError('registry', 'must be {"members", "threshold", "doctors"}')
  only(r, 'registry.', ['members', 'threshold', 'doctors'])
  const rMembers = strings(r, 'members', 'registry.').map((x, i) => hexId(x, `registry.members[${i}]`))
  if (rMembers.length === 0) throw new InvalidFieldError('registry.members', 'at least one consortium signer')
  const threshold = int(r, 'threshold', 'registry.', 1, rMembers.length, 1)
  const doctors = strings(r, 'doctors', 'registry.').map((x, i) => {
    try { decodeIdentityRecord(fromHex(`registry.doctors[${i}]`, x)) } catch (err) {
      throw new InvalidFieldError(`registry.doctors[${i}]`, `not an identity record (from \`healthchain keys export-public\`): ${(err as Error).message}`)
    }
    return x.toLowerCase()
  })

  const u = j.userchain ?? {}
  if (!isObj(u)) throw new InvalidFieldError('userchain', 'must be {"bootstrap": [multiaddr, …]}')
  only(u, 'userchain.', ['bootstrap'])
  const bootstrap = strings(u, 'bootstrap', 'userchain.').map((a, i) => p2pAddr(a, `userchain.bootstrap[${i}]`))

  const p = j.pbft ?? {}
  if (!isObj(p)) throw new InvalidFieldError('pbft', `must be an object of ${PBFT_SETTINGS.join(', ')}`)
  only(p, 'pbft.', PBFT_SETTINGS)
  const pbft: PbftSettings = {}
  for (const k of PBFT_SETTINGS) if (p[k] !== undefined) pbft[k] = int(p, k, 'pbft.', k === 'rotateEveryBlocks' ? 0 : 1, 3_600_000)

  return {
    dataDir,
    network: network as AccountingConfig['network'],
    keystore: resolve(baseDir, str(j, 'keystore', '', join(dataDir, 'keystore.json'))),
    listen: j.listen === undefined ? ['/ip4/127.0.0.1/tcp/0'] : strings(j, 'listen', ''),
    members,
    genesisTime: int(j, 'genesisTime', '', 0, 2 ** 32 - 1, params.genesisTime),
    registry: { members: rMembers, threshold, doctors },
    consortium: hexId(j.consortium, 'consortium'),
    diagnosisPrice: int(j, 'diagnosisPrice', '', 0, Number.MAX_SAFE_INTEGER, DIAGNOSIS_PRICE),
    userchain: { bootstrap },
    submitRate: int(j, 'submitRate', '', 1, 1_000_000, 5_000),
    pbft
  }
}

/** The members' addresses, keyed by ID hex, once every other member has one (from the file or given at start). */
export function peerAddresses (cfg: AccountingConfig, self: Uint8Array, given: ReadonlyMap<string, string> = new Map()): Map<string, string> {
  const me = toHex(self)
  if (!cfg.members.some((m) => m.id === me)) throw new InvalidFieldError('members', `this node's ID ${me} (from the keystore) is not one of the members`)
  const out = new Map<string, string>()
  cfg.members.forEach((m, i) => {
    const a = given.get(m.id) ?? m.addr
    if (a !== undefined) out.set(m.id, p2pAddr(a, `members[${i}].addr`))
    else if (m.id !== me) throw new InvalidFieldError(`members[${i}].addr`, `no address for accounting node ${m.id}`)
  })
  return out
}

export function parseAccountingConfig (text: string, baseDir: string, name = 'config'): AccountingConfig {
  return parseConfigText(text, baseDir, name, validateAccountingConfig)
}

export async function loadAccountingConfig (file: string): Promise<AccountingConfig> {
  return await loadConfigFile(file, parseAccountingConfig)
}
