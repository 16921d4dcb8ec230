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
import { docchainReaderConfig, DocchainSection, type DocchainReaderConfig } from './docchain.ts'
import { intIn, loadConfigFile, nonEmpty, oneOf, p2pAddr, parseConfigText, parseWith, port, schemaRef, multiaddrs, z } from './schema.ts'

const MiB = 1024 * 1024

/** Who may upload and how long an upload waits for a transaction (DESIGN §6). */
const UploadsSection = z.strictObject({
  quotaBytes: intIn(0, 2 ** 40).default(64 * MiB).describe('bytes one identity may hold here unconfirmed (uploaded, not yet named by a transaction)'),
  quotaUploads: intIn(0, 1_000_000).default(256).describe('uploads one identity may hold here unconfirmed'),
  deadlineSeconds: intIn(1, 30 * 86_400).optional().describe('an upload no transaction names within this long is pruned (default: the network\'s txMaxAge, after which its tx_IoT can no longer be mined)'),
  pruneEverySeconds: intIn(0, 86_400).default(60).describe('how often expired unconfirmed uploads are pruned (0: never)'),
  maxSkewSeconds: intIn(1, 86_400).default(600).describe('an upload signature older or newer than this (by this node\'s clock) is refused')
}, { error: 'must be {"quotaBytes", "quotaUploads", "deadlineSeconds", "pruneEverySeconds", "maxSkewSeconds"}' })

/** The IPFS Pinning Service API (OpenAPI, v1.0.0) this node serves over HTTP(S). */
const PinningApiSection = z.strictObject({
  host: nonEmpty().default('127.0.0.1').describe('listen address (default loopback; put it on the LAN only with tls)'),
  port: port().default(4202).describe('listen port (0: any free port, printed at start)'),
  tokens: z.array(z.strictObject({
    name: nonEmpty().describe('who holds the token (shown in logs)'),
    sha256: z.string({ error: 'must be 64 hex digits' }).regex(/^[0-9a-fA-F]{64}$/, { error: 'must be the SHA-256 of the token, 64 hex digits' }).transform((x) => x.toLowerCase()).describe('SHA-256 (hex) of the bearer token: the token itself is not kept here')
  }, { error: 'must be {"name", "sha256"}' }), { error: 'must be a list of {"name", "sha256"}' }).default([])
    .describe('static bearer tokens of trusted operators (another consortium node, an IPFS Cluster): their pins are kept for good. Users and doctors need none: they sign a token with their identity'),
  tls: z.strictObject({
    cert: nonEmpty().describe('PEM certificate chain file'),
    key: nonEmpty().describe('PEM private key file')
  }, { error: 'must be {"cert", "key"}' }).optional().describe('serve HTTPS with this certificate (bearer tokens must not cross a LAN in clear)')
}, { error: 'must be {"host", "port", "tokens", "tls"}' })

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
  retryFailedEveryMs: intIn(0, 86_400_000).default(60_000).describe('how often CIDs whose fetch failed are tried again (0: never)'),
  uploads: UploadsSection.default({ quotaBytes: 64 * MiB, quotaUploads: 256, pruneEverySeconds: 60, maxSkewSeconds: 600 }),
  docchain: DocchainSection.optional().describe('Docchain, for the registered doctors who may upload and the HEdm of each committed tx_diag (without it, doctors\' uploads are refused)'),
  pinningApi: PinningApiSection.optional().describe('serve the IPFS Pinning Service API (absent: not served)')
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
  readonly uploads: {
    readonly quotaBytes: number
    readonly quotaUploads: number
    readonly deadlineSeconds: number
    readonly pruneEverySeconds: number
    readonly maxSkewSeconds: number
  }
  readonly docchain?: DocchainReaderConfig
  readonly pinningApi?: {
    readonly host: string
    readonly port: number
    readonly tokens: ReadonlyArray<{ readonly name: string, readonly sha256: string }>
    readonly tls?: { readonly cert: string, readonly key: string }
  }
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
    retryFailedEveryMs: f.retryFailedEveryMs,
    uploads: { ...f.uploads, deadlineSeconds: f.uploads.deadlineSeconds ?? NETWORKS[f.network].txMaxAge },
    ...(f.docchain === undefined ? {} : { docchain: docchainReaderConfig(f.docchain, f.network) }),
    ...(f.pinningApi === undefined
      ? {}
      : {
          pinningApi: {
            host: f.pinningApi.host,
            port: f.pinningApi.port,
            tokens: f.pinningApi.tokens,
            ...(f.pinningApi.tls === undefined ? {} : { tls: { cert: resolve(baseDir, f.pinningApi.tls.cert), key: resolve(baseDir, f.pinningApi.tls.key) } })
          }
        })
  }
}

export function parseStorageConfig (text: string, baseDir: string, name = 'config'): StorageConfig {
  return parseConfigText(text, baseDir, name, validateStorageConfig)
}

export async function loadStorageConfig (file: string): Promise<StorageConfig> {
  return await loadConfigFile(file, parseStorageConfig)
}
