/**
 * Gossip topic names and size limits (paper §IV-B2: user transactions and
 * Ublocks are broadcast among user nodes, Dblocks among all; DESIGN §6).
 * Topics carry the network name so a devnet node never mixes with mainnet.
 */
import { MAX_BLOCK_BODY_BYTES, MAX_COMPACT_BLOCK_BYTES, MAX_TX_BYTES, UBLOCK_HEADER_BYTES } from '../core/index.ts'

export interface Topics {
  readonly tx: string
  readonly ublock: string
  /** Compact Ublocks (BIP 152: header, short ids, coinbase; net/compact.ts). */
  readonly cmpct: string
  readonly dblock: string
  /** Doctors' signed findings before Docchain commits them (net/preliminary.ts). */
  readonly prelim: string
}

export function topicsFor (network: string): Topics {
  return {
    tx: `/healthchain/${network}/utx/1`,
    ublock: `/healthchain/${network}/ublock/1`,
    cmpct: `/healthchain/${network}/cmpct/1`,
    dblock: `/healthchain/${network}/dblock/1`,
    prelim: `/healthchain/${network}/prelim/1`
  }
}

/** Largest message data per topic: checked before anything is decoded. */
export const MAX_TX_MESSAGE = MAX_TX_BYTES
export const MAX_UBLOCK_MESSAGE = UBLOCK_HEADER_BYTES + MAX_BLOCK_BODY_BYTES
export const MAX_CMPCT_MESSAGE = MAX_COMPACT_BLOCK_BYTES
/** A Dblock: header, 1 MiB body, a certificate of up to 256 signatures. */
export const MAX_DBLOCK_MESSAGE = 256 + MAX_BLOCK_BODY_BYTES + 256 * 100
/**
 * Largest gossipsub RPC frame a peer may send us: one block plus protobuf
 * and control overhead. A longer frame is refused from its length prefix,
 * before its bytes are read (it-length-prefixed maxDataLength).
 */
export const MAX_GOSSIP_RPC_BYTES = Math.max(MAX_DBLOCK_MESSAGE, MAX_CMPCT_MESSAGE) + 64 * 1024
