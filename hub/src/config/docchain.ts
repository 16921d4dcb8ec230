/**
 * Docchain as config files name it (paper §IV-B3: n = 3f+1 accounting nodes
 * in leader order; §III-A: doctors registered by the consortium): the
 * accounting members, the genesis time and the genesis doctor registry.
 * The accounting node's config and a reader's (the hub's `docchain`
 * section) write them alike, so one can be copied into the other.
 */
import { decodeIdentityRecord, fromHex, NETWORKS } from '../core/index.ts'
import { DoctorRegistry } from '../core/pbft/registry.ts'
import { hexId, intIn, p2pAddr, z } from './schema.ts'

/** A doctor's identity record (hex of `healthchain keys export-public`). */
export const identityRecordHex = z.string({ error: 'must be an identity record in hex (from `healthchain keys export-public`)' }).check((ctx) => {
  try { decodeIdentityRecord(fromHex('record', ctx.value)) } catch (err) {
    ctx.issues.push({ code: 'custom', input: ctx.value, message: `not an identity record (from \`healthchain keys export-public\`): ${(err as Error).message}` })
  }
}).transform((x) => x.toLowerCase())

/** The accounting nodes in leader order, each {id, addr}. */
export const accountingMembers = (addrDoc: string): z.ZodType<Array<{ id: string, addr?: string | undefined }>> => z.array(z.strictObject({
  id: hexId().describe('the member\'s ID (Ed25519 public key, hex)'),
  addr: p2pAddr().optional().describe(addrDoc)
}, { error: 'must be {"id", "addr"}' }), { error: 'must be a non-empty list of {"id", "addr"} in leader order' })
  .min(1, { error: 'must be a non-empty list of {"id", "addr"} in leader order' })
  .max(100, { error: 'at most 100 accounting nodes' })
  .refine((ms) => new Set(ms.map((m) => m.id)).size === ms.length, { error: 'an ID is listed twice' })

/** The registry at genesis: consortium signers of register/suspend records (m of n) and the genesis doctors. */
export const genesisRegistry = z.strictObject({
  members: z.array(hexId(), { error: 'must be a list of strings' }).min(1, { error: 'at least one consortium signer' }).describe('consortium signers of doctor register/suspend records'),
  threshold: intIn(1, 100).default(1).describe('signatures a record needs (m of n)'),
  doctors: z.array(identityRecordHex, { error: 'must be a list of strings' }).default([]).describe('the genesis doctors\' identity records'),
  emergency: z.array(hexId(), { error: 'must be a list of strings' }).optional().describe('IDs of genesis doctors with the emergency role (may request emergency access to a patient\'s escrowed epochs)'),
  accounting: z.array(identityRecordHex, { error: 'must be a list of strings' }).optional().describe('the accounting nodes\' identity records (their X25519 keys: patients who opt in to emergency access seal escrow shares to them)')
}, { error: 'must be {"members", "threshold", "doctors", "emergency", "accounting"}' })
  .refine((r) => r.threshold <= r.members.length, { error: 'must be an integer in [1, the number of registry.members]', path: ['threshold'] })

export interface GenesisRegistryConfig {
  readonly members: readonly string[]
  readonly threshold: number
  readonly doctors: readonly string[]
  readonly emergency?: readonly string[]
  readonly accounting?: readonly string[]
}

/** The registry a config describes. */
export function registryOf (r: GenesisRegistryConfig): DoctorRegistry {
  return new DoctorRegistry({ members: r.members.map((m) => fromHex('registry.members', m)), threshold: r.threshold }, r.doctors.map((d) => fromHex('registry.doctors', d)), {
    emergency: (r.emergency ?? []).map((d) => fromHex('registry.emergency', d)),
    accounting: (r.accounting ?? []).map((d) => fromHex('registry.accounting', d))
  })
}

/** A reader's `docchain` section: where Docchain is read from and what certifies it. */
export const DocchainSection = z.strictObject({
  members: accountingMembers('its libp2p multiaddr with /p2p/<peer id>, to catch up from')
    .refine((ms) => ms.some((m) => m.addr !== undefined), { error: 'at least one member needs an "addr" to catch up from' })
    .describe('the accounting nodes in leader order (their IDs certify Dblocks: 2f+1 signatures), as in the accounting config'),
  genesisTime: intIn(0, 2 ** 32 - 1).optional().describe('gtime of Dblock 0 (default: the network\'s genesis time), as in the accounting config'),
  registry: genesisRegistry.describe('the genesis doctor registry, as in the accounting config'),
  pollSeconds: intIn(0, 86_400).default(30).describe('ask a member for new Dblocks this often when gossip brings none (0: only at start and on a gap)')
}, { error: 'must be {"members", "genesisTime", "registry", "pollSeconds"}' })

export interface DocchainReaderConfig {
  /** The accounting nodes in leader order: ID hex, and multiaddr where given. */
  readonly members: ReadonlyArray<{ readonly id: string, readonly addr?: string }>
  readonly genesisTime: number
  readonly registry: GenesisRegistryConfig
  readonly pollSeconds: number
}

/** A parsed `docchain` section with its defaults for `network`. */
export function docchainReaderConfig (f: z.output<typeof DocchainSection>, network: keyof typeof NETWORKS): DocchainReaderConfig {
  return {
    members: f.members.map((m) => m.addr === undefined ? { id: m.id } : { id: m.id, addr: m.addr }),
    genesisTime: f.genesisTime ?? NETWORKS[network].genesisTime,
    registry: f.registry,
    pollSeconds: f.pollSeconds
  }
}
