/** Fixtures for Userchain store/node tests: a network with an instant PoW target, and block builders. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  DEVNET, solveUblockHeader, ublockHash, ublockTemplate, type NetworkParams, type Tx, type Ublock, toHex
} from '../../hub/src/core/index.ts'
import type { ChainStore } from '../../hub/src/store/chain.ts'

/** Devnet with a target any second hash meets, and no retarget within a test. */
export const TESTNET: NetworkParams = Object.freeze({
  ...DEVNET, powLimitBits: 0x207fffff, genesisBits: 0x207fffff, retargetInterval: 1_000_000, maxReorgDepth: 50
})

/** The clock tests run at: genesis + 3000 s, so txs stamped genesis + 5 are neither expired (txMaxAge 3600) nor early. Blocks step 10 s from genesis. */
export const NOW = TESTNET.genesisTime + 3000

export async function tempDir (t: { teardown: (fn: () => Promise<void> | void) => void }, label = 'uc'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `hc-${label}-`))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

/**
 * A solved block on `parent` (an entry of `store`, or a block built earlier),
 * with coinbase to `miner` and the given txs. `salt` varies the gtime so
 * sibling blocks differ.
 */
export function makeBlock (store: ChainStore, parent: Ublock | { hash: Uint8Array }, f: { miner: Uint8Array, txs?: Tx[], salt?: number, reward?: number, bits?: number }): Ublock {
  const prevHash = 'hash' in parent ? parent.hash : ublockHash(parent.header)
  const prev = store.entry(prevHash)?.header ?? ('header' in parent ? parent.header : null)
  if (prev === null || prev === undefined) throw new Error(`unknown parent ${toHex(prevHash)}`)
  const fees = (f.txs ?? []).reduce((s, t) => s + (t.kind === 'coin' ? t.fee : 0), 0)
  const tpl = ublockTemplate({
    prev, prevHash, gtime: prev.gtime + 10 + (f.salt ?? 0), bits: f.bits ?? TESTNET.powLimitBits, miner: f.miner,
    reward: f.reward ?? TESTNET.blockReward + fees, txs: f.txs ?? []
  })
  const header = solveUblockHeader(tpl.header, 1_000_000)
  if (header === null) throw new Error('could not solve')
  return { header, txs: tpl.txs }
}
