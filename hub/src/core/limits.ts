/**
 * Protocol limits (DESIGN §4: "limits are part of the protocol"). The same
 * on every network; exceeding one is a LimitExceededError naming the field.
 */

/** Max block body, Ublock and Dblock alike (paper §VI-A sizes blocks at 1 MB). */
export const MAX_BLOCK_BODY_BYTES = 1024 * 1024
/** Max encoded size of one transaction. */
export const MAX_TX_BYTES = 16 * 1024
/** Max doctors one tx_key can name (each envelope is 112 bytes). */
export const MAX_ENVELOPES = 64
/** Max IoT transactions one tx_diag can cite as its cause. */
export const MAX_CAUSES = 64
/** Timestamps are seconds since 1970; 2^40 s is far beyond any real clock. */
export const MAX_TIMESTAMP = 2 ** 40
/** Key epochs are counted from 1. */
export const MAX_EPOCH = 2 ** 32 - 1
/** Healthcoin amounts in the smallest unit. */
export const MAX_AMOUNT = Number.MAX_SAFE_INTEGER
/** Max PBFT accounting nodes whose signatures a Dblock certificate may carry. */
export const MAX_CERT_SIGNATURES = 256
