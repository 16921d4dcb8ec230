/**
 * What the network layer needs from a Userchain node (paper §III-A core user
 * node; DESIGN §3: net depends on core only). A core user node
 * (roles/core CoreNode) fits it through `coreChain` (./core-chain.ts);
 * tests may wrap one to misbehave (a lying core node).
 */
import type { BodyTx, Ublock, UblockHeader } from '../core/index.ts'

export interface ChainTip { readonly hash: Uint8Array, readonly height: number, readonly header: UblockHeader, readonly work: bigint }

/** A best-chain transaction with what proves it (header + RFC 6962 audit path against userroot). */
export interface ProvenTx {
  readonly tx: BodyTx
  readonly header: UblockHeader
  readonly pos: number
  readonly size: number
  readonly proof: readonly Uint8Array[]
}

/** How the node took a transaction or block from the network. */
export type Verdict =
  | { readonly accepted: true, readonly duplicate?: boolean, readonly tipChanged?: boolean }
  | { readonly accepted: false, readonly code: string, readonly reason: string }

export interface NetChain {
  readonly network: string
  tip(): ChainTip
  /** Hash of the best-chain block at `height`. */
  hashAt(height: number): Uint8Array | undefined
  /** Header and height of a stored block (any branch). */
  header(hash: Uint8Array): { readonly header: UblockHeader, readonly height: number } | undefined
  isOnMainChain(hash: Uint8Array): boolean
  getBlockBytes(hash: Uint8Array): Promise<Uint8Array | undefined>
  /**
   * A transaction from the network; `peer` the one that relayed it (relay
   * policy, its turn in the per-peer queues), none for a local submission.
   * `banned`, asked when its turn comes: true drops it unread (ERR_NET_BANNED).
   */
  submitTx(bytes: Uint8Array, peer?: string, banned?: () => boolean): Promise<Verdict>
  /**
   * An encoded block from the network; `decoded`, when the caller already
   * holds it decoded (a compact block rebuilt from the mempool), is its
   * decoding, so the chain does not decode the bytes again.
   */
  submitBlock(bytes: Uint8Array, decoded?: Ublock): Promise<Verdict>
  /** The user's best-chain transactions with Merkle proofs, oldest first, from height `fromHeight` on (default 0). */
  userTxProofs(user: Uint8Array, limit: number, fromHeight?: number): Promise<ProvenTx[]>
  /** Encoded mempool transactions, arrival order, at most `maxBytes` in all. */
  mempoolTxs(maxBytes: number): Uint8Array[]
  hasTx(id: Uint8Array): boolean
  /** The mempool's transactions, decoded and with their ids: what a compact block is rebuilt from (net/compact.ts). */
  mempoolBodyTxs(): Iterable<BodyTx>
  /** Subscriptions; each returns its unsubscribe. */
  onTip(fn: (tip: ChainTip) => void): () => void
  /** A transaction admitted to the mempool (its bytes). */
  onTx(fn: (bytes: Uint8Array) => void): () => void
  /** A block stored by this node (mined here or received), its bytes. */
  onBlock(fn: (hash: Uint8Array) => void): () => void
}
