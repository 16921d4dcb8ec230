/**
 * Gossip of user transactions, Ublocks and Dblocks (paper §IV-B2: a new
 * transaction or block is broadcast and every receiving node verifies it
 * before passing it on; DESIGN §6).
 *
 * Each topic has a validator that answers accept (deliver and forward),
 * ignore (drop quietly: a duplicate, an orphan, a tx that does not fit the
 * mempool now) or reject (invalid: undecodable, bad signature, bad PoW,
 * bad Merkle root, a block that breaks a rule). A reject costs the peer in
 * gossipsub's P4 score and in our PeerBook; a peer that keeps sending
 * invalid data is banned, and what it still had in flight is dropped
 * unread. Message sizes are checked per topic before
 * anything is decoded; whole RPC frames above MAX_GOSSIP_RPC_BYTES are
 * refused by gossipsub from their length prefix (./node.ts).
 *
 * What is done with a valid message is the handler's business: a core node
 * submits it to its chain (`chainHandlers`), a light node checks headers
 * only (roles/light).
 */
import { EventEmitter } from 'node:events'
import { randomBytes } from 'node:crypto'
import { TopicValidatorResult, type Message } from '@libp2p/gossipsub'
import type { PeerId } from '@libp2p/interface'
import {
  checkDblockStructure, COMPACT_NONCE_BYTES, compactFromUblockBytes, decodeDblock, encodeCompactBlock, HealthchainError, sha256, toHex, UBLOCK_HEADER_BYTES, ublockHash, verifyCertificate, type Dblock
} from '../core/index.ts'
import type { NetChain, Verdict } from './chain.ts'
import { FrameTooLargeError } from './errors.ts'
import type { NetNode } from './node.ts'
import { MAX_CMPCT_MESSAGE, MAX_DBLOCK_MESSAGE, MAX_TX_MESSAGE, MAX_UBLOCK_MESSAGE } from './topics.ts'

export type TopicKind = 'tx' | 'ublock' | 'cmpct' | 'dblock'
/** Checks and handles a message from `peer`; `banned` says whether the peer has been banned since (asked by what queues the message). */
export type Handler = (data: Uint8Array, peer: string, banned?: () => boolean) => Promise<Verdict>

/** Codes that prove the data itself is invalid: the sender is penalised. */
const INVALID = new Set([
  'ERR_TRUNCATED', 'ERR_TRAILING_BYTES', 'ERR_NON_CANONICAL', 'ERR_UNKNOWN_VERSION', 'ERR_LIMIT', 'ERR_INVALID_FIELD', 'ERR_BAD_SIGNATURE',
  'ERR_WRONG_KIND', 'ERR_NET_TOO_LARGE', 'ERR_POW', 'ERR_MERKLE_ROOT', 'ERR_KNOWN_INVALID', 'ERR_INVALID_BLOCK', 'ERR_COINBASE_AMOUNT', 'ERR_QUORUM'
])
/** Codes of txs refused by relay policy, or dropped unread from a full per-peer queue: not forwarded, and their sender penalised (penaltyOf). */
const POLICY = new Set(['ERR_POLICY', 'ERR_POLICY_RATE', 'ERR_NET_QUEUE_FULL'])
/** Within a block a duplicate tx or a tx outside the block's time window is invalid; for a lone tx it is not. */
const INVALID_IN_BLOCK = new Set(['ERR_DUPLICATE_TX', 'ERR_TX_TIME'])

export function classify (kind: TopicKind, v: Verdict): TopicValidatorResult {
  if (v.accepted) return v.duplicate === true ? TopicValidatorResult.Ignore : TopicValidatorResult.Accept
  if (INVALID.has(v.code) || POLICY.has(v.code)) return TopicValidatorResult.Reject
  if (kind !== 'tx' && INVALID_IN_BLOCK.has(v.code)) return TopicValidatorResult.Reject
  return TopicValidatorResult.Ignore
}

/**
 * Points a refused message costs its sender: `base`, but a block whose proof
 * of work fails bans it at once (`banScore`'s magnitude): checking it cost us
 * one hash, making it cost the sender nothing, and an honest node never
 * relays one (Bitcoin Core likewise punishes an invalid header PoW the most).
 */
export function penaltyOf (v: Verdict, base: number, banScore: number): number {
  if (v.accepted) return base
  if (v.code === 'ERR_POW') return Math.max(base, Math.abs(banScore))
  if (v.code === 'ERR_POLICY') return POLICY_PENALTY
  if (v.code === 'ERR_POLICY_RATE' || v.code === 'ERR_NET_QUEUE_FULL') return 1
  return base
}

