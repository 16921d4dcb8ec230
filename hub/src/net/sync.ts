/**
 * Header-first sync of a core user node (paper §IV-B3: nodes follow the
 * chain with the most work; DESIGN §6). With one peer:
 *   1. ask for headers after our block locator (headers/1), check their
 *      linkage (each names the one before, indexes follow) and proof of
 *      work (hash ≤ target ≤ network limit) before anything is fetched;
 *   2. fetch the bodies we lack in batches of 16 from several peers at once
 *      (blocks/1), falling back to the peer that announced them;
 *   3. hand each block to the chain in height order as it arrives — the
 *      chain's own validation and fork choice decide (a heavier branch
 *      reorgs);
 *   4. repeat while the peer returns full header batches.
 * Progress is reported as 'progress' events {height, target, blocks, bytes}.
 * A peer whose headers do not link or lack work, or whose blocks do not
 * match or are invalid, is penalised and the round ends.
 * Sync runs when a peer connects, when gossip brings an orphan block and
 * every `intervalMs`.
 */
import { EventEmitter } from 'node:events'
import type { PeerId } from '@libp2p/interface'
import {
  assertProofOfWork, decodeUblockHeader, equalBytes, HealthchainError, toHex, ublockHash, UBLOCK_HEADER_BYTES, type NetworkParams, type UblockHeader
} from '../core/index.ts'
import type { NetChain } from './chain.ts'
import { BadResponseError } from './errors.ts'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import { classify, penaltyOf, type Gossip } from './gossip.ts'
import type { NetNode } from './node.ts'
import { ChainClient, MAX_BLOCKS_PER_REQUEST, MAX_HEADERS, MAX_LOCATOR } from './protocols.ts'

export interface SyncProgress { readonly peer: string, readonly height: number, readonly target: number, readonly blocks: number, readonly bytes: number }

export interface SyncOptions {
  /** Parallel block requests (default 4). */
  readonly parallel?: number
  /** Periodic sync, ms (default 15000; 0 = only on events). */
  readonly intervalMs?: number
  readonly timeoutMs?: number
}

/** Block locator: the last 10 best-chain hashes, then doubling steps back, then genesis (at most MAX_LOCATOR). */
export function blockLocator (tipHeight: number, hashAt: (h: number) => Uint8Array | undefined): Uint8Array[] {
  const out: Uint8Array[] = []
  let step = 1
  for (let h = tipHeight; h > 0 && out.length < MAX_LOCATOR - 1; h -= step) {
    const x = hashAt(h)
    if (x !== undefined) out.push(x)
    if (out.length >= 10) step *= 2
  }
  const g = hashAt(0)
  if (g !== undefined) out.push(g)
  return out
}

/** Linkage and PoW of a header batch following `parent`; throws BadResponseError. */
export function checkHeaderBatch (params: NetworkParams, parent: { hash: Uint8Array, height: number }, headers: readonly UblockHeader[]): Uint8Array[] {
  const hashes: Uint8Array[] = []
  let prev = parent
  headers.forEach((h, i) => {
    if (h.index !== prev.height + 1 || !equalBytes(h.prehash, prev.hash)) throw new BadResponseError(`headers[${i}]`, 'does not link to the header before it')
    const hash = ublockHash(h)
    try { assertProofOfWork(hash, h.bits, params) } catch (err) { throw new BadResponseError(`headers[${i}]`, (err as Error).message) }
    hashes.push(hash)
    prev = { hash, height: h.index }
  })
  return hashes
}

export class Syncer extends EventEmitter {
  readonly net: NetNode
  readonly chain: NetChain
  readonly params: NetworkParams
  readonly client: ChainClient
  private readonly gossip: Gossip | undefined
  private readonly parallel: number
  private running: Promise<void> = Promise.resolve()
  private readonly queued = new Set<string>()
  private timer: NodeJS.Timeout | undefined
  private readonly cleanups: Array<() => void> = []
  private stopped = false
  /** Peers whose identify listed headers/1 (core nodes, not light ones). */
  private readonly serving = new Set<string>()
  /** Totals since start. */
  blocksFetched = 0
  bytesFetched = 0
  /** Blocks fetched from each peer. */
  readonly servedBy = new Map<string, number>()

