/**
 * Four accounting nodes in this process on the in-process PBFT transport,
 * reading Userchain and the prepaid credit from a core node (the production
 * admission rules: causes confirmed on the best chain, credit paid), the
 * consortium as registry signer with `doctors` registered at genesis; each
 * stopped at teardown. Shared by the admission and doctor test worlds
 * (the devnet and the process tests run the real daemons instead).
 */
import { join } from 'node:path'
import { buildIdentityRecord, dblockProposal, DEVNET, encodeIdentityRecord, type Identity } from '../../hub/src/core/index.ts'
import { DoctorRegistry } from '../../hub/src/core/pbft/registry.ts'
import { AccountingNode, type AccountingOptions } from '../../hub/src/roles/accounting/node.ts'
import { MemoryNetwork } from './memory-network.ts'
import { accountingLookups, type UserchainView } from '../../hub/src/roles/accounting/userchain-view.ts'
import type { CreditBook } from '../../hub/src/roles/consortium/credit.ts'

export interface MemoryConsortium {
  readonly nodes: AccountingNode[]
  readonly registry: DoctorRegistry
}

export async function startMemoryConsortium (t: { teardown: (fn: () => Promise<void>) => void }, o: {
  dir: string
  members: readonly Identity[]
  consortium: Identity
  doctors: readonly Identity[]
  view: UserchainView
  credit: CreditBook
  /** Extra node options (faster PBFT timers in a test). */
  tune?: Pick<AccountingOptions, 'replica' | 'tickMs' | 'log'>
  /** Doctors among `doctors` registered with the emergency role. */
  emergency?: readonly Identity[]
}): Promise<MemoryConsortium> {
  // the members' identity records are published (their X25519 keys, for emergency escrow)
  const record = (x: Identity): Uint8Array => encodeIdentityRecord(buildIdentityRecord(x, DEVNET.genesisTime))
  const registry = new DoctorRegistry({ members: [o.consortium.id], threshold: 1 }, o.doctors.map(record), { emergency: (o.emergency ?? []).map((d) => d.id), accounting: o.members.map(record) })
  const genesis = dblockProposal({ index: 0, gtime: DEVNET.genesisTime, prehash: new Uint8Array(32), view: 0, leader: new Uint8Array(32), txs: [] })
  const mem = new MemoryNetwork()
  const nodes: AccountingNode[] = []
  for (let i = 0; i < o.members.length; i++) {
    const node = await AccountingNode.start({
      identity: o.members[i]!,
      members: o.members.map((m) => m.id),
      genesis,
      dir: join(o.dir, `accounting-${i}`),
      transport: mem.join(o.members[i]!.id),
      registry,
      ...accountingLookups(o.view, o.credit),
      ...o.tune
    })
    nodes.push(node)
    t.teardown(async () => { await node.stop() })
  }
  return { nodes, registry }
}
