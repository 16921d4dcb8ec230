/**
 * The hub's service layer beyond the patient page (DESIGN §3.1): key
 * epochs (grant, revoke, rotate), device pairing, Healthcoin payments,
 * Userchain queries and the miner. Each part is built over the role objects
 * it drives, so the running hub (startHub), and the CLI on a stopped hub's
 * data dir, call the very same functions; the control API (api/hub-routes.ts)
 * exposes them as they are. Results are plain JSON-able data.
 */
import { buildTxCoin, encodeTx, fromHex, InvalidFieldError, toHex, type Identity, type Tx, type TxKey } from '../core/index.ts'
import type { GrantScope } from '../roles/user/keys.ts'
import type { EpochChain, EpochCommitter, PendingEpoch } from '../roles/user/commit.ts'
import type { ChainStore } from '../store/chain.ts'
import type { Mempool } from '../store/mempool.ts'
import type { Miner } from '../roles/core/miner.ts'
import { need, type BatchStore, type DiagnosisEvent, type HealthchainRuntime, type MinerControl, type OpenedDiagnosis, type SensorReading } from '../nodered/runtime.ts'
import { diagnosisReaderOf } from '../nodered/diagnosis.ts'
import { recorderOf, sealerOf } from '../nodered/seal.ts'
import type { DeviceRegistry, PublicDevice } from '../ingest/registry.ts'
import type { DurableBatches, Stage } from '../ingest/batches.ts'
import type { SensorType } from '../ingest/line.ts'
import { TxRejectedError } from '../nodered/errors.ts'
import type { DoctorBook } from './doctor-book.ts'
import type { CoreNode } from '../roles/core/node.ts'
import type { CoreNet } from '../net/service.ts'
import type { GossipStats } from '../net/gossip.ts'
import type { LightChainStatus } from '../roles/light/light-chain.ts'

/** Submits a transaction to the core node's mempool; resolves with its id, or throws TxRejectedError. */
export type SubmitTx = (tx: Tx) => Promise<string>

/** Runs calls one at a time (key epochs and transfer nonces are sequences). */
export function serial (): <T>(fn: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve()
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    const run = tail.then(fn, fn)
    tail = run.catch(() => {})
    return await run
  }
}

/** Uint8Array → hex, bigint → string, recursively. */
export function plain (v: unknown): unknown {
  if (v instanceof Uint8Array) return toHex(v)
  if (typeof v === 'bigint') return v.toString()
  if (Array.isArray(v)) return v.map(plain)
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]))
  return v
}

export interface EpochResult {
  /** the new key epoch */
  readonly epoch: number
  /** htxk of its tx_key (hex) */
  readonly tx: string
  /** the doctors it names (hex IDs, sorted) */
  readonly doctors: readonly string[]
}

export interface KeysService {
  /** A tx_key naming one more doctor (identity record hex, or ID hex) — paper Alg. 3; `scope` from-now (default: a fresh Ik) or history (the current Ik). */
  grant: (doctor: string, scope?: GrantScope) => Promise<EpochResult & { readonly doctor: string, readonly scope: GrantScope }>
  /** A tx_key with a fresh IoT key for the remaining doctors. */
  revoke: (doctor: string) => Promise<EpochResult & { readonly doctor: string }>
  /** A fresh IoT key for the same doctors (§IV-B5 periodic update). */
  rotate: () => Promise<EpochResult>
  /** The epoch in use (accepted by the hub's node), its doctors, and the tx_keys not yet in a Ublock. */
  doctors: () => Promise<{ readonly epoch: number, readonly doctors: readonly string[], readonly pending: readonly PendingEpoch[] }>
}

/**
 * Over the epoch committer (roles/user/commit.ts): each change is built
 * without touching the keys, persisted, broadcast, and applied only once
 * the hub's core node accepted it; a refusal throws and changes nothing.
 */
