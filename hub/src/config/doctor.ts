/**
 * The doctor node's config file (`healthchain doctor --config <file>`;
 * hub/doctor.example.json shows every field, hub/schemas/doctor.schema.json
 * is its JSON Schema), parsed and checked here, naming the first bad field,
 * with nothing else loaded (paper §III-A: a doctor node, AI or human, on its
 * own machine; §IV-B5 disease diagnosis). Relative paths resolve against the
 * file's directory.
 */
import { join, resolve } from 'node:path'
import { InvalidFieldError, NETWORKS } from '../core/index.ts'
import { DIAGNOSIS_PRICE } from '../roles/consortium/credit.ts'
import { docchainReaderConfig, DocchainSection, type DocchainReaderConfig } from './docchain.ts'
import { hexId, intIn, loadConfigFile, nonEmpty, oneOf, p2pAddr, parseConfigText, parseWith, port, schemaRef, multiaddrs, z } from './schema.ts'

const NETWORK_NAMES = Object.keys(NETWORKS) as ['devnet', 'mainnet']
const SEVERITY_NAMES = ['routine', 'low', 'urgent', 'emergency'] as const

/** The doctor node's config file as written (the JSON Schema is generated from this). */
export const DoctorConfigFile = z.strictObject({
  $schema: schemaRef,
  dataDir: nonEmpty().describe('where the doctor keeps its Userchain copy, its batch and diagnosis journal, IPFS cache, libp2p key and page login'),
  network: oneOf(NETWORK_NAMES).default('devnet').describe('the Userchain network followed'),
  mode: oneOf(['ai', 'human']).describe('"ai": analyse and submit automatically; "human": queue each analysed batch for review on the doctor page'),
  name: nonEmpty().optional().describe('the name shown on the page and written into reviewed diagnoses (default "AI analyzer" or "Doctor")'),
  keystore: nonEmpty().optional().describe('this doctor\'s keystore (default: dataDir/keystore.json); its ID must be registered on Docchain'),
  listen: multiaddrs().optional().describe('libp2p listen multiaddrs (default: /ip4/127.0.0.1/tcp/0)'),
  userchain: z.strictObject({
    bootstrap: z.array(p2pAddr(), { error: 'must be a list of multiaddrs ending in /p2p/<peer id>' })
      .min(1, { error: 'at least one core user node to follow Userchain from' }).describe('core user nodes to sync Userchain from')
  }, { error: 'must be {"bootstrap": [multiaddr, …]}' }).describe('Userchain, followed by a non-mining core node (tx_key and tx_IoT of the patients)'),
  storageNodes: z.array(p2pAddr(), { error: 'must be a list of multiaddrs ending in /p2p/<peer id>' })
    .min(1, { error: 'at least one storage node (batches are fetched from them, diagnoses uploaded to them)' })
    .describe('the consortium\'s IPFS storage nodes (multiaddrs ending in /p2p/<peer id>)'),
  replication: intIn(1, 16).optional().describe('storage nodes that must acknowledge a sealed diagnosis before its tx_diag names it (default: min(2, storage nodes))'),
  docchain: DocchainSection.describe('the Docchain this doctor submits to and follows, as in the accounting config: members with an "addr" get its tx_diag over /healthchain/diag/2.0.0 and serve catch-up; 2f+1 of the members\' signatures certify a receipt or a Dblock'),
  submit: z.strictObject({
    timeoutSeconds: intIn(1, 3600).default(120).describe('how long one submission may wait for its commit'),
    retrySeconds: intIn(1, 86_400).default(30).describe('how often a tx_diag still without a receipt is sent again (same bytes)')
  }, { error: 'must be {"timeoutSeconds", "retrySeconds"}' }).default({ timeoutSeconds: 120, retrySeconds: 30 }).describe('sending tx_diag to the accounting nodes'),
  consortium: hexId().optional().describe('the consortium\'s Healthcoin account: when set, batches of patients who have not prepaid it are not analysed (paper §IV-B4)'),
  diagnosisPrice: intIn(0, Number.MAX_SAFE_INTEGER).default(DIAGNOSIS_PRICE).describe('Healthcoin one diagnosis costs'),
  minSeverity: oneOf(SEVERITY_NAMES).default('low').describe('least severity worth a tx_diag in mode "ai" (routine batches cost the patient nothing)'),
  episodes: z.strictObject({
    recoverySeconds: intIn(0, 86_400).default(120).describe('how long a patient\'s vitals must stay normal before the episode is closed (and its resolution diagnosed)')
  }, { error: 'must be {"recoverySeconds"}' }).default({ recoverySeconds: 120 }).describe('episodes: consecutive abnormal batches of a patient are one episode, diagnosed when it opens, worsens, shows a new finding and resolves — not per batch'),
  http: z.strictObject({
    host: nonEmpty().default('127.0.0.1'),
    port: port().default(1881)
  }, { error: 'must be {"host", "port"}' }).default({ host: '127.0.0.1', port: 1881 }).describe('the doctor page (login made on first start)')
}, { error: 'must be a JSON object' })

export interface DoctorConfig {
  readonly dataDir: string
  readonly network: 'devnet' | 'mainnet'
  readonly mode: 'ai' | 'human'
  readonly name: string
  readonly keystore: string
  readonly listen: readonly string[]
  readonly userchain: { readonly bootstrap: readonly string[] }
  readonly storageNodes: readonly string[]
  readonly replication: number
  /** The accounting nodes (leader order; those with a multiaddr are submitted to and caught up from), genesis time and genesis registry. */
  readonly docchain: DocchainReaderConfig
  /** Submission timeout and retry period (seconds). */
  readonly submit: { readonly timeoutSeconds: number, readonly retrySeconds: number }
  readonly consortium?: string
  readonly diagnosisPrice: number
  readonly minSeverity: typeof SEVERITY_NAMES[number]
  /** Episode timing: seconds of normal vitals that close an episode. */
  readonly episodes: { readonly recoverySeconds: number }
  readonly http: { readonly host: string, readonly port: number }
}

/** Checks a parsed config, naming the first bad field; fills the defaults and resolves paths against `baseDir`. */
export function validateDoctorConfig (j: unknown, baseDir = '.'): DoctorConfig {
  const f = parseWith(DoctorConfigFile, j)
  const dataDir = resolve(baseDir, f.dataDir)
  const replication = f.replication ?? Math.min(2, f.storageNodes.length)
  if (f.storageNodes.length < replication) throw new InvalidFieldError('replication', `${replication} needs at least that many storageNodes (${f.storageNodes.length} given)`)
  return {
    dataDir,
    network: f.network,
    mode: f.mode,
    name: f.name ?? (f.mode === 'ai' ? 'AI analyzer' : 'Doctor'),
    keystore: resolve(baseDir, f.keystore ?? join(dataDir, 'keystore.json')),
    listen: f.listen ?? ['/ip4/127.0.0.1/tcp/0'],
    userchain: f.userchain,
    storageNodes: f.storageNodes,
    replication,
    docchain: docchainReaderConfig(f.docchain, f.network),
    submit: f.submit,
    ...(f.consortium === undefined ? {} : { consortium: f.consortium }),
    diagnosisPrice: f.diagnosisPrice,
    minSeverity: f.minSeverity,
    episodes: f.episodes,
    http: f.http
  }
}

export function parseDoctorConfig (text: string, baseDir: string, name = 'config'): DoctorConfig {
  return parseConfigText(text, baseDir, name, validateDoctorConfig)
}

export async function loadDoctorConfig (file: string): Promise<DoctorConfig> {
  return await loadConfigFile(file, parseDoctorConfig)
}
