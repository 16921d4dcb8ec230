/**
 * Compact block relay of a core user node (BIP 152 applied to the Ublock
 * relay of paper §IV-B2; DESIGN §6). A node that stores a block it did not
 * get from the network announces it on the cmpct topic as header, short ids
 * and coinbase (gossip.ts attachChain). A receiver:
 *   1. checks size (gossip), decodes, and checks the header's proof of work
 *      before it spends anything on the block; an orphan is left to sync;
 *   2. rebuilds the transaction list from its mempool by short id
 *      (core/compact reconstruct);
 *   3. asks the peer that sent it for the transactions it lacks
 *      (blocktxn/1);
 *   4. submits the rebuilt block with its transactions already decoded, so
 *      the chain neither decodes them again nor re-checks the signatures it
 *      checked when they entered the mempool (roles/core VerifiedSet). The
 *      chain checks the structure — Merkle root against the header's
 *      userroot, duplicates — before it stores or marks anything, so a
 *      wrongly rebuilt block is refused without a trace (ERR_MERKLE_ROOT,
 *      ERR_DUPLICATE_TX);
 *   5. on such a refusal (a short-id collision, a peer lying in its short
 *      ids or its blocktxn), on two transactions with one short id, or when
 *      the peer cannot serve what is missing, fetches the block whole
 *      (blocks/1) and submits that: the block mined or nothing.
 * Accepted, gossipsub forwards the compact block to the node's mesh peers,
 * who fetch what they lack from this node. The network never learns what a
 * block means beyond the chain's verdict (net knows nothing of roles).
 */
import type { PeerId } from '@libp2p/interface'
import {
  assertProofOfWork, decodeCompactBlock, encodeUblock, equalBytes, fillMissing, HealthchainError, reconstruct, toHex, UBLOCK_HEADER_BYTES, ublockHash,
  type BodyTx, type CompactBlock, type NetworkParams, type Ublock
} from '../core/index.ts'
import type { NetChain, Verdict } from './chain.ts'
import type { Handler } from './gossip.ts'
import type { NetNode } from './node.ts'
import type { ChainClient } from './protocols.ts'

/**
 * Refusals of a rebuilt block that say the rebuilding went wrong, not that
 * the block mined is invalid: its transactions do not hash to the header's
 * userroot, or one came twice (a blocktxn repeating one). The chain checks
 * both before it stores or marks anything (roles/core validation).
 */
const WRONGLY_REBUILT = new Set(['ERR_MERKLE_ROOT', 'ERR_DUPLICATE_TX'])

/** What happened to the compact blocks received. */
export interface CompactStats {
  /** Rebuilt from the mempool alone and accepted. */
  rebuilt: number
  /** Rebuilt after a blocktxn round and accepted. */
  completed: number
  /** Transactions asked for by blocktxn. */
  txsFetched: number
  /** Fetched whole: collision, lying peer, or missing transactions the peer did not serve. */
  fullFetches: number
  /** Already known when they arrived. */
  duplicates: number
}

function verdictOf (err: unknown): Verdict {
  return { accepted: false, code: err instanceof HealthchainError ? err.code : 'ERR_INTERNAL', reason: (err as Error).message }
}

export class CompactRelay {
  readonly stats: CompactStats = { rebuilt: 0, completed: 0, txsFetched: 0, fullFetches: 0, duplicates: 0 }
  private readonly net: NetNode
  private readonly chain: NetChain
  private readonly params: NetworkParams
  private readonly client: ChainClient
  /** Blocks being rebuilt (hex hash): a second announcement waits for the first. */
  private readonly inFlight = new Map<string, Promise<Verdict>>()

  constructor (net: NetNode, chain: NetChain, params: NetworkParams, client: ChainClient) {
    this.net = net
    this.chain = chain
    this.params = params
    this.client = client
  }