export function keysService (p: { committer: EpochCommitter, book: DoctorBook }): KeysService {
  const keys = p.committer.keys
  const one = serial()
  const result = ({ tx, id }: { tx: TxKey, id: string }): EpochResult => ({ epoch: tx.epoch, tx: id, doctors: tx.envelopes.map((e) => toHex(e.doctor)) })
  return {
    grant: async (doctor, scope = 'from-now') => await one(async () => {
      const id = await p.book.learn(doctor)
      // the first epoch names no doctor (UserKeys.init), so the user seals data before any grant
      if (keys.current === null) await p.committer.commit({ kind: 'init' })
      return { ...result(await p.committer.commit({ kind: 'grant', doctor: id, scope })), doctor: toHex(id), scope }
    }),
    revoke: async (doctor) => await one(async () => {
      const id = fromHex('doctor', doctor.trim())
      return { ...result(await p.committer.commit({ kind: 'revoke', doctor: id })), doctor: toHex(id) }
    }),
    rotate: async () => await one(async () => result(await p.committer.commit({ kind: 'rotate' }))),
    doctors: async () => ({ epoch: keys.current?.epoch ?? 0, doctors: keys.doctors().map(toHex), pending: p.committer.pending() })
  }
}

/** The epoch committer's view of a core node; `after` runs after each accepted submit (the CLI flushes the mempool file). */
export function coreEpochChain (node: { submitTx: (tx: Tx) => Promise<{ accepted: boolean, code?: string, reason?: string }>, store: ChainStore, mempool: Mempool, on: (e: 'tip', cb: () => void) => unknown, off: (e: 'tip', cb: () => void) => unknown }, after?: () => Promise<void>): EpochChain {
  return {
    submit: async (tx) => { const r = await node.submitTx(tx); if (r.accepted) await after?.(); return r },
    mined: (txid) => { const loc = node.store.txLocation(txid); return loc !== undefined && node.store.isOnMainChain(loc.block) },
    pooled: (txid) => node.mempool.has(txid),
    onTip: (cb) => { node.on('tip', cb); return () => { node.off('tip', cb) } }
  }
}

/**
 * The core node's submit, as the services use it; `prepare` first turns a
 * tx into what is submitted (roles/user/stamp.ts firstTxStamper: the stamp
 * on the user's first tx_key), and the id returned is the submitted one's.
 */
export function submitTo (node: { submitTx: (tx: Tx) => Promise<{ id: string, accepted: boolean, code?: string, reason?: string }> }, after?: () => Promise<void>, prepare?: (tx: Tx) => Promise<Tx>): SubmitTx {
  return async (tx) => {
    const r = await node.submitTx(prepare === undefined ? tx : await prepare(tx))
    if (!r.accepted) throw new TxRejectedError(r.id, r.code ?? 'ERR_TX_REJECTED', r.reason ?? 'refused')
    await after?.()
    return r.id
  }
}

export interface UserchainStatus {
  readonly height: number
  readonly tip: string
  readonly mempool: number
  readonly peers: number
  /** Transactions and blocks the core node refused since start, by error code (ERR_POLICY: relay policy — stamp, quota, pool share; ERR_POLICY_RATE; ERR_POW …). */
  readonly refused: Readonly<Record<string, number>>
  /** Gossip messages per topic: accepted, ignored, rejected (their senders penalised), oversize, and dropped unread from banned peers. */
  readonly gossip: Readonly<Record<string, GossipStats>>
  /** Bans in force: peers, and the IP addresses refused with them. */
  readonly bans: { readonly peers: number, readonly addresses: number }
  /** A light hub (mode "light"): its own transactions proven, pending and refused (with the core node's reason), core nodes, liars dropped, store bytes. */
  readonly light?: LightChainStatus
}

/** What the hub's status says of its Userchain node: tip, pool, peers and what it refused and penalised. */
export function userchainStatus (core: Pick<CoreNode, 'store' | 'mempool' | 'rejected'>, net: Pick<CoreNet, 'net' | 'gossip'>): UserchainStatus {
  return {
    height: core.store.tip.height,
    tip: core.store.tip.hex,
    mempool: core.mempool.size,
    peers: net.net.libp2p.getPeers().length,
    refused: { ...core.rejected },
    gossip: Object.fromEntries(Object.entries(net.gossip.stats).map(([k, v]) => [k, { ...v }])),
    bans: net.net.peers.bans()
  }
}

export interface ChainInfo {
  readonly network: string
  readonly height: number
  readonly tip: string
  readonly gtime: number
  readonly bits: string
  readonly work: string
  readonly blocks: number
  readonly mempool: number
  readonly nextBits: string
  readonly problems?: readonly string[]
}

export interface ChainService {
  info: (opts?: { check?: boolean }) => Promise<ChainInfo>
  block: (ref: string) => Promise<Record<string, unknown>>
  tx: (id: string) => Promise<Record<string, unknown>>
  balance: (id: string) => Promise<{ readonly id: string, readonly balance: number, readonly nonce: number, readonly keyEpoch: number, readonly txs: number }>
}

