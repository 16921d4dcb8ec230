/**
 * The hub as a lightweight user node (paper §III-A; README "A hub for
 * small boards: light mode"): its Userchain is roles/light LightChain —
 * headers, and the user's own transactions each with a Merkle proof a core
 * node gave and the hub checked — behind the same HubChain interface as
 * the core user node (./hub-chain.ts). It submits through the core nodes
 * of `bootstrap`, never mines, and drops a core node caught lying.
 */
import { join } from 'node:path'
import { buildTxCoin, fromHex, InvalidFieldError, toHex, ublockHash, type Identity, type NetworkParams, type Tx } from '../core/index.ts'
import { LightChain, type LightLedger } from '../roles/light/light-chain.ts'
import { RelayPolicy } from '../roles/core/relay-policy.ts'
import type { MinerControl, MinerStatus, TxSubmitter } from '../nodered/runtime.ts'
import type { HubConfig } from '../hub-config.ts'
import type { ChainInfo, ChainService, CoinService, MinerService, UserchainStatus } from './hub-service.ts'
import { chainInfo, plain, serial, submitTo } from './hub-service.ts'
import type { HubChain, TxVerdict } from './hub-chain.ts'
import { LightModeError } from './errors.ts'

/** How long the first start waits for a core node before going on (its transactions wait for one then). */
const FIRST_PEER_MS = 30_000

/** Starts the light node on `<dataDir>/light` and, with a core node connected, learns the user's transactions before the hub reads its key epochs. */
export async function startLightHubChain (cfg: HubConfig, params: NetworkParams, user: Identity, stops: Array<() => Promise<unknown>>, log: (line: string) => void): Promise<HubChain> {
  const light = await LightChain.start({
    params, user: user.id, dataDir: join(cfg.dataDir, 'light'), log, ...(cfg.listen.length > 0 ? { listen: cfg.listen } : {}), bootstrap: cfg.bootstrap
  })
  stops.push(async () => { await light.stop() })
  const t0 = Date.now()
  while (light.node.corePeers().length === 0 && Date.now() - t0 < FIRST_PEER_MS) await new Promise((resolve) => setTimeout(resolve, 100))
  if (light.node.corePeers().length === 0) log(`light node: no core node reachable in bootstrap after ${FIRST_PEER_MS / 1000} s; going on with the ${light.node.confirmed.size} transactions proven before`)
  else await light.refresh().catch((err: Error) => { log(`light node: ${err.message}`) })
  return lightHubChain(light, user)
}

/** The HubChain over a running LightChain (exported for tests that start the light node themselves). */
export function lightHubChain (light: LightChain, user: Identity): HubChain {
  const submit = async (tx: Tx): Promise<TxVerdict> => await light.submit(tx)
  /** Submits, or throws TxRejectedError with the core node's code and reason (the runtime's and the coin service's way). */
  const submitOrThrow = submitTo({ submitTx: submit })
  const now = (): number => light.now()
  const relay = new RelayPolicy(undefined, light.params.name)
  const onTip = (cb: () => void): () => void => light.onTip(cb)
  const height = (): number => light.height
  const status = (): UserchainStatus => {
    const s = light.status()
    return { height: s.height, tip: s.tip, mempool: s.pending, peers: s.peers, refused: { ...light.refused }, gossip: Object.fromEntries(Object.entries(light.node.gossip.stats).map(([k, v]) => [k, { ...v }])), bans: light.node.net.peers.bans(), light: s }
  }
  return {
    mode: 'light',
    net: light.node.net,
    now,
    keyHistory: async () => light.keyHistory(),
    stampView: { relay, mempool: { view: { latestEpoch: () => light.latestEpoch() } } },
    submit,
    epochs: { submit, mined: (id) => light.mined(id), pooled: (id) => light.pooled(id), onTip },
    batches: { submit, depth: (id) => light.depth(id), pooled: (id) => light.pooled(id), now, onTip },
    runtime: { chain: { txs: lightTxs(light, submitOrThrow), miner: noMiner(height), now } },
    view: {
      store: {
        userTxs: async (id) => toHex(id) === toHex(user.id) ? light.ownTxs().flatMap((t) => t.height === null ? [] : [{ txid: fromHex('id', t.id) }]) : [],
        confirmedTx: async (id) => light.mined(id) ? light.ownTx(id) : undefined
      },
      mempool: { list: () => light.ownTxs().flatMap((t) => t.height === null ? [{ bt: { id: fromHex('id', t.id), tx: t.tx } }] : []) }
    },
    ownIoT: async (htxI) => { const tx = light.ownTx(htxI); return tx?.kind === 'iot' && toHex(tx.user) === toHex(user.id) ? tx : undefined },
    balance: () => light.account().balance,
    status,
    coin: lightCoin(light, user, submitOrThrow),
    chain: lightChainService(light.ledger),
    minerService: () => lightMinerService(height),
    mining: () => false,
    recentTimes: () => light.node.headers.recentTimes(light.node.headers.tip),
    // a light hub never mines: every header it follows is another miner's
    onBlock: (cb) => onTip(() => { cb(light.node.headers.tip.header.gtime, false) }),
    onOwnTx: (cb) => {
      const on = (c: { proven: { tx: { tx: Tx, id: Uint8Array } }, height: number }): void => { cb(c.proven.tx.tx, toHex(c.proven.tx.id), c.height) }
      light.on('confirmed', on)
      return () => { light.off('confirmed', on) }
    },
    start: () => {}
  }
}

