/**
 * The consortium of the accounting-node crash test: four replicas, one
 * doctor, the Docchain genesis, and how each node starts over libp2p — shared
 * by the parent (three honest nodes) and the child that gets killed.
 */
import type { Libp2p } from '@libp2p/interface'
import { buildIdentityRecord, buildTxDiag, encodeIdentityRecord, sha256, toHex, utf8Bytes, type TxDiag } from '../../hub/src/core/index.ts'
import { DoctorRegistry } from '../../hub/src/core/pbft/registry.ts'
import { AccountingNode } from '../../hub/src/roles/accounting/node.ts'
import { libp2pPbftTransport } from '../../hub/src/roles/accounting/libp2p-transport.ts'
import { createIpfsLibp2p, keyFromSeed } from '../../hub/src/ipfs/libp2p.ts'
import { GENESIS, ident } from '../fuzz/pbft-sim.ts'

export const replicas = [0, 1, 2, 3].map((i) => ident(`crash-replica-${i}`))
export const doctor = ident('crash-doctor')
export const user = ident('crash-user')

/** tx_diag number `n` (its cause is the n-th tx_IoT the test's Userchain view knows). */
export function diag (n: number): TxDiag {
  return buildTxDiag(doctor, { ts: 1_790_000_000 + n, causes: [cause(n)], hedm: sha256(utf8Bytes(`crash-dm-${n}`)) })
}
export function cause (n: number): Uint8Array { return sha256(utf8Bytes(`crash-cause-${n}`)) }

/** Every replica's libp2p node has a fixed key, so the victim keeps its peer id across restarts. */
async function key (i: number): Promise<Awaited<ReturnType<typeof keyFromSeed>>> { return await keyFromSeed(sha256(utf8Bytes(`crash-libp2p-${i}`))) }
export async function peerId (i: number): Promise<string> { return (await key(i)).publicKey.toString() }

/**
 * `timeouts`: the PBFT request and view-change timers (ms), if not the quick
 * defaults. `tap` sees every message the node receives, before the node does.
 */
export async function startReplica (i: number, dir: string, port: number, peers: ReadonlyMap<string, string>, timeouts: { requestTimeoutMs?: number, viewChangeTimeoutMs?: number } = {}, tap?: (bytes: Uint8Array) => void): Promise<{ node: AccountingNode, libp2p: Libp2p }> {
  const libp2p = await createIpfsLibp2p({ privateKey: await key(i), listen: [`/ip4/127.0.0.1/tcp/${port}`] })
  const transport = await libp2pPbftTransport({ libp2p, self: replicas[i]!.id, peers, ...(process.env.DEBUG_PBFT === undefined ? {} : { onError: (p: string, e: Error) => { console.error(`replica ${i} → ${p.slice(0, 8)}: ${e.message}`) } }) })
  if (tap !== undefined) {
    const onMessage = transport.onMessage
    transport.onMessage = (handler) => { onMessage((bytes) => { tap(bytes); handler(bytes) }) }
  }
  const node = await AccountingNode.start({
    identity: replicas[i]!,
    members: replicas.map((r) => r.id),
    genesis: GENESIS,
    dir,
    transport,
    registry: new DoctorRegistry({ members: [replicas[0]!.id], threshold: 1 }, [encodeIdentityRecord(buildIdentityRecord(doctor, 1))]),
    userchain: { iotTx: async () => ({ user: user.id, epoch: 1 }), epochReaders: async () => ({ envelopes: [doctor.id] }) },
    payments: { paid: async () => Infinity, price: 1 },
    replica: { batchDelayMs: 5, requestTimeoutMs: 1500, viewChangeTimeoutMs: 1500, statusEveryMs: 300, ...timeouts },
    tickMs: 10
  })
  return { node, libp2p }
}

/**
 * The crash test's timers: on a starved 2-core machine a request can take
 * seconds, and the victim is never the leader of view 0, so a view change
 * would only be the machine's slowness (view changes are net-docchain's subject).
 */
export const PATIENT = { requestTimeoutMs: 10_000, viewChangeTimeoutMs: 5000 }

export function peerMap (addrs: readonly string[]): Map<string, string> {
  return new Map(replicas.map((r, i) => [toHex(r.id), addrs[i]!]))
}