function hex32 (field: string, s: string): Uint8Array {
  const b = fromHex(field, s.trim())
  if (b.length !== 32) throw new InvalidFieldError(field, 'must be 32 bytes (64 hex digits)')
  return b
}

/** The chain info of a tip (a core node's store entry or a light node's header entry). */
export function chainInfo (network: string, tip: { readonly height: number, readonly hex: string, readonly header: { readonly gtime: number, readonly bits: number }, readonly work: bigint }, counts: { readonly blocks: number, readonly mempool: number, readonly nextBits: number }): ChainInfo {
  return {
    network,
    height: tip.height,
    tip: tip.hex,
    gtime: tip.header.gtime,
    bits: `0x${tip.header.bits.toString(16)}`,
    work: String(tip.work),
    blocks: counts.blocks,
    mempool: counts.mempool,
    nextBits: `0x${counts.nextBits.toString(16)}`
  }
}

/** Userchain queries over a chain store; `mempool` counts pending transactions. */
export function chainService (store: ChainStore, mempool: () => number | Promise<number>): ChainService {
  return {
    info: async (opts = {}) => {
      const tip = store.tip
      return {
        ...chainInfo(store.params.name, tip, { blocks: store.blockCount, mempool: await mempool(), nextBits: store.nextBitsAfter(tip) }),
        ...(opts.check === true ? { problems: await store.audit() } : {})
      }
    },
    block: async (ref) => {
      const hash = /^\d+$/.test(ref) ? store.hashAt(Number(ref)) : hex32('hash', ref)
      if (hash === undefined) throw new InvalidFieldError('height', `${ref} is above the tip (${store.height})`)
      const block = await store.getBlock(hash)
      const e = store.entry(hash)
      if (block === undefined || e === undefined) throw new InvalidFieldError('hash', `block ${ref} is not stored`)
      return plain({ hash: e.hex, mainChain: store.isOnMainChain(hash), status: e.status, reason: e.reason, header: block.header, txs: block.txs.map((t) => ({ id: t.id, ...t.tx })) }) as Record<string, unknown>
    },
    tx: async (id) => {
      const loc = store.txLocation(hex32('id', id))
      if (loc === undefined) throw new InvalidFieldError('id', `transaction ${id} is not on the best chain`)
      const block = (await store.getBlock(loc.block))!
      const t = block.txs[loc.pos]!
      return plain({ id: t.id, block: loc.block, height: loc.height, pos: loc.pos, confirmations: store.height - loc.height + 1, tx: t.tx }) as Record<string, unknown>
    },
    balance: async (id) => {
      const who = hex32('id', id)
      const a = store.account(who)
      return { id: toHex(who), balance: a.balance, nonce: a.nonce, keyEpoch: store.latestEpoch(who), txs: (await store.userTxs(who)).length }
    }
  }
}

export interface CoinService {
  balance: (id: string) => Promise<{ readonly id: string, readonly balance: number, readonly nonce: number, readonly pending: number }>
  /** A transfer from this node's ID, queued in the mempool (paper §IV-B4 prepayment). */
  pay: (p: { readonly to: string, readonly amount: number, readonly fee?: number }) => Promise<{ readonly id: string, readonly nonce: number }>
}

export function coinService (p: { store: ChainStore, mempool: Mempool, identity?: Identity, submit: SubmitTx }): CoinService {
  const one = serial()
  const mine = (id: Uint8Array): Tx[] => p.mempool.list().map((e) => e.bt.tx).filter((tx) => tx.kind === 'coin' && (toHex(tx.from) === toHex(id) || toHex(tx.to) === toHex(id)))
  return {
    balance: async (id) => {
      const who = hex32('id', id)
      const a = p.store.account(who)
      return { id: toHex(who), balance: a.balance, nonce: a.nonce, pending: mine(who).length }
    },
    pay: async ({ to, amount, fee = 0 }) => await one(async () => {
      const who = p.identity
      if (who === undefined) throw new InvalidFieldError('keystore', 'this node has no identity to pay from')
      const pendingFromMe = p.mempool.list().filter((e) => e.bt.tx.kind === 'coin' && toHex(e.bt.tx.from) === toHex(who.id)).length
      const tx = buildTxCoin(who, { to: hex32('to', to), amount, fee, nonce: p.store.account(who.id).nonce + pendingFromMe })
      return { id: await p.submit(tx), nonce: tx.nonce }
    })
  }
}