/** The runtime's submitter: handed to the core nodes; confirmed once a core node proves it on our best header chain. */
function lightTxs (light: LightChain, submit: (tx: Tx) => Promise<string>): TxSubmitter {
  return {
    submit: async (tx) => ({ id: await submit(tx) }),
    confirmed: async (id) => {
      const txid = fromHex('id', id)
      return await new Promise((resolve) => {
        const check = (): boolean => {
          const c = light.location(txid)
          if (c === undefined) return false
          off()
          resolve({ id, height: c.height, block: c.block })
          return true
        }
        const off = light.onTip(() => { check() })
        check()
      })
    }
  }
}

function noMiner (height: () => number): MinerControl {
  const status = (): MinerStatus => ({ running: false, height: height(), mined: 0 })
  return { start: () => { throw new LightModeError('it never mines') }, stop: () => {}, status }
}

function lightMinerService (height: () => number): MinerService {
  const status = async (): Promise<Awaited<ReturnType<MinerService['status']>>> => ({ mining: false, threads: 0, hashes: 0, height: height(), mined: 0 })
  return { status, start: async () => { throw new LightModeError('it never mines') }, stop: async () => ({ mining: false }) }
}

function hex32 (field: string, s: string): Uint8Array {
  const b = fromHex(field, s.trim())
  if (b.length !== 32) throw new InvalidFieldError(field, 'must be 32 bytes (64 hex digits)')
  return b
}

/** The user's own account only: a light node knows no other balance. */
function lightCoin (light: LightChain, user: Identity, submit: (tx: Tx) => Promise<string>): CoinService {
  const one = serial()
  const pendingFromMe = (): number => light.ownTxs().filter((t) => t.height === null && t.tx.kind === 'coin' && toHex(t.tx.from) === toHex(user.id)).length
  const own = (id: string): Uint8Array => {
    const who = hex32('id', id)
    if (toHex(who) !== toHex(user.id)) throw new LightModeError('it knows the balance of its own user only')
    return who
  }
  return {
    balance: async (id) => { const who = own(id); const a = light.account(); return { id: toHex(who), balance: a.balance, nonce: a.nonce, pending: light.ownTxs().filter((t) => t.height === null && t.tx.kind === 'coin').length } },
    pay: async ({ to, amount, fee = 0 }) => await one(async () => {
      const tx = buildTxCoin(user, { to: hex32('to', to), amount, fee, nonce: light.account().nonce + pendingFromMe() })
      return { id: await submit(tx), nonce: tx.nonce }
    })
  }
}

/** Userchain queries a light node can answer: its header chain, and its own transactions (also on a stopped hub's data dir: cli/chain.ts). */
export function lightChainService (light: LightLedger): ChainService {
  const user = { id: light.user }
  const headers = light.headers
  return {
    info: async (): Promise<ChainInfo> => chainInfo(light.params.name, headers.tip, { blocks: headers.size, mempool: light.pending.size, nextBits: headers.nextBitsAfter(headers.tip) }),
    block: async (ref) => {
      const hash = /^\d+$/.test(ref) ? headers.hashAt(Number(ref)) : hex32('hash', ref)
      const e = hash === undefined ? undefined : headers.entry(hash)
      if (e === undefined) throw new InvalidFieldError('hash', `block ${ref} is not in this light node's headers`)
      const txs = light.ownTxs().filter((t) => t.height === e.height && light.location(fromHex('id', t.id))?.block === e.hex)
      return plain({ hash: e.hex, mainChain: headers.isOnMainChain(e.hex), header: e.header, txs: txs.map((t) => ({ id: t.id, ...t.tx })), note: 'a light node keeps headers and its own transactions only' }) as Record<string, unknown>
    },
    tx: async (id) => {
      const txid = hex32('id', id)
      const c = light.location(txid)
      if (c === undefined) throw new InvalidFieldError('id', `transaction ${id} is not one of this user's proven on the best chain`)
      return plain({ id: c.proven.tx.id, block: toHex(ublockHash(c.proven.header)), height: c.height, pos: c.proven.pos, confirmations: headers.height - c.height + 1, proof: 'verified', tx: c.proven.tx.tx }) as Record<string, unknown>
    },
    balance: async (id) => {
      const who = hex32('id', id)
      if (toHex(who) !== toHex(user.id)) throw new LightModeError('it knows the balance of its own user only')
      const a = light.account()
      return { id: toHex(who), balance: a.balance, nonce: a.nonce, keyEpoch: light.latestEpoch(), txs: light.ownTxs().filter((t) => t.height !== null).length }
    }
  }
}