  constructor (net: NetNode, chain: NetChain, params: NetworkParams, opts: SyncOptions & { gossip?: Gossip } = {}) {
    super()
    this.net = net
    this.chain = chain
    this.params = params
    this.gossip = opts.gossip
    this.parallel = opts.parallel ?? 4
    this.client = new ChainClient(net.libp2p, chain.network, opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs })
    const intervalMs = opts.intervalMs ?? 15_000
    if (intervalMs > 0) {
      this.timer = setInterval(() => { for (const p of this.syncPeers()) this.schedule(p) }, intervalMs)
      this.timer.unref()
    }
  }

  start (): void {
    const onIdentify = (evt: CustomEvent<{ peerId: PeerId, protocols: string[] }>): void => {
      const id = evt.detail.peerId.toString()
      if (evt.detail.protocols.includes(this.client.protocols.headers.id)) {
        this.serving.add(id)
        void this.schedule(id).then(async () => { await this.pullMempool(id) }).catch(() => {})
      } else this.serving.delete(id)
    }
    this.net.libp2p.addEventListener('peer:identify', onIdentify)
    this.cleanups.push(() => { this.net.libp2p.removeEventListener('peer:identify', onIdentify) })
    if (this.gossip !== undefined) {
      const onOrphan = (peer: string): void => { this.schedule(peer) }
      this.gossip.on('orphan', onOrphan)
      this.cleanups.push(() => { this.gossip?.off('orphan', onOrphan) })
    }
    for (const p of this.syncPeers()) this.schedule(p)
  }

  async stop (): Promise<void> {
    this.stopped = true
    if (this.timer !== undefined) clearInterval(this.timer)
    for (const c of this.cleanups.splice(0)) c()
    await this.running.catch(() => {})
  }

  /** Connected peers (not refused) that serve headers/1, in connection order. */
  syncPeers (): string[] {
    const out = new Set<string>()
    for (const c of this.net.libp2p.getConnections()) {
      const id = c.remotePeer.toString()
      if (c.status === 'open' && !this.net.peers.refuses(id) && this.serving.has(id)) out.add(id)
    }
    return [...out]
  }

  private peerId (peer: string): PeerId | undefined {
    return this.net.libp2p.getConnections().find((c) => c.remotePeer.toString() === peer)?.remotePeer
  }

  /** Queues a sync round with `peer` (rounds run one at a time; one queued per peer). */
  schedule (peer: string): Promise<void> {
    if (this.queued.has(peer) || this.stopped) return this.running
    this.queued.add(peer)
    this.running = this.running.then(async () => {
      this.queued.delete(peer)
      if (this.stopped) return
      try {
        await this.syncWith(peer)
      } catch (err) {
        this.emit('error', err, peer)
      }
    })
    return this.running
  }

  /**
   * Takes in a new peer's mempool (mempool/1), so transactions gossiped
   * before we connected reach us too. Returns how many were admitted.
   */
  async pullMempool (peer: string): Promise<number> {
    const id = this.peerId(peer)
    if (id === undefined || this.stopped) return 0
    let n = 0
    for (const bytes of await this.client.mempool(id)) {
      if ((await this.chain.submitTx(bytes)).accepted) n++
    }
    return n
  }

  /** Runs sync rounds with `peer` until it has nothing more for us. Returns blocks submitted. */
  async syncWith (peer: string): Promise<number> {
    let submitted = 0
    for (let round = 0; round < 10_000 && !this.stopped; round++) {
      const id = this.peerId(peer)
      if (id === undefined) return submitted
      const tip = this.chain.tip()
      const locator = blockLocator(tip.height, (h) => this.chain.hashAt(h))
      const { tip: theirs, headers } = await this.client.headers(id, locator)
      if (headers.length === 0) return submitted
      const parent = this.chain.header(headers[0]!.prehash)
      let hashes: Uint8Array[]
      try {
        if (parent === undefined) throw new BadResponseError('headers[0]', 'does not follow any block of our locator')
        hashes = checkHeaderBatch(this.params, { hash: headers[0]!.prehash, height: parent.height }, headers)
      } catch (err) {
        this.net.peers.penalise(peer, 50, (err as Error).message)
        throw err
      }
      const missing = hashes.map((h, i) => ({ hash: h, height: headers[i]!.index })).filter((x) => this.chain.header(x.hash) === undefined)
      submitted += await this.fetchAndSubmit(peer, missing, theirs.height)
      // A short batch is the end of the peer's chain; a full one with nothing new that left our tip where it was is a branch we do not follow.
      if (headers.length < MAX_HEADERS) return submitted
      if (missing.length === 0 && equalBytes(this.chain.tip().hash, tip.hash)) return submitted
    }
    return submitted
  }

  /** Fetches `missing` (in height order) from several peers at once, submitting in order. */
  private async fetchAndSubmit (origin: string, missing: ReadonlyArray<{ hash: Uint8Array, height: number }>, target: number): Promise<number> {
    if (missing.length === 0) return 0
    const batches: Array<Array<{ hash: Uint8Array, height: number }>> = []
    for (let i = 0; i < missing.length; i += MAX_BLOCKS_PER_REQUEST) batches.push(missing.slice(i, i + MAX_BLOCKS_PER_REQUEST))
    const results: Array<Promise<Array<{ bytes: Uint8Array, from: string }>> | undefined> = new Array(batches.length)
    const helpers = [origin, ...this.syncPeers().filter((p) => p !== origin)]
    let next = 0
    let inFlight = 0
    let cancelled = false
    const launch = (): void => {
      while (!cancelled && inFlight < this.parallel && next < batches.length) {
        const i = next++
        inFlight++
        const p = this.fetchBatch(batches[i]!, helpers[i % helpers.length]!, origin)
        p.catch(() => {}) // awaited in order below; a round that ends early leaves it unawaited
        p.finally(() => { inFlight--; launch() }).catch(() => {})
        results[i] = p
      }
    }
    launch()
    try {
      return await this.submitInOrder(results, batches.length, origin, target)
    } finally {
      cancelled = true
    }
  }

  private async submitInOrder (results: ReadonlyArray<Promise<Array<{ bytes: Uint8Array, from: string }>> | undefined>, n: number, origin: string, target: number): Promise<number> {
    let done = 0
    for (let i = 0; i < n; i++) {
      const blocks = await results[i]!
      for (const { bytes, from } of blocks) {
        if (this.stopped) return done
        this.gossip?.markSeen(bytes)
        const v = await this.chain.submitBlock(bytes)
        if (!v.accepted) {
          // Only invalid data costs the peer; an orphan or a block from our future may be our own lag.
          if (classify('ublock', v) === TopicValidatorResult.Reject) this.net.peers.penalise(from, penaltyOf(v, 50, this.net.peers.banScore), `served an invalid block: ${v.reason}`)
          throw new BadResponseError('blocks', `${from} served a block the chain refused: ${v.reason}`)
        }
        done++
        this.servedBy.set(from, (this.servedBy.get(from) ?? 0) + 1)
        this.blocksFetched++
        this.bytesFetched += bytes.length
        this.emit('progress', { peer: origin, height: this.chain.tip().height, target, blocks: this.blocksFetched, bytes: this.bytesFetched } satisfies SyncProgress)
      }
    }
    return done
  }

  /** One batch from `helper`, else from `origin`; each block must hash to what was asked. */
  private async fetchBatch (batch: ReadonlyArray<{ hash: Uint8Array }>, helper: string, origin: string): Promise<Array<{ bytes: Uint8Array, from: string }>> {
    const tryPeer = async (peer: string): Promise<Array<{ bytes: Uint8Array, from: string }> | undefined> => {
      const id = this.peerId(peer)
      if (id === undefined) return undefined
      let got: Array<Uint8Array | undefined>
      try {
        got = await this.client.blocks(id, batch.map((b) => b.hash))
      } catch (err) {
        if (err instanceof HealthchainError && err.code === 'ERR_NET_BAD_RESPONSE') this.net.peers.penalise(peer, 20, err.message)
        return undefined
      }
      const out: Array<{ bytes: Uint8Array, from: string }> = []
      for (let i = 0; i < batch.length; i++) {
        const bytes = got[i]
        if (bytes === undefined) return undefined
        let ok = false
        try { ok = bytes.length >= UBLOCK_HEADER_BYTES && equalBytes(ublockHash(decodeUblockHeader(bytes.subarray(0, UBLOCK_HEADER_BYTES))), batch[i]!.hash) } catch {}
        if (!ok) {
          this.net.peers.penalise(peer, 50, `served another block for ${toHex(batch[i]!.hash)}`)
          return undefined
        }
        out.push({ bytes, from: peer })
      }
      return out
    }
    const r = (helper !== origin ? await tryPeer(helper) : undefined) ?? await tryPeer(origin)
    if (r === undefined) throw new BadResponseError('blocks', `neither ${helper} nor ${origin} served ${batch.length} blocks`)
    return r
  }
}