  /** The cmpct topic's handler. */
  readonly handle: Handler = async (data, peer) => {
    let cb: CompactBlock
    let hash: Uint8Array
    try {
      cb = decodeCompactBlock(data)
      hash = ublockHash(cb.headerBytes)
      if (this.chain.header(hash) !== undefined) { this.stats.duplicates++; return { accepted: true, duplicate: true } }
      assertProofOfWork(hash, cb.header.bits, this.params)
      // An orphan is not rebuilt: sync fetches its branch (gossip's 'orphan' event).
      if (this.chain.header(cb.header.prehash) === undefined) return { accepted: false, code: 'ERR_ORPHAN', reason: `parent ${toHex(cb.header.prehash)} unknown` }
    } catch (err) {
      return verdictOf(err)
    }
    const hex = toHex(hash)
    const running = this.inFlight.get(hex)
    if (running !== undefined) {
      await running.catch(() => {})
      this.stats.duplicates++
      return { accepted: true, duplicate: true }
    }
    const run = this.take(cb, hash, peer)
    this.inFlight.set(hex, run)
    try { return await run } finally { this.inFlight.delete(hex) }
  }

  private async take (cb: CompactBlock, hash: Uint8Array, peer: string): Promise<Verdict> {
    const id = this.peerId(peer)
    let block: Ublock | undefined
    let rebuiltBy: 'rebuilt' | 'completed' = 'rebuilt'
    try {
      const r = await this.rebuild(cb, hash, id)
      if (r !== undefined) { block = r.block; rebuiltBy = r.fetched ? 'completed' : 'rebuilt' }
    } catch {
      // collision, lie, or undecodable prefilled/blocktxn data: the whole block decides
    }
    if (block !== undefined) {
      let v: Verdict
      try {
        v = await this.chain.submitBlock(encodeUblock(block), block)
      } catch (err) { v = verdictOf(err) }
      if (v.accepted || !WRONGLY_REBUILT.has(v.code)) {
        if (v.accepted) this.stats[rebuiltBy]++
        return v
      }
    }
    return await this.fetchWhole(hash, id, peer)
  }

  /** The block rebuilt from the mempool and a blocktxn round (its root unchecked), or undefined when the peer cannot fill it; throws when it cannot be rebuilt. */
  private async rebuild (cb: CompactBlock, hash: Uint8Array, id: PeerId | undefined): Promise<{ block: Ublock, fetched: boolean } | undefined> {
    const rec = reconstruct(cb, this.chain.mempoolBodyTxs())
    let txs: BodyTx[]
    if (rec.missing.length === 0) {
      txs = rec.txs as BodyTx[]
    } else {
      if (id === undefined) return undefined
      const got = await this.client.blockTxn(id, hash, rec.missing)
      if (got === undefined) return undefined
      this.stats.txsFetched += got.length
      txs = fillMissing(rec, got)
    }
    return { block: { header: cb.header, txs }, fetched: rec.missing.length > 0 }
  }

  /** The fallback: the block whole from the peer that announced it (it must hash to the announced header). */
  private async fetchWhole (hash: Uint8Array, id: PeerId | undefined, peer: string): Promise<Verdict> {
    this.stats.fullFetches++
    if (id === undefined) return { accepted: false, code: 'ERR_NET_COMPACT_UNRESOLVED', reason: `${peer} is gone; block ${toHex(hash)} left to sync` }
    let bytes: Uint8Array | undefined
    try {
      bytes = (await this.client.blocks(id, [hash]))[0]
    } catch (err) {
      return { accepted: false, code: 'ERR_NET_COMPACT_UNRESOLVED', reason: (err as Error).message }
    }
    if (bytes === undefined) return { accepted: false, code: 'ERR_NET_COMPACT_UNRESOLVED', reason: `${peer} announced block ${toHex(hash)} but does not serve it` }
    if (bytes.length < UBLOCK_HEADER_BYTES || !equalBytes(ublockHash(bytes.subarray(0, UBLOCK_HEADER_BYTES)), hash)) {
      return { accepted: false, code: 'ERR_NET_BAD_RESPONSE', reason: `${peer} served another block for ${toHex(hash)}` }
    }
    try {
      return await this.chain.submitBlock(bytes)
    } catch (err) { return verdictOf(err) }
  }

  private peerId (peer: string): PeerId | undefined {
    return this.net.libp2p.getConnections().find((c) => c.remotePeer.toString() === peer)?.remotePeer
  }
}
