/**
 * The storage node's config file (`healthchain storage --config <file>`;
 * hub/storage.example.json documents every field), parsed and checked here,
 * naming the first bad field, with nothing else loaded (paper §III-A:
 * storage nodes run by the consortium keep the encrypted data; DESIGN §6:
 * they pin every CID named on chain, keep at least two replicas and serve
 * them to any peer). Relative paths resolve against the file's directory.
 */
import { resolve } from 'node:path'
import { NETWORKS } from '../core/index.ts'
import { intIn, loadConfigFile, nonEmpty, oneOf, p2pAddr, parseConfigText, parseWith, schemaRef, multiaddrs, z } from './schema.ts'

const NETWORK_NAMES = Object.keys(NETWORKS) as ['devnet', 'mainnet']

/** The storage node's config file as written (the JSON Schema is generated from this). */
export const StorageConfigFile = z.strictObject({
  $schema: schemaRef,
  dataDir: nonEmpty().describe('where this node keeps its blocks and pins (LevelDB), its Userchain copy and its libp2p key (libp2p.seed)'),
  network: oneOf(NETWORK_NAMES).default('devnet').describe('the Userchain network followed for the CIDs to pin'),
  listen: multiaddrs().min(1, { error: 'must be a list of multiaddrs' }).optional().describe('libp2p listen multiaddrs, for uploads, fetches and Userchain (default: /ip4/127.0.0.1/tcp/0)'),
  replicas: z.array(p2pAddr(), { error: 'must be a list of strings' }).default([])
    .refine((rs) => new Set(rs).size === rs.length, { error: 'a replica is listed twice' })
    .describe('the other storage nodes, asked for a block this node lacks'),
  userchain: z.strictObject({
    bootstrap: z.array(p2pAddr(), { error: 'must be a list of strings' }).default([]).describe('core user nodes to follow Userchain from')
  }, { error: 'must be {"bootstrap": [multiaddr, …]}' }).default({ bootstrap: [] }),
  fetchAttempts: intIn(1, 100).default(3).describe('fetch attempts for a CID named on chain before it is reported failed'),
  retryDelayMs: intIn(0, 600_000).default(200).describe('delay before the second fetch attempt, doubled each time'),
  retryFailedEveryMs: intIn(0, 86_400_000).default(60_000).describe('how often CIDs whose fetch failed are tried again (0: never)')
}, { error: 'must be a JSON object' })

export interface StorageConfig {
  readonly dataDir: string
  readonly network: 'devnet' | 'mainnet'
  readonly listen: readonly string[]
  /** The other storage nodes (multiaddrs with /p2p/<peer id>). */
  readonly replicas: readonly string[]
  /** Core user nodes to follow Userchain from. */
  readonly userchain: { readonly bootstrap: readonly string[] }
  readonly fetchAttempts: number
  readonly retryDelayMs: number
  readonly retryFailedEveryMs: number
}

/** Checks a parsed config, naming the first bad field; fills the defaults. */
export function validateStorageConfig (j: unknown, baseDir = '.'): StorageConfig {
  const f = parseWith(StorageConfigFile, j)
  return {
    dataDir: resolve(baseDir, f.dataDir),
    network: f.network,
    listen: f.listen ?? ['/ip4/127.0.0.1/tcp/0'],
    replicas: f.replicas,
    userchain: f.userchain,
    fetchAttempts: f.fetchAttempts,
    retryDelayMs: f.retryDelayMs,
    retryFailedEveryMs: f.retryFailedEveryMs
  }
}

export function parseStorageConfig (text: string, baseDir: string, name = 'config'): StorageConfig {
  return parseConfigText(text, baseDir, name, validateStorageConfig)
}

export async function loadStorageConfig (file: string): Promise<StorageConfig> {
  return await loadConfigFile(file, parseStorageConfig)
}