export interface DevicesService {
  /** Pairs a device; its secret (MQTT password) is in the answer once. */
  add: (p: { readonly id: string, readonly user: string, readonly sensors: readonly SensorType[] }) => Promise<PublicDevice & { readonly secret: string }>
  list: () => Promise<PublicDevice[]>
  remove: (id: string) => Promise<{ readonly removed: string }>
}

export function devicesService (registry: DeviceRegistry): DevicesService {
  return {
    add: async ({ id, user, sensors }) => {
      const { device, secret } = await registry.add(id, { user, sensors: [...sensors] })
      return { ...device, secret }
    },
    list: async () => registry.list(),
    remove: async (id) => { await registry.remove(id); return { removed: id } }
  }
}

export interface MinerService {
  status: () => Promise<{ readonly mining: boolean, readonly threads: number, readonly hashes: number, readonly height: number, readonly mined: number }>
  start: () => Promise<{ readonly mining: boolean }>
  stop: () => Promise<{ readonly mining: boolean }>
}

/** Over the miner control the Node-RED miner node drives too (nodered/wire.ts coreMiner). */
export function minerService (control: MinerControl, miner: Pick<Miner, 'threads' | 'hashes' | 'mining'>): MinerService {
  const status = async (): Promise<Awaited<ReturnType<MinerService['status']>>> => {
    const s = control.status()
    return { mining: miner.mining, threads: miner.threads, hashes: miner.hashes, height: s.height, mined: s.mined }
  }
  return {
    status,
    start: async () => { if (!miner.mining) await control.start(); return { mining: miner.mining } },
    stop: async () => { await control.stop(); return { mining: miner.mining } }
  }
}

export interface PipelineService {
  /** Seals readings under the current key epoch (paper Alg. 2 line 2); the sealed bytes base64. */
  seal: (readings: readonly SensorReading[]) => Promise<{ readonly sealed: string, readonly epoch: number }>
  /** Stores sealed bytes on IPFS; resolves after the storage nodes' replication acks. */
  upload: (bytes: Uint8Array) => Promise<{ readonly cid: string, readonly acked: readonly string[] }>
  /** Builds, signs and submits the tx_IoT naming them (paper Alg. 2 lines 4–7); `tx` is its encoding (hex). */
  record: (heiot: Uint8Array, epoch: number) => Promise<{ readonly id: string, readonly tx: string }>
  /** Resolves once the transaction is on the best chain. */
  confirmed: (id: string) => Promise<{ readonly id: string, readonly height: number, readonly block: string }>
  /** Verified device readings as they arrive; returns the unsubscribe function. */
  readings: (onReading: (r: SensorReading) => void, onError: (err: Error, raw?: string) => void) => () => void
}

/** The upload path's steps over the hub's Node-RED runtime: what the embedded flow calls, exposed to another Node-RED. */
export function pipelineService (rt: HealthchainRuntime): PipelineService {
  const sealer = sealerOf(rt)
  const recorder = recorderOf(rt)
  const txs = rt.txs
  return {
    seal: async (readings) => { const s = await sealer.seal(readings); return { sealed: Buffer.from(s.sealed).toString('base64'), epoch: s.epoch } },
    upload: async (bytes) => await need(rt, 'ipfs').upload(bytes),
    record: async (heiot, epoch) => { const r = await recorder.record(heiot, epoch); return { id: r.id, tx: toHex(encodeTx(r.tx)) } },
    confirmed: async (id) => {
      if (txs?.confirmed === undefined) throw new InvalidFieldError('id', 'this hub does not follow confirmations')
      return await txs.confirmed(id)
    },
    readings: (onReading, onError) => need(rt, 'readings').subscribe(onReading, onError)
  }
}

export interface DiagnosesService {
  /** Each tx_diag about the user's data that the hub's Docchain follower verified, with the key epoch of its first cause; returns the unsubscribe function. */
  events: (onDiagnosis: (e: DiagnosisEvent) => void) => () => void
  /** Opens a tx_diag with dk_ij (paper §IV-B5), in the hub: the diagnosis in node of another Node-RED calls this. */
  open: (e: DiagnosisEvent) => Promise<OpenedDiagnosis>
}

/** The user's diagnoses over the hub's Node-RED runtime: what the embedded diagnosis in node reads, exposed to another Node-RED. */
export function diagnosesService (rt: HealthchainRuntime): DiagnosesService {
  const reader = diagnosisReaderOf(rt)
  return {
    events: (onDiagnosis) => need(rt, 'diagnoses').subscribe(onDiagnosis),
    open: async (e) => await reader.open(e)
  }
}