/** Points a rejected message costs its sender unless the node says otherwise (GossipOptions.rejectPenalty): the fourth bans. */
export const REJECT_PENALTY = 25

/** What a refused transaction costs the peer that sent it, by gossip or by request (submit/1): 0 when its refusal says nothing against the sender. */
export function txRefusalPenalty (v: Verdict, base = REJECT_PENALTY): number {
  return classify('tx', v) === TopicValidatorResult.Reject ? penaltyOf(v, base, 0) : 0
}

/**
 * A tx refused by relay policy (a first tx_key without its stamp, over a
 * user's quota): not invalid, but an honest peer relays only what it
 * admitted under the same policy, so it costs a little — twenty such
 * refusals ban; one over its peer's rate, or dropped because the peer's
 * validation queue is full (net/fair-queue.ts), costs a point.
 */
const POLICY_PENALTY = 5

export const MAX_MESSAGE: Record<TopicKind, number> = { tx: MAX_TX_MESSAGE, ublock: MAX_UBLOCK_MESSAGE, cmpct: MAX_CMPCT_MESSAGE, dblock: MAX_DBLOCK_MESSAGE }

export interface GossipOptions {
  /** Points a rejected message costs its sender (default 25: the fourth bans). */
  readonly rejectPenalty?: number
  /**
   * How blocks this node stores are announced (attachChain): 'compact'
   * (default) sends header, short ids and coinbase on the cmpct topic
   * (net/compact.ts); 'full' sends the whole block on the ublock topic.
   * Both topics are always received.
   */
  readonly relay?: 'compact' | 'full'
}

/** Per topic; `banned` counts messages from a banned peer, dropped unread (also in `rejected`). */
export interface GossipStats { accepted: number, ignored: number, rejected: number, oversize: number, banned: number }

/**
 * Events: 'verdict' ({kind, peer, result, verdict}) for every validated
 * message; 'orphan' (peer) when a block's parent is unknown (sync asks that
 * peer for headers).
 */
export class Gossip extends EventEmitter {
  readonly net: NetNode
  readonly stats: Record<TopicKind, GossipStats> = {
    tx: { accepted: 0, ignored: 0, rejected: 0, oversize: 0, banned: 0 },
    ublock: { accepted: 0, ignored: 0, rejected: 0, oversize: 0, banned: 0 },
    cmpct: { accepted: 0, ignored: 0, rejected: 0, oversize: 0, banned: 0 },
    dblock: { accepted: 0, ignored: 0, rejected: 0, oversize: 0, banned: 0 }
  }
  private readonly handlers: Partial<Record<TopicKind, Handler>>
  private readonly rejectPenalty: number
  readonly relay: 'compact' | 'full'
  /** Hashes (hex) of blocks that came from the network (gossip or sync): gossipsub forwards those itself, attachChain does not announce them. */
  private readonly blocksSeen = new Set<string>()
  /** Message ids (hex SHA-256 of the data) that came from the network: not published again. */
  private readonly seen = new Set<string>()
  private readonly cleanups: Array<() => void> = []

  constructor (net: NetNode, handlers: Partial<Record<TopicKind, Handler>>, opts: GossipOptions = {}) {
    super()
    this.net = net
    this.handlers = handlers
    this.rejectPenalty = opts.rejectPenalty ?? REJECT_PENALTY
    this.relay = opts.relay ?? 'compact'
  }

  topic (kind: TopicKind): string { return this.net.topics[kind] }

  start (): void {
    for (const kind of Object.keys(this.handlers) as TopicKind[]) {
      const topic = this.topic(kind)
      this.net.pubsub.topicValidators.set(topic, async (peer: PeerId, msg: Message) => await this.validate(kind, peer.toString(), msg.data))
      this.net.pubsub.subscribe(topic)
      this.cleanups.push(() => {
        this.net.pubsub.topicValidators.delete(topic)
        this.net.pubsub.unsubscribe(topic)
      })
    }
  }

  stop (): void { for (const c of this.cleanups.splice(0)) c() }

  private remember (data: Uint8Array): void {
    this.seen.add(toHex(sha256(data)))
    if (this.seen.size > 50_000) this.seen.delete(this.seen.values().next().value!)
  }

  /** Marks an encoded block as received from the network (sync does this for the blocks it fetches): not announced again. */
  markSeen (data: Uint8Array): void {
    this.remember(data)
    if (data.length >= UBLOCK_HEADER_BYTES) this.markBlockSeen(ublockHash(data.subarray(0, UBLOCK_HEADER_BYTES)))
  }

  /** Marks a block (by hash) as received from the network, whole or compact. */
  markBlockSeen (hash: Uint8Array): void {
    this.blocksSeen.add(toHex(hash))
    if (this.blocksSeen.size > 10_000) this.blocksSeen.delete(this.blocksSeen.values().next().value!)
  }

