/**
 * Userchain relay policy of a core user node, after Bitcoin Core's mempool
 * policy (DESIGN §6; paper §IV-B2: core nodes verify user transactions
 * before packing them). Consensus rules say what may be mined; this says
 * what a node takes from its peers, so that spam has a price and a node's
 * own transactions are never crowded out:
 * - The cost lands where Sybils are made. A new identity's first
 *   transaction is its first tx_key (a tx_IoT must name an epoch already on
 *   the branch, a transfer needs a balance someone paid): from a peer it
 *   must carry a proof-of-work stamp — its id (the hash we compute anyway)
 *   below a target of `firstTxStampBits` leading zero bits, ground through
 *   the free HPKE seed of its envelopes. tx_IoT does not grow (README
 *   design notes: why a stamp rather than a fee).
 * - Established users get quotas: at most `maxPendingKeys` tx_key of theirs
 *   pending (a fresh key chaining epochs fills nothing), at most
 *   `iotPerWindow` tx_IoT per `windowSeconds` admitted from peers.
 * - Per peer: a token bucket of transactions per second; what it sends over
 *   it is refused unread (before its signature is checked).
 * - What peers relay may fill `relayShare` of the mempool; the rest is kept
 *   for the node's own (local) transactions, which no quota applies to.
 * - Relayed entries older than `maxAgeSeconds` are evicted (CoreNode).
 * Every refusal here is a PolicyError: the sender is penalised a little
 * (net/gossip.ts), since an honest peer relays only what it admitted under
 * the same policy — and a rate refusal (RateLimitedTxError) less, since an
 * honest relay may burst. Pure: the clock is passed in.
 */
import { HealthchainError, type BodyTx } from '../../core/index.ts'

export interface RelayPolicyOptions {
  /** Leading zero bits of a new identity's first tx_key id (default: 12 on mainnet, 0 elsewhere). */
  readonly firstTxStampBits?: number
  /** tx_key of one user pending at most (default 4). */
  readonly maxPendingKeys?: number
  /** tx_IoT of one user admitted from peers per window at most (default 600). */
  readonly iotPerWindow?: number
  /** The quota window, seconds (default 600). */
  readonly windowSeconds?: number
  /** Transactions per second per peer, and burst (default 500, 2,000: a core node relays all its hubs' traffic). */
  readonly peerRate?: { readonly perSecond: number, readonly burst: number }
  /** Share of the mempool relayed transactions may fill (default 0.75). */
  readonly relayShare?: number
  /** Relayed entries are evicted after this long in the mempool, seconds (default 3 h). */
  readonly maxAgeSeconds?: number
}

/** A transaction refused by relay policy (not invalid: a node may still mine it if it gets it otherwise). */
export class PolicyError extends HealthchainError {
  constructor (what: string, why: string) { super('ERR_POLICY', what, why) }
}
/** A peer over its transaction rate (its txs dropped unread; a smaller penalty: an honest relay may burst). */
export class RateLimitedTxError extends HealthchainError {
  constructor (peer: string, perSecond: number) { super('ERR_POLICY_RATE', 'peer', `peer ${peer.slice(0, 16)}… sends transactions faster than ${perSecond}/s`) }
}

/** What the mempool knows of a user and of relayed transactions. */
export interface PoolView {
  /** The user's latest key epoch on the branch with the pool applied (0: a new identity). */
  readonly latestEpoch: (user: Uint8Array) => number
  /** tx_key of this user pending. */
  readonly pendingKeys: (user: Uint8Array) => number
  /** Bytes of relayed transactions in the pool, and the pool's bound. */
  readonly relayBytes: number
  readonly maxBytes: number
}

/** Whether `id` has at least `bits` leading zero bits. */
export function meetsStamp (id: Uint8Array, bits: number): boolean {
  let left = bits
  for (let i = 0; left > 0; i++) {
    const b = id[i] ?? 0xff
    if (left >= 8) { if (b !== 0) return false; left -= 8 } else return (b >> (8 - left)) === 0
  }
  return true
}

export class RelayPolicy {
  readonly stampBits: number
  readonly maxPendingKeys: number
  readonly iotPerWindow: number
  readonly windowSeconds: number
  readonly perSecond: number
  readonly burst: number
  readonly relayShare: number
  readonly maxAgeSeconds: number
  private readonly buckets = new Map<string, { tokens: number, at: number }>()
  private readonly iot = new Map<string, { count: number, since: number }>()
  /** tx_key that passed `check` and are not in the pool yet (their signatures are being checked), per user. */
  private readonly keysInFlight = new Map<string, number>()

