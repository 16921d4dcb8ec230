/**
 * The light user node (paper §III-A: lightweight user nodes keep only the
 * Userchain headers and "generate and publish transactions"; core user
 * nodes "assist lightweight user nodes to search transactions"; DESIGN §6).
 *
 * - Keeps a HeaderChain (./headers.ts): headers from core nodes
 *   (headers/1) and from gossiped Ublocks are checked for PoW and linkage;
 *   bodies are never kept, and a gossiped block is not forwarded (its body
 *   was not checked here).
 * - Hands its own transactions to a core node (submit/1) and learns its
 *   verdict; one that does not answer is passed over for the next. Without
 *   any answer (core nodes that do not serve submit/1) it publishes them on
 *   the gossip topic.
 * - Asks core nodes for its own transactions (usertxs/1) and verifies each
 *   against its own header chain: the block must be on its best chain and
 *   the RFC 6962 inclusion proof must lead to that header's userroot. A core
 *   node that forges a proof fails here (ForgedProofError); one that leaves
 *   out a transaction another core node proves on the same chain is caught
 *   by `checkPeers` (OmittedTxError). Either costs the peer its standing.
 */
import { EventEmitter } from 'node:events'
import { readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { PeerId } from '@libp2p/interface'
import {
  bodyTx, decodeUblockHeader, equalBytes, HealthchainError, toHex, ublockHash, UBLOCK_HEADER_BYTES, verifyMerkleProof,
  type NetworkParams, type Tx
} from '../../core/index.ts'
import { txUsers } from '../../store/chain.ts'
import type { ProvenTx, Verdict } from '../../net/chain.ts'
import { ForgedProofError, NoPeersError, OmittedTxError } from '../../net/errors.ts'
import { Gossip } from '../../net/gossip.ts'
import { createNetNode, type NetNode, type NetNodeOptions } from '../../net/node.ts'
import { ChainClient, MAX_HEADERS, MAX_USER_TXS, type TipInfo } from '../../net/protocols.ts'
import { blockLocator } from '../../net/sync.ts'
import { HeaderChain } from './headers.ts'

export const HEADERS_FILE = 'headers.bin'

/** Refusals about the submitter's standing with that core node, not the transaction: another core node is asked. */
const STANDING = new Set(['ERR_POLICY_RATE', 'ERR_NET_QUEUE_FULL', 'ERR_NET_BANNED', 'ERR_NET_CLOSED'])

/**
 * Whether a proven transaction holds against our header chain: its block on
 * our best chain, and its RFC 6962 inclusion proof leading to that
 * header's userroot (what a core node's answer and our own saved proofs
 * are both checked by).
 */
export function checkProven (headers: HeaderChain, p: ProvenTx): 'ok' | 'off-chain' | 'bad-proof' {
  const mine = headers.hashAt(p.header.index)
  if (mine === undefined || !equalBytes(mine, ublockHash(p.header))) return 'off-chain'
  return verifyMerkleProof(p.tx.id, p.pos, p.size, p.proof, p.header.userroot) ? 'ok' : 'bad-proof'
}

export interface LightNodeOptions extends Omit<NetNodeOptions, 'network'> {
  readonly params: NetworkParams
  /** ID_U: the user whose transactions this node follows. */
  readonly user: Uint8Array
  readonly now?: () => number
  readonly timeoutMs?: number
}

/** One of our transactions, proven on our best header chain. */
export interface ConfirmedTx { readonly proven: ProvenTx, readonly height: number, readonly block: string }

export interface PeerReport { readonly peer: string, readonly tip: TipInfo, readonly txs: ConfirmedTx[], /** the height it answered from */ readonly from: number }

/** Events: 'tip' (HeaderEntry) when the best header chain moves; 'liar' ({peer, error}). */
export class LightNode extends EventEmitter {
  readonly net: NetNode
  readonly params: NetworkParams
  readonly user: Uint8Array
  readonly headers: HeaderChain
  readonly client: ChainClient
  readonly gossip: Gossip
  /** Our transactions proven so far, by id (hex). */
  readonly confirmed = new Map<string, ConfirmedTx>()
  /** Transactions we published and have not seen proven. */
  readonly pending = new Map<string, Uint8Array>()
  private headerSync: Promise<unknown> = Promise.resolve()
  /** Where the next submission starts in the list of core peers (they take turns). */
  private nextSubmit = 0

  /** `<dataDir>/headers.bin`: the best header chain, restored (and re-checked) at start. */
  readonly headersFile: string | undefined

  private constructor (net: NetNode, opts: LightNodeOptions, headers: HeaderChain) {
    super()
    this.net = net
    this.params = opts.params
    this.user = opts.user
    this.headers = headers
    this.headersFile = opts.dataDir === undefined ? undefined : join(opts.dataDir, HEADERS_FILE)
    this.client = new ChainClient(net.libp2p, opts.params.name, opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs })
    // A compact block starts with the same 89-byte header: a light node takes either.
    const onBlock = async (data: Uint8Array, peer: string): Promise<Verdict> => await this.onGossipBlock(data, peer)
    this.gossip = new Gossip(net, { ublock: onBlock, cmpct: onBlock })
  }

  static async start (opts: LightNodeOptions): Promise<LightNode> {
    let headers = new HeaderChain(opts.params, opts.now)
    if (opts.dataDir !== undefined) {
      try {
        headers = HeaderChain.restore(opts.params, new Uint8Array(await readFile(join(opts.dataDir, HEADERS_FILE))), opts.now)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      }
    }
    const net = await createNetNode({ ...opts, network: opts.params.name })
    const node = new LightNode(net, opts, headers)
    node.gossip.start()
    const onIdentify = (evt: CustomEvent<{ peerId: PeerId, protocols: string[] }>): void => {
      if (evt.detail.protocols.includes(node.client.protocols.headers.id)) void node.syncHeaders(evt.detail.peerId.toString()).catch(() => {})
    }
    net.libp2p.addEventListener('peer:identify', onIdentify)
    return node
  }

  async stop (): Promise<void> {
    this.gossip.stop()
    await this.headerSync.catch(() => {})
    await this.saveHeaders()
    await this.net.stop()
  }

  /** Writes the best header chain to `<dataDir>/headers.bin` (atomically: temp file, then rename). */
  async saveHeaders (): Promise<void> {
    if (this.headersFile === undefined) return
    await writeFile(`${this.headersFile}.tmp`, this.headers.serialize())
    await rename(`${this.headersFile}.tmp`, this.headersFile)
  }

  /** Connected core nodes (those serving headers/1). */
  corePeers (): PeerId[] {
    const out = new Map<string, PeerId>()
    for (const c of this.net.libp2p.getConnections()) {
      if (c.status === 'open' && !this.net.peers.refuses(c.remotePeer.toString())) out.set(c.remotePeer.toString(), c.remotePeer)
    }
    return [...out.values()]
  }

  private peerId (peer: string | PeerId): PeerId {
    if (typeof peer !== 'string') return peer
    const p = this.corePeers().find((x) => x.toString() === peer)
    if (p === undefined) throw new NoPeersError(`peer ${peer} (not connected)`)
    return p
  }

  /** A gossiped Ublock: its header joins our chain; the block is never forwarded (Ignore), a bad header is rejected. */
  private async onGossipBlock (data: Uint8Array, peer: string): Promise<Verdict> {
    try {
      const before = this.headers.tip.hex
      this.headers.add(decodeUblockHeader(data.subarray(0, UBLOCK_HEADER_BYTES)))
      if (this.headers.tip.hex !== before) this.emit('tip', this.headers.tip)
      return { accepted: false, code: 'LIGHT_HEADER_ONLY', reason: 'light nodes keep headers and do not relay blocks' }
    } catch (err) {
      const code = err instanceof HealthchainError ? err.code : 'ERR_INTERNAL'
      if (code === 'ERR_ORPHAN') void this.syncHeaders(peer).catch(() => {})
      return { accepted: false, code, reason: (err as Error).message }
    }
  }

  /** Pulls headers from `peer` (default: every core peer) until it has no more; each is checked. Returns headers added. */
  async syncHeaders (peer?: string | PeerId): Promise<number> {
    const run = this.headerSync.then(async () => {
      let added = 0
      for (const p of peer === undefined ? this.corePeers() : [this.peerId(peer)]) {
        for (let round = 0; round < 10_000; round++) {
          const before = this.headers.tip.hex
          const { headers } = await this.client.headers(p, blockLocator(this.headers.height, (h) => this.headers.hashAt(h)), MAX_HEADERS)
          try {
            for (const h of headers) if (this.headers.add(h)) added++
          } catch (err) {
            this.net.peers.penalise(p.toString(), 50, `bad header: ${(err as Error).message}`)
            throw err
          }
          if (this.headers.tip.hex !== before) this.emit('tip', this.headers.tip)
          if (headers.length < MAX_HEADERS) break
        }
      }
      return added
    })
    this.headerSync = run.catch(() => {})
    return await run
  }

  /** Publishes one of our transactions (Tx or its canonical bytes) on the gossip topic. */
  async publishTx (tx: Tx): Promise<string> {
    const bt = bodyTx(tx)
    const id = toHex(bt.id)
    this.pending.set(id, bt.bytes)
    await this.gossip.publish('tx', bt.bytes)
    return id
  }

  /**
   * Hands one of our transactions (its encoding) to the connected core
   * nodes in turn, from the one after the last asked, until one gives a
   * verdict on the transaction itself: accepted (it relays it), or refused
   * with its code and reason. A core node that times out, is gone or does
   * not serve submit/1, or that refuses because of our standing with it (over
   * our rate, its queue for us full) is passed over. `failures` are those
   * passed over; no verdict when none gave one.
   */
  async submitTx (bytes: Uint8Array): Promise<{ verdict?: Verdict, peer?: string, failures: Array<{ peer: string, error: string }> }> {
    const peers = this.corePeers()
    const failures: Array<{ peer: string, error: string }> = []
    for (let i = 0; i < peers.length; i++) {
      const p = peers[(this.nextSubmit + i) % peers.length]!
      try {
        const verdict = await this.client.submit(p, bytes)
        if (!verdict.accepted && STANDING.has(verdict.code)) { failures.push({ peer: p.toString(), error: `${verdict.code}: ${verdict.reason}` }); continue }
        this.nextSubmit = (this.nextSubmit + i + 1) % peers.length
        return { verdict, peer: p.toString(), failures }
      } catch (err) {
        failures.push({ peer: p.toString(), error: (err as Error).message })
      }
    }
    return { failures }
  }

  private liar (peer: string, err: ForgedProofError | OmittedTxError): never {
    this.net.peers.penalise(peer, 100, err.message)
    this.emit('liar', { peer, error: err })
    throw err
  }

  /**
   * Our transactions as `peer` proves them from height `fromHeight` on,
   * each verified against our header chain (headers synced from that peer
   * first if its blocks are beyond our tip); a long history comes in pages
   * of MAX_USER_TXS. Throws ForgedProofError (and penalises the peer) on
   * any proof that fails, OmittedTxError when it leaves out one of ours
   * proven before.
   */
  async myTransactions (peer: string | PeerId, fromHeight = 0): Promise<PeerReport> {
    const id = this.peerId(peer)
    const label = id.toString()
    const pages: ProvenTx[] = []
    const seen = new Set<string>()
    let tip: TipInfo | undefined
    for (let from = fromHeight; ;) {
      const page = await this.client.userTxs(id, this.user, MAX_USER_TXS, undefined, from)
      tip ??= page.tip
      const inPage = new Set<string>()
      page.txs.forEach((p, i) => {
        const txid = toHex(p.tx.id)
        if (inPage.has(txid)) this.liar(label, new ForgedProofError(label, `txs[${i}]`, `${txid} listed twice`))
        inPage.add(txid)
        // a page starts at the height where the last one ended: what it repeats from there is not new
        if (!seen.has(txid)) { seen.add(txid); pages.push(p) }
      })
      const last = page.txs[page.txs.length - 1]?.header.index
      if (page.txs.length < MAX_USER_TXS || last === undefined || last === from) break
      from = last
    }
    if (pages.some((p) => p.header.index > this.headers.height) || (tip!.height > this.headers.height)) await this.syncHeaders(id).catch(() => {})
    const out: ConfirmedTx[] = []
    pages.forEach((p, i) => {
      const field = `txs[${i}]`
      if (!txUsers(p.tx).some((u) => equalBytes(u, this.user))) this.liar(label, new ForgedProofError(label, field, 'is not a transaction of this user'))
      const txid = toHex(p.tx.id)
      const checked = checkProven(this.headers, p)
      if (checked === 'off-chain') this.liar(label, new ForgedProofError(label, `${field}.header`, `block ${toHex(ublockHash(p.header))} at ${p.header.index} is not on our best header chain`))
      if (checked === 'bad-proof') this.liar(label, new ForgedProofError(label, `${field}.proof`, `inclusion proof of ${txid} does not lead to the block's userroot`))
      out.push({ proven: p, height: p.header.index, block: toHex(ublockHash(p.header)) })
    })
    for (const c of out) {
      const txid = toHex(c.proven.tx.id)
      this.confirmed.set(txid, c)
      this.pending.delete(txid)
    }
    this.checkOmissions(label, seen, tip!, fromHeight)
    return { peer: label, tip: tip!, txs: out, from: fromHeight }
  }

  /** Ours, proven (by anyone) on a block still on our best chain, within the heights a peer answered for and missing from its answer: a lie. */
  private checkOmissions (label: string, seen: ReadonlySet<string>, tip: TipInfo, fromHeight: number): void {
    if (!this.headers.isOnMainChain(tip.hash)) return
    for (const [txid, c] of this.confirmed) {
      if (seen.has(txid) || c.height < fromHeight || c.height > tip.height || !this.headers.isOnMainChain(c.block)) continue
      this.liar(label, new OmittedTxError(label, txid, `proven at height ${c.height}, within its tip ${tip.height}`))
    }
  }

  /**
   * Asks every core peer (or those given) and cross-checks them: what one
   * proves, another following the same chain may not leave out. Returns the
   * honest reports, the liars with what they did, and the peers that did
   * not answer (gone, timed out, an undecodable answer).
   */
  async checkPeers (peers: Array<string | PeerId> = this.corePeers(), fromHeight = 0): Promise<{ reports: PeerReport[], liars: Array<{ peer: string, error: Error }>, unanswered: Array<{ peer: string, error: Error }> }> {
    const reports: PeerReport[] = []
    const liars: Array<{ peer: string, error: Error }> = []
    const unanswered: Array<{ peer: string, error: Error }> = []
    const failure = (label: string, err: unknown): void => {
      // a lie costs the peer its standing; a peer gone or timing out is only left out of this check
      if (err instanceof ForgedProofError || err instanceof OmittedTxError) liars.push({ peer: label, error: err })
      else unanswered.push({ peer: label, error: err as Error })
    }
    for (const p of peers) {
      try {
        reports.push(await this.myTransactions(p, fromHeight))
      } catch (err) { failure(p.toString(), err) }
    }
    // Then each answer against everything the others proved: a peer asked before the one that proved ours may have left it out.
    for (const r of [...reports]) {
      try {
        this.checkOmissions(r.peer, new Set(r.txs.map((c) => toHex(c.proven.tx.id))), r.tip, r.from)
      } catch (err) {
        reports.splice(reports.indexOf(r), 1)
        failure(r.peer, err)
      }
    }
    return { reports, liars, unanswered }
  }
}
