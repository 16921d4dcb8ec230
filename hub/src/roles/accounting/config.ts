/**
 * The accounting node's config file (`healthchain accounting --config <file>`;
 * hub/accounting.example.json documents every field), parsed and checked
 * here, naming the first bad field, with nothing else loaded (paper §III-A:
 * each consortium accounting node runs on its own machine; §IV-B3: the
 * n = 3f+1 accounting nodes, in leader order; §IV-B4: the consortium account
 * users prepay). Relative paths resolve against the file's directory.
 */
import { join, resolve } from 'node:path'
import { InvalidFieldError, NETWORKS, toHex } from '../../core/index.ts'
import { hexId, intIn, loadConfigFile, nonEmpty, oneOf, p2pAddr, parseConfigText, parseWith, schemaRef, multiaddrs, z } from '../../config/schema.ts'
import { accountingMembers, genesisRegistry, type GenesisRegistryConfig } from '../../config/docchain.ts'
import { DIAGNOSIS_PRICE } from '../consortium/credit.ts'

/** Replica timing and batching settings a config may override (core/pbft/replica.ts ReplicaConfig). */
export const PBFT_SETTINGS = ['checkpointInterval', 'window', 'maxBatch', 'batchDelayMs', 'maxInFlight', 'requestTimeoutMs', 'viewChangeTimeoutMs', 'rotateEveryBlocks', 'fetchTimeoutMs', 'statusEveryMs'] as const
export type PbftSettings = Partial<Record<typeof PBFT_SETTINGS[number], number>>

const NETWORK_NAMES = Object.keys(NETWORKS) as ['devnet', 'mainnet']

/** The accounting node's config file as written (the JSON Schema is generated from this). */
export const AccountingConfigFile = z.strictObject({
  $schema: schemaRef,
  dataDir: nonEmpty().describe('where this node keeps Docchain, its PBFT log, its Userchain copy and its libp2p key'),
  network: oneOf(NETWORK_NAMES).default('devnet').describe('the Userchain network followed for the tx_diag checks'),
  keystore: nonEmpty().optional().describe('this member\'s keystore (default: dataDir/keystore.json)'),
  listen: multiaddrs().optional().describe('libp2p listen multiaddrs (default: /ip4/127.0.0.1/tcp/0)'),
  members: accountingMembers('its libp2p multiaddr with /p2p/<peer id>; may be left out for this node itself')
    .describe('the accounting nodes in leader order, n = 3f+1 (paper §IV-B3)'),
  genesisTime: intIn(0, 2 ** 32 - 1).optional().describe('gtime of Dblock 0 (default: the network\'s genesis time)'),
  registry: genesisRegistry,
  consortium: hexId().describe('the consortium\'s Healthcoin account users prepay (paper §IV-B4)'),
  diagnosisPrice: intIn(0, Number.MAX_SAFE_INTEGER).default(DIAGNOSIS_PRICE).describe('Healthcoin one diagnosis costs'),
  settlement: z.strictObject({
    keystore: nonEmpty().describe('the consortium account\'s keystore'),
    passphraseFile: nonEmpty().optional().describe('file holding its passphrase (default: the same passphrase as this node\'s keystore)')
  }, { error: 'must be {"keystore", "passphraseFile"}' }).optional()
    .describe('only on the member holding the consortium\'s key: it pays doctors on Userchain for their committed diagnoses (paper §IV-B4)'),
  userchain: z.strictObject({
    bootstrap: z.array(p2pAddr(), { error: 'must be a list of strings' }).default([]).describe('core user nodes to sync Userchain from')
  }, { error: 'must be {"bootstrap": [multiaddr, …]}' }).default({ bootstrap: [] }),
  submitRate: intIn(1, 1_000_000).default(5_000).describe('doctor submissions accepted per second per doctor peer'),
  pbft: z.strictObject(Object.fromEntries(PBFT_SETTINGS.map((k) => [k, intIn(k === 'rotateEveryBlocks' ? 0 : 1, 3_600_000).optional()])) as Record<typeof PBFT_SETTINGS[number], z.ZodOptional<z.ZodInt>>,
    { error: `must be an object of ${PBFT_SETTINGS.join(', ')}` }).default({}).describe('replica tuning (core/pbft/replica.ts)')
}, { error: 'must be a JSON object' })

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
  readonly registry: GenesisRegistryConfig
  /** The consortium's Healthcoin account users prepay, and the price of one diagnosis. */
  readonly consortium: string
  readonly diagnosisPrice: number
  /** The consortium account's keystore, on the member that settles doctors' earnings (paths resolved). */
  readonly settlement?: { readonly keystore: string, readonly passphraseFile?: string }
  /** Core user nodes to sync Userchain from (for the htxI and payment checks). */
  readonly userchain: { readonly bootstrap: readonly string[] }
  /** Doctor submissions accepted per second per doctor peer. */
  readonly submitRate: number
  readonly pbft: PbftSettings
}

/** Checks a parsed config, naming the first bad field; fills the defaults. */
export function validateAccountingConfig (j: unknown, baseDir = '.'): AccountingConfig {
  const f = parseWith(AccountingConfigFile, j)
  const dataDir = resolve(baseDir, f.dataDir)
  const pbft: PbftSettings = {}
  for (const k of PBFT_SETTINGS) if (f.pbft[k] !== undefined) pbft[k] = f.pbft[k]
  return {
    dataDir,
    network: f.network,
    keystore: resolve(baseDir, f.keystore ?? join(dataDir, 'keystore.json')),
    listen: f.listen ?? ['/ip4/127.0.0.1/tcp/0'],
    members: f.members.map((m) => m.addr === undefined ? { id: m.id } : { id: m.id, addr: m.addr }),
    genesisTime: f.genesisTime ?? NETWORKS[f.network].genesisTime,
    registry: f.registry,
    consortium: f.consortium,
    diagnosisPrice: f.diagnosisPrice,
    ...(f.settlement === undefined
      ? {}
      : { settlement: { keystore: resolve(baseDir, f.settlement.keystore), ...(f.settlement.passphraseFile === undefined ? {} : { passphraseFile: resolve(baseDir, f.settlement.passphraseFile) }) } }),
    userchain: f.userchain,
    submitRate: f.submitRate,
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
    if (a !== undefined) {
      if (!p2pAddr().safeParse(a).success) throw new InvalidFieldError(`members[${i}].addr`, 'must be a multiaddr ending in /p2p/<peer id>')
      out.set(m.id, a)
    }
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