  constructor (opts: RelayPolicyOptions = {}, network = 'devnet') {
    this.stampBits = opts.firstTxStampBits ?? (network === 'mainnet' ? 12 : 0)
    this.maxPendingKeys = opts.maxPendingKeys ?? 4
    this.iotPerWindow = opts.iotPerWindow ?? 600
    this.windowSeconds = opts.windowSeconds ?? 600
    this.perSecond = opts.peerRate?.perSecond ?? 500
    this.burst = opts.peerRate?.burst ?? 2000
    this.relayShare = opts.relayShare ?? 0.75
    this.maxAgeSeconds = opts.maxAgeSeconds ?? 3 * 3600
  }

  /** The peer's token bucket: refuses once it sends faster than its rate (ms clock). Checked before anything is decoded. */
  checkPeer (peer: string, nowMs: number): RateLimitedTxError | null {
    const b = this.buckets.get(peer) ?? { tokens: this.burst, at: nowMs }
    b.tokens = Math.min(this.burst, b.tokens + (nowMs - b.at) * this.perSecond / 1000)
    b.at = nowMs
    this.buckets.delete(peer)
    this.buckets.set(peer, b)
    if (this.buckets.size > 10_000) this.buckets.delete(this.buckets.keys().next().value!) // the least recently heard
    if (b.tokens < 1) return new RateLimitedTxError(peer, this.perSecond)
    b.tokens -= 1
    return null
  }

  /**
   * The per-transaction rules for a relayed tx, before its signature is
   * checked. One that passes holds its place in the user's quotas until
   * `settle` says whether the pool took it (relayed txs are checked
   * concurrently: counting only admissions let a burst through).
   */
  check (bt: BodyTx, pool: PoolView, now: number): PolicyError | null {
    if (pool.relayBytes + bt.bytes.length > pool.maxBytes * this.relayShare) {
      return new PolicyError('mempool', `relayed transactions fill their share (${Math.round(this.relayShare * 100)} %) of the mempool`)
    }
    const tx = bt.tx
    if (tx.kind === 'key') {
      if (pool.latestEpoch(tx.user) === 0 && !meetsStamp(bt.id, this.stampBits)) {
        return new PolicyError('stamp', `a new identity's first tx_key needs a proof-of-work stamp (id below ${this.stampBits} zero bits)`)
      }
      const k = userKey(tx.user)
      const flying = this.keysInFlight.get(k) ?? 0
      if (pool.pendingKeys(tx.user) + flying >= this.maxPendingKeys) return new PolicyError('quota', `user already has ${this.maxPendingKeys} tx_key pending`)
      this.keysInFlight.set(k, flying + 1)
    } else if (tx.kind === 'iot') {
      const k = userKey(tx.user)
      const q = this.iot.get(k)
      if (q !== undefined && q.since > now - this.windowSeconds && q.count >= this.iotPerWindow) {
        return new PolicyError('quota', `user sent ${this.iotPerWindow} tx_IoT in ${this.windowSeconds} s`)
      }
      if (q === undefined || q.since <= now - this.windowSeconds) {
        this.iot.delete(k)
        this.iot.set(k, { count: 1, since: now })
        for (const [u, x] of this.iot) { if (x.since > now - this.windowSeconds) break; this.iot.delete(u) } // forget past windows, oldest first
      } else q.count++
    }
    return null
  }

  /** After `check` passed: whether the pool took the tx (a tx_IoT refused later gives its place back). */
  settle (bt: BodyTx, taken: boolean): void {
    const tx = bt.tx
    if (tx.kind === 'key') {
      const k = userKey(tx.user)
      const n = (this.keysInFlight.get(k) ?? 1) - 1
      if (n > 0) this.keysInFlight.set(k, n)
      else this.keysInFlight.delete(k)
    } else if (tx.kind === 'iot' && !taken) {
      const q = this.iot.get(userKey(tx.user))
      if (q !== undefined && q.count > 0) q.count--
    }
  }
}

function userKey (user: Uint8Array): string { return Buffer.from(user.buffer, user.byteOffset, user.byteLength).toString('latin1') }
