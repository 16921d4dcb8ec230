/**
 * One accounting node as a whole process (paper §III-A: each consortium
 * accounting node on its own machine; §IV-B2, §IV-B3, §IV-B4), from its
 * config (config.ts) and identity:
 * - a non-mining core user node following Userchain over libp2p from the
 *   configured core nodes (roles/core/follow.ts), for the tx_diag checks: every
 *   cited htxI is a tx_IoT on the best chain, its user has prepaid the
 *   consortium (roles/consortium/credit.ts, consumed by committed Dblocks);
 * - on the same libp2p node, the PBFT transport to the other accounting
 *   nodes (libp2p-transport.ts) and the doctors' submission protocol
 *   (diag-protocol.ts);
 * - the AccountingNode (node.ts) on its LevelDB Docchain and PBFT log;
 * - Docchain for anyone (§IV-B3: users and doctors read it): each committed
 *   Dblock with its 2f+1 certificate published on the `dblock` gossip topic,
 *   and the catch-up protocol (net/docchain.ts) served to any peer.
 * `healthchain accounting` (cli/accounting.ts) runs it; tests and the bench
 * start the same thing in child processes.
 */
import { join } from 'node:path'
import { equalBytes, fromHex, InvalidFieldError, NETWORKS, toHex, type Identity } from '../../core/index.ts'
import { registryOf } from '../../config/docchain.ts'
import type { CoreNode } from '../core/node.ts'
import { followUserchain } from '../core/follow.ts'
import type { CoreNet } from '../../net/service.ts'
import { CreditBook } from '../consortium/credit.ts'
import { settler, type Payout } from '../consortium/settlement.ts'
import { accountingLookups, UserchainView } from './userchain-view.ts'
import { AccountingNode } from './node.ts'
import { libp2pPbftTransport } from './libp2p-transport.ts'
import { tracedTransport, type PbftTransport } from './transport.ts'
import { messageKind } from '../../core/pbft/messages.ts'
import { serveDiagSubmissions } from './diag-protocol.ts'
import { peerAddresses, type AccountingConfig } from './config.ts'
import { docchainGenesis, publishDocchain } from '../../net/docchain.ts'

export interface AccountingServiceOptions {
  readonly config: AccountingConfig
  readonly identity: Identity
  /**
   * Addresses of the other members not in the config, asked once libp2p
   * listens (an orchestrator starting nodes on ephemeral ports hands them out).
   */
  readonly peers?: (self: { readonly addrs: readonly string[], readonly peerId: string }) => Promise<ReadonlyMap<string, string>>
  readonly log?: (line: string) => void
  /**
   * The consortium account's identity (config `settlement`), on the member
   * that pays doctors for their committed diagnoses (paper §IV-B4).
   */
  readonly consortium?: Identity
}

export { docchainGenesis } from '../../net/docchain.ts'

/** Failed PBFT sends, reported at most once a second per peer with how many failed meanwhile. */
function throttled (log: (line: string) => void): (peer: string, err: Error) => void {
  const last = new Map<string, { at: number, count: number }>()
  return (peer, err) => {
    const s = last.get(peer) ?? { at: 0, count: 0 }
    s.count++
    const now = Date.now()
    if (now - s.at >= 1000) { log(`pbft send to ${peer.slice(0, 12)}… failed (${s.count}×): ${err.message}`); s.at = now; s.count = 0 }
    last.set(peer, s)
  }
}

export class AccountingService {
  readonly node: AccountingNode
  readonly core: CoreNode
  readonly net: CoreNet
  readonly credit: CreditBook
  private readonly stops: Array<() => Promise<unknown>>
  private readonly settler: (() => Promise<Payout[]>) | null

  private constructor (node: AccountingNode, core: CoreNode, net: CoreNet, credit: CreditBook, settle: (() => Promise<Payout[]>) | null, stops: Array<() => Promise<unknown>>) {
    this.node = node
    this.core = core
    this.net = net
    this.credit = credit
    this.settler = settle
    this.stops = stops
  }

  /**
   * One settlement pass on the member holding the consortium's key (none
   * elsewhere): pays doctors what they earned and were not yet paid, unless
   * an earlier transfer is still pending; resolves with the transfers sent.
   */
  async settle (): Promise<Payout[]> { return this.settler === null ? [] : await this.settler() }

  get addrs (): string[] { return this.net.net.addrs().map(String) }

