/**
 * Network parameters, all in one place (paper §IV-B3: one Ublock a minute,
 * retarget every 2016 blocks; DESIGN §5: devnet uses short blocks).
 */

export interface NetworkParams {
  readonly name: 'mainnet' | 'devnet'
  /** Target seconds between Ublocks. */
  readonly blockSeconds: number
  /** Blocks between difficulty retargets. */
  readonly retargetInterval: number
  /** Easiest allowed target, as compact bits. */
  readonly powLimitBits: number
  /** Target of the genesis block, as compact bits. */
  readonly genesisBits: number
  /** Blocks in the median-time-past window. */
  readonly mtpWindow: number
  /** Max seconds a block's gtime may run ahead of the validator's clock. */
  readonly maxFutureDrift: number
  /** Max seconds a transaction's ts may lie before its block's gtime. */
  readonly txMaxAge: number
  /** Healthcoin minted per Ublock (paid by the coinbase). */
  readonly blockReward: number
  /** Deepest reorg a node will follow. */
  readonly maxReorgDepth: number
  /** gtime of the genesis Ublock. */
  readonly genesisTime: number
}

export const MAINNET: NetworkParams = Object.freeze({
  name: 'mainnet',
  blockSeconds: 60,
  retargetInterval: 2016,
  powLimitBits: 0x1f00ffff,
  genesisBits: 0x1e0fffff,
  mtpWindow: 11,
  maxFutureDrift: 2 * 60 * 60,
  txMaxAge: 24 * 60 * 60,
  blockReward: 50_000_000,
  maxReorgDepth: 100,
  genesisTime: 1_767_225_600 // 2026-01-01T00:00:00Z
})

export const DEVNET: NetworkParams = Object.freeze({
  name: 'devnet',
  blockSeconds: 3,
  retargetInterval: 20,
  powLimitBits: 0x2000ffff,
  genesisBits: 0x1f3fffff,
  mtpWindow: 11,
  maxFutureDrift: 60,
  txMaxAge: 60 * 60,
  blockReward: 50_000_000,
  maxReorgDepth: 50,
  genesisTime: 1_767_225_600
})

export const NETWORKS = { mainnet: MAINNET, devnet: DEVNET } as const
