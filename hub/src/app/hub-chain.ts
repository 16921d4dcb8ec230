/**
 * The hub's Userchain, as the rest of the hub uses it, in either of the
 * paper's two kinds of user node (§III-A): a core user node (the whole
 * Userchain in LevelDB, libp2p serving it, the PoW miner — this file) or a
 * lightweight one (headers and the user's own proven transactions,
 * ./light-hub.ts). Key epochs, durable batches, the Node-RED runtime, the
 * page, FHIR, the control API and the activity lines all go through this
 * one interface, so the hub is the same program in both modes.
 */
import { join } from 'node:path'
import { equalBytes, toHex, type Identity, type NetworkParams, type Tx, type TxIoT, type TxKey } from '../core/index.ts'
import { CoreNode } from '../roles/core/node.ts'
import { Miner } from '../roles/core/miner.ts'
import { CoreNet } from '../net/service.ts'
import { coreChain } from '../net/core-chain.ts'
import type { NetNode } from '../net/node.ts'
import { keyHistory } from '../roles/user/chain.ts'
import type { EpochChain } from '../roles/user/commit.ts'
import type { BatchChain } from '../ingest/batches.ts'
import type { ChainView } from '../fhir/source.ts'
import type { HubParts } from '../nodered/wire.ts'
import { coreBatchChain } from '../nodered/wire.ts'
import { listenError } from '../config/ports.ts'
import { levelSizes, type HubConfig } from '../hub-config.ts'
import type { MinerControl } from '../nodered/runtime.ts'
import { chainService, coinService, coreEpochChain, minerService, submitTo, userchainStatus, type ChainService, type CoinService, type MinerService, type UserchainStatus } from './hub-service.ts'

export type TxVerdict = { readonly id: string, readonly accepted: boolean, readonly code?: string, readonly reason?: string }

export interface HubChain {
  readonly mode: 'core' | 'light'
  /** The libp2p node IPFS, the Docchain follower and the preliminary findings share. */
  readonly net: NetNode
  readonly now: () => number
  /** The user's tx_keys, on the chain and pending, by epoch (UserKeys.fromChain). */
  readonly keyHistory: () => Promise<TxKey[]>
  /** What roles/user/stamp.ts firstTxStamper reads: the relay policy's stamp and the user's latest epoch, pool included. */
  readonly stampView: { readonly relay: { readonly stampBits: number }, readonly mempool: { readonly view: { latestEpoch: (user: Uint8Array) => number } } }
  readonly submit: (tx: Tx) => Promise<TxVerdict>
  readonly epochs: EpochChain
  readonly batches: BatchChain
  /** How the Node-RED runtime reaches the chain (nodered/wire.ts hubRuntime). */
  readonly runtime: Pick<HubParts, 'core' | 'miner' | 'chain'>
  /** The user's transactions as FHIR and the page's payments read them. */
  readonly view: ChainView
  readonly ownIoT: (htxI: Uint8Array) => Promise<TxIoT | undefined>
  readonly balance: () => number
  readonly status: () => UserchainStatus
  readonly coin: CoinService
  readonly chain: ChainService
  /** Given the runtime's miner control: the control API's miner service. */
  readonly minerService: (control: MinerControl) => MinerService
  readonly mining: () => boolean
  /** Each of the user's transactions once a Ublock of the best chain holds it; returns the unsubscribe function. */
  readonly onOwnTx: (cb: (tx: Tx, id: string, height: number) => void) => () => void
  /** gtimes of the best chain's newest Ublocks, oldest first (the clock check's median time past; empty where unknown). */
  readonly recentTimes: () => readonly number[]
  /** Each Ublock connected to the best chain: its gtime, and whether this hub's miner made it (the clock check); returns the unsubscribe function. */
  readonly onBlock: (cb: (gtime: number, mine: boolean) => void) => () => void
  /** Starts what runs once the hub is up (the miner when `mine`). */
  readonly start: () => void
}

/** LevelDB sizes of the config's memory section. */

/** The core user node: CoreNode + CoreNet (libp2p serving Userchain) + the miner. */
export async function startCoreHubChain (cfg: HubConfig, params: NetworkParams, user: Identity, stops: Array<() => Promise<unknown>>, now?: () => number): Promise<HubChain> {
  const core = await CoreNode.open({ dir: join(cfg.dataDir, 'userchain', params.name), params, verifyThreads: cfg.memory.verifyThreads, leveldb: levelSizes(cfg), ...(now === undefined ? {} : { now }) })
  stops.push(async () => { await core.close() })
  const net = await CoreNet.start({ chain: coreChain(core), params, dataDir: join(cfg.dataDir, 'net'), ...(cfg.listen.length > 0 ? { listen: cfg.listen } : {}), bootstrap: cfg.bootstrap })
    .catch((err: unknown) => { throw listenError(err, 'listen') })
  stops.push(async () => { await net.stop() })
  const miner = new Miner(core, { miner: user.id, ...(cfg.threads === undefined ? {} : { threads: cfg.threads }) })
  stops.push(async () => { await miner.close() })
  const submit = async (tx: Tx): Promise<TxVerdict> => await core.submitTx(tx)
  return {
    mode: 'core',
    net: net.net,
    now: () => core.now(),
    keyHistory: async () => await keyHistory(core.store, core.mempool, user.id),
    stampView: core,
    submit,
    epochs: coreEpochChain(core),
    batches: coreBatchChain(core),
    runtime: { core, miner },
    view: core,
    ownIoT: async (htxI) => {
      const tx = await core.store.confirmedTx(htxI) ?? core.mempool.get(htxI)?.bt.tx
      return tx?.kind === 'iot' && equalBytes(tx.user, user.id) ? tx : undefined
    },
    balance: () => core.store.account(user.id).balance,
    status: () => userchainStatus(core, net),
    coin: coinService({ store: core.store, mempool: core.mempool, identity: user, submit: submitTo({ submitTx: submit }) }),
    chain: chainService(core.store, () => core.mempool.size),
    minerService: (control) => minerService(control, miner),
    mining: () => miner.mining,
    recentTimes: () => core.store.recentTimes(core.store.tip),
    onBlock: (cb) => {
      const on = (r: { connected: ReadonlyArray<{ header: { gtime: number }, txs: ReadonlyArray<{ tx: Tx }> }> }): void => {
        for (const b of r.connected) { const cb0 = b.txs[0]?.tx; cb(b.header.gtime, cb0?.kind === 'coinbase' && equalBytes(cb0.to, user.id)) }
      }
      core.on('block', on)
      return () => { core.off('block', on) }
    },
    onOwnTx: (cb) => {
      const onBlock = (r: { connected: ReadonlyArray<{ header: { index: number }, txs: ReadonlyArray<{ tx: Tx, id: Uint8Array }> }> }): void => {
        for (const b of r.connected) {
          for (const bt of b.txs) if ((bt.tx.kind === 'iot' || bt.tx.kind === 'key') && equalBytes(bt.tx.user, user.id)) cb(bt.tx, toHex(bt.id), b.header.index)
        }
      }
      core.on('block', onBlock)
      return () => { core.off('block', onBlock) }
    },
    start: () => { if (cfg.mine) miner.start() }
  }
}