  static async start (o: AccountingServiceOptions): Promise<AccountingService> {
    const cfg = o.config
    const log = o.log ?? (() => {})
    const params = NETWORKS[cfg.network]
    const stops: Array<() => Promise<unknown>> = []
    const stopAll = async (): Promise<void> => { for (const s of stops.splice(0).reverse()) await s().catch(() => {}) }
    try {
      const { core, net, stop } = await followUserchain({ params, chainDir: join(cfg.dataDir, 'userchain', params.name), netDir: join(cfg.dataDir, 'net'), listen: cfg.listen, bootstrap: cfg.userchain.bootstrap })
      stops.push(stop)
      const self = { addrs: net.net.addrs().map(String), peerId: net.net.peerId.toString() }
      const given = o.peers === undefined ? new Map<string, string>() : await o.peers(self)
      const peers = peerAddresses(cfg, o.identity.id, given)

      const view = new UserchainView(core.store)
      const userOf = async (htxI: Uint8Array): Promise<Uint8Array | null> => await view.userOf(htxI)
      const credit = new CreditBook(core.store, fromHex('consortium', cfg.consortium), cfg.diagnosisPrice)
      if (o.consortium !== undefined && !equalBytes(o.consortium.id, credit.consortium)) {
        throw new InvalidFieldError('settlement.keystore', `holds account ${toHex(o.consortium.id)}, not the consortium ${cfg.consortium}`)
      }
      const traced = (t: PbftTransport): PbftTransport => (process.env.HEALTHCHAIN_PBFT_TRACE === '1' ? tracedTransport(t, log, messageKind) : t)
      const members = cfg.members.map((m) => fromHex('members', m.id))
      const node = await AccountingNode.start({
        identity: o.identity,
        members,
        genesis: docchainGenesis(cfg.genesisTime),
        dir: join(cfg.dataDir, 'docchain'),
        transport: traced(await libp2pPbftTransport({ libp2p: net.net.libp2p, self: o.identity.id, peers, onError: throttled(log), onAbuse: (peer, points, reason) => { net.net.peers.penalise(peer, points, reason) } })),
        registry: registryOf(cfg.registry),
        ...accountingLookups(view, credit),
        replica: cfg.pbft
      })
      stops.push(async () => { await node.stop() })
      // committed diagnoses consume the users' credit: those already on disk, then each new Dblock, in order
      let credited = Promise.resolve()
      for (let h = 1; h <= node.height; h++) { const b = await node.block(h); if (b !== undefined) await credit.onDblock(b, userOf) }
      const docchain = await publishDocchain(net.net, members, node)
      stops.push(async () => { await docchain.stop() })
      // the consortium's settlement (§IV-B4): after each credited Dblock and each new Userchain tip (which
      // confirms the last transfer), queued behind the crediting; tips arriving meanwhile (a sync) share one pass
      const settleOnce = o.consortium === undefined ? null : settler(core, o.consortium, credit)
      let queued = false
      const settle = (): void => {
        if (settleOnce === null || queued) return
        queued = true
        credited = credited.then(async () => {
          queued = false
          for (const p of await settleOnce()) log(`settlement: paid doctor ${p.doctor} ${p.amount} Healthcoin (tx ${p.txid})`)
        }).catch((err: Error) => { log(`settlement: ${err.message}`) })
      }
      const prev = node.onCommit
      node.onCommit = (b) => {
        prev?.(b)
        credited = credited.then(async () => { await credit.onDblock(b, userOf) }).catch((err: Error) => { log(`credit: ${err.message}`) })
        // one copy of each Dblock on the topic: the member that proposed it publishes it and the others relay
        // it (a copy from every member cost ~10% of the consortium's CPU per tx_diag in the pbft bench); if that
        // member fails first, readers get the Dblock by catch-up (their poll, or the gap at the next one)
        if (equalBytes(b.header.leader, o.identity.id)) docchain.publish(b)
        settle()
      }
      if (settleOnce !== null) {
        core.on('tip', settle)
        stops.push(async () => { core.off('tip', settle); await credited })
        settle()
      }
      const unserve = await serveDiagSubmissions(net.net.libp2p, async (tx) => await node.submit(tx), { rate: { perSecond: cfg.submitRate, burst: cfg.submitRate * 2 } })
      stops.push(async () => { await unserve() }) // stopped first: no new submissions, then the node
      return new AccountingService(node, core, net, credit, settleOnce, stops)
    } catch (err) {
      await stopAll()
      throw err
    }
  }

  /** Clean shutdown: no new submissions, the replica's log closed, then Userchain and libp2p. */
  async stop (): Promise<void> {
    for (const s of this.stops.splice(0).reverse()) await s().catch(() => {})
  }
}