  private async validate (kind: TopicKind, peer: string, data: Uint8Array): Promise<TopicValidatorResult> {
    const s = this.stats[kind]
    if (this.net.peers.isBanned(peer)) {
      // what a peer had in flight when it was banned is not decoded or verified
      s.banned++
      s.rejected++
      return TopicValidatorResult.Reject
    }
    if (data.length > MAX_MESSAGE[kind]) {
      s.oversize++
      s.rejected++
      this.net.peers.penalise(peer, this.rejectPenalty, `oversize ${kind} message (${data.length} bytes)`)
      return TopicValidatorResult.Reject
    }
    this.remember(data)
    if ((kind === 'ublock' || kind === 'cmpct') && data.length >= UBLOCK_HEADER_BYTES) this.markBlockSeen(ublockHash(data.subarray(0, UBLOCK_HEADER_BYTES)))
    let verdict: Verdict
    try {
      verdict = await this.handlers[kind]!(data, peer, () => this.net.peers.isBanned(peer))
    } catch (err) {
      verdict = { accepted: false, code: 'ERR_INTERNAL', reason: (err as Error).message }
    }
    if (!verdict.accepted && verdict.code === 'ERR_NET_BANNED') {
      // banned while it waited its turn: dropped unread, like what arrives after the ban
      s.banned++
      s.rejected++
      return TopicValidatorResult.Reject
    }
    const result = classify(kind, verdict)
    if (result === TopicValidatorResult.Accept) s.accepted++
    else if (result === TopicValidatorResult.Ignore) s.ignored++
    else {
      s.rejected++
      this.net.peers.penalise(peer, penaltyOf(verdict, this.rejectPenalty, this.net.peers.banScore), `invalid ${kind}: ${verdict.accepted ? '' : verdict.reason}`)
    }
    if (!verdict.accepted && verdict.code === 'ERR_ORPHAN') this.emit('orphan', peer)
    this.emit('verdict', { kind, peer, result, verdict })
    return result
  }

  /** Publishes unless this data came from the network (gossipsub forwards that itself). */
  async publish (kind: TopicKind, data: Uint8Array): Promise<number> {
    if (data.length > MAX_MESSAGE[kind]) throw new FrameTooLargeError(`${kind} message`, MAX_MESSAGE[kind], data.length)
    if (this.seen.has(toHex(sha256(data)))) return 0
    this.remember(data)
    const r = await this.net.pubsub.publish(this.topic(kind), data)
    return r.recipients.length
  }

  /**
   * Wires a core node: txs it admits are published; blocks it stores that
   * did not come from the network (mined here, submitted locally) are
   * announced — compact (a fresh random nonce keys the short ids) or whole,
   * per `relay`. Blocks from the network are forwarded by gossipsub itself.
   */
  attachChain (chain: NetChain): void {
    this.cleanups.push(chain.onTx((bytes) => { void this.publish('tx', bytes).catch(() => {}) }))
    this.cleanups.push(chain.onBlock((hash) => {
      if (this.blocksSeen.has(toHex(hash))) return
      this.markBlockSeen(hash)
      void (async () => {
        const bytes = await chain.getBlockBytes(hash)
        if (bytes === undefined) return
        if (this.relay === 'full') await this.publish('ublock', bytes)
        else await this.publish('cmpct', encodeCompactBlock(compactFromUblockBytes(bytes, randomBytes(COMPACT_NONCE_BYTES))))
      })().catch(() => {})
    }))
  }
}

/** The handlers of a core user node: every tx and Ublock is checked by the chain. */
export function chainHandlers (chain: NetChain): Partial<Record<TopicKind, Handler>> {
  return {
    tx: async (data, peer, banned) => await chain.submitTx(data, peer, banned),
    ublock: async (data) => await chain.submitBlock(data)
  }
}

/**
 * A Dblock handler (paper §IV-B3 Docchain): decodes, checks structure and the
 * 2f+1 commit certificate against the current accounting members, then
 * hands the block on. Certificate or structure failures are invalid data.
 */
export function dblockHandler (members: () => readonly Uint8Array[], onDblock: (block: Dblock, bytes: Uint8Array) => Promise<Verdict> | Verdict): Handler {
  return async (data) => {
    try {
      const block = decodeDblock(data)
      checkDblockStructure(block)
      verifyCertificate(block, members())
      return await onDblock(block, data)
    } catch (err) {
      return { accepted: false, code: err instanceof HealthchainError ? err.code : 'ERR_INTERNAL', reason: (err as Error).message }
    }
  }
}
