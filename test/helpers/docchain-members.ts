/**
 * Four accounting nodes in this process, each on its own libp2p node
 * (net/node.ts) and LevelDB, running PBFT over libp2p and publishing
 * Docchain to readers (net/docchain.ts) as roles/accounting/service.ts
 * does; their Userchain and payment checks accept the causes `diag()` made.
 * In-process to keep CPU low; test/helpers/accounting-cluster.ts spawns the
 * real daemons.
 */
import { join } from 'node:path'
import { buildIdentityRecord, buildTxDiag, encodeIdentityRecord, sha256, toHex, utf8Bytes, type Identity, type TxDiag } from '../../hub/src/core/index.ts'
import { DoctorRegistry } from '../../hub/src/core/pbft/registry.ts'
import { AccountingNode } from '../../hub/src/roles/accounting/node.ts'
import { libp2pPbftTransport } from '../../hub/src/roles/accounting/libp2p-transport.ts'
import { docchainGenesis, publishDocchain } from '../../hub/src/net/docchain.ts'
import { createNetNode, type NetNode } from '../../hub/src/net/node.ts'
import { ident } from '../fuzz/pbft-sim.ts'
import { validateHubConfig, type HubConfig } from '../../hub/src/hub.ts'

export const GTIME = 1_790_000_000

export interface DocchainMembers {
  readonly replicas: readonly Identity[]
  readonly ids: readonly Uint8Array[]
  readonly doctor: Identity
  readonly nodes: readonly AccountingNode[]
  readonly nets: readonly NetNode[]
  /** Each member's multiaddr with /p2p/, in member order. */
  readonly addrs: readonly string[]
  /** The registry every member starts from: consortium = member 0, the doctor registered. */
  registry: () => DoctorRegistry
  /** A fresh tx_diag by the doctor, citing a cause the members accept. */
  diag: () => TxDiag
  /** Makes the members take `htxI` as a tx_IoT on Userchain (a tx_diag citing it may commit). */
  accept: (htxI: Uint8Array) => void
  stop: () => Promise<void>
}

export async function startDocchainMembers (dir: string, label: string): Promise<DocchainMembers> {
  const replicas = [0, 1, 2, 3].map((i) => ident(`${label}-replica-${i}`))
  const ids = replicas.map((r) => r.id)
  const doctor = ident(`${label}-doctor`)
  const user = ident(`${label}-user`)
  const causes = new Set<string>()
  let n = 0
  const diag = (): TxDiag => {
    const cause = sha256(utf8Bytes(`${label}-cause-${n}`))
    causes.add(toHex(cause))
    return buildTxDiag(doctor, { ts: GTIME + n++, causes: [cause], hedm: sha256(utf8Bytes(`${label}-dm-${n}`)) })
  }
  const registry = (): DoctorRegistry => new DoctorRegistry({ members: [replicas[0]!.id], threshold: 1 }, [encodeIdentityRecord(buildIdentityRecord(doctor, 1))])
  const nets: NetNode[] = []
  const nodes: AccountingNode[] = []
  const stops: Array<() => Promise<void>> = []
  const stop = async (): Promise<void> => {
    for (const s of stops.splice(0).reverse()) await s().catch(() => {})
    for (const x of nets.splice(0)) await x.stop()
  }
  try {
    for (let i = 0; i < 4; i++) nets.push(await createNetNode({ network: 'devnet' }))
    const addrs = nets.map((x) => x.addrs()[0]!.toString())
    const peers = new Map(replicas.map((r, i) => [toHex(r.id), addrs[i]!]))
    for (let i = 0; i < 4; i++) {
      const node = await AccountingNode.start({
        identity: replicas[i]!,
        members: ids,
        genesis: docchainGenesis(GTIME),
        dir: join(dir, `${label}-n${i}`),
        transport: await libp2pPbftTransport({ libp2p: nets[i]!.libp2p, self: replicas[i]!.id, peers }),
        registry: registry(),
        userchain: { iotTx: async (h) => (causes.has(toHex(h)) ? { user: user.id, epoch: 1 } : null), epochReaders: async () => ({ envelopes: [doctor.id] }) },
        payments: { paid: async () => Infinity, price: 1 },
        replica: { batchDelayMs: 5, requestTimeoutMs: 1500, viewChangeTimeoutMs: 1500, statusEveryMs: 300 },
        tickMs: 10
      })
      stops.push(async () => { await node.stop() })
      const pub = await publishDocchain(nets[i]!, ids, node)
      stops.push(pub.stop)
      node.onCommit = (b) => { pub.publish(b) }
      nodes.push(node)
    }
    return { replicas, ids, doctor, nodes, nets, addrs, registry, diag, accept: (h) => { causes.add(toHex(h)) }, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

/** A loopback hub's config (no mining, port 0 everywhere) that follows these members' Docchain. */
export function hubConfigFollowing (m: DocchainMembers, dataDir: string, storageNode: string, dir: string): HubConfig {
  return validateHubConfig({
    dataDir, network: 'devnet', listen: ['/ip4/127.0.0.1/tcp/0'], mine: false,
    storageNodes: [storageNode], replication: 1, broker: { embedded: { host: '127.0.0.1', port: 0 } }, http: { host: '127.0.0.1', port: 0 }, editor: { host: '127.0.0.1', port: 0 },
    docchain: {
      members: m.replicas.map((r, i) => ({ id: toHex(r.id), addr: m.addrs[i] })),
      genesisTime: GTIME,
      registry: { members: [toHex(m.replicas[0]!.id)], threshold: 1, doctors: [toHex(encodeIdentityRecord(buildIdentityRecord(m.doctor, 1)))] },
      pollSeconds: 1
    }
  }, dir)
}