/** One open batch as the API lists it (no readings: those travel only on the lease stream). */
export interface BatchView {
  readonly id: string
  readonly reason: string
  readonly createdAt: number
  readonly readings: number
  readonly stage: Stage
  readonly epoch?: number
  readonly cid?: string
  /** every tx_IoT id built for it (hex), oldest first */
  readonly txids?: readonly string[]
}

/** A line of the lease stream (GET /v1/batches/lease). */
export type BatchLeaseLine =
  /** first: every open batch id (leased or not), so a client knows which of the batches it waits for left the store meanwhile */
  | { readonly open: readonly string[] }
  /** a batch leased to this stream: readings in wire form; sealed (base64), epoch and cid when done before */
  | { readonly batch: { readonly id: string, readonly reason: string, readonly readings: readonly SensorReading[], readonly sealed?: string, readonly epoch?: number, readonly cid?: string } }
  /** a batch whose tx_IoT is deep enough: it left the store */
  | { readonly confirmed: { readonly id: string, readonly txid: string } }

/**
 * The durable batches (ingest/batches.ts) for a batch node outside the hub:
 * the same store and leases the hub's own Node-RED takes its batches from
 * (nodered/wire.ts durableBatchStore), step by step.
 */
export interface BatchesService {
  list: () => Promise<{ readonly batches: readonly BatchView[] }>
  /** A lease stream: the open batch ids, then each batch leased to it and each confirmation; returns the function that ends the lease. */
  lease: (line: (l: BatchLeaseLine) => void) => () => void
  /** Closes the readings acknowledged so far into batches now. */
  close: () => Promise<{ readonly closed: number }>
  /** Records the sealed bytes; a batch sealed before answers its first bytes (base64). */
  sealed: (id: string, sealed: Uint8Array, epoch: number) => Promise<{ readonly sealed: string, readonly epoch: number }>
  uploaded: (id: string, cid: string) => Promise<{ readonly id: string, readonly cid: string }>
  /** Builds, persists and submits the batch's tx_IoT (the stored one if it has one): the acknowledgement that ends the lease. */
  record: (id: string, heiot: Uint8Array, epoch: number) => Promise<{ readonly id: string, readonly tx: string }>
  /** Resolves with the tx_IoT id once the batch is confirmed (it left the store). */
  confirmed: (id: string) => Promise<{ readonly id: string }>
}

export function batchesService (db: DurableBatches, store: BatchStore): BatchesService {
  return {
    list: async () => ({
      batches: (await db.open()).map(({ batch, state }) => ({
        id: batch.id,
        reason: batch.reason,
        createdAt: batch.createdAt,
        readings: batch.readings.length,
        stage: state.stage,
        ...(state.epoch === undefined ? {} : { epoch: state.epoch }),
        ...(state.cid === undefined ? {} : { cid: state.cid }),
        ...(state.txids === undefined ? {} : { txids: state.txids })
      }))
    }),
    lease: (line) => {
      let ended = false
      const onConfirmed = (c: { id: string, txid: string }): void => { line({ confirmed: { id: c.id, txid: c.txid } }) }
      // confirmations first, then the snapshot: a batch confirmed in between is in one or the other
      db.on('confirmed', onConfirmed)
      let off = (): void => {}
      void db.states().then((open) => {
        if (ended) return
        line({ open: open.map((o) => o.id) })
        off = store.subscribe((b) => {
          line({ batch: { id: b.id, reason: b.reason, readings: b.readings, ...(b.sealed === undefined ? {} : { sealed: Buffer.from(b.sealed).toString('base64'), epoch: b.epoch! }), ...(b.cid === undefined ? {} : { cid: b.cid }) } })
        })
      }, (err: Error) => { db.emit('error', err) })
      return () => { ended = true; db.off('confirmed', onConfirmed); off() }
    },
    close: async () => ({ closed: await store.close() }),
    sealed: async (id, sealed, epoch) => { const r = await store.sealed(id, sealed, epoch); return { sealed: Buffer.from(r.sealed).toString('base64'), epoch: r.epoch } },
    uploaded: async (id, cid) => { await store.uploaded(id, cid); return { id, cid } },
    record: async (id, heiot, epoch) => { const r = await store.record(id, heiot, epoch); return { id: r.id, tx: toHex(encodeTx(r.tx)) } },
    confirmed: async (id) => await store.confirmed(id)
  }
}
