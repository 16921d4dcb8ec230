/**
 * The runtime parts over the hub's real roles (DESIGN §8: node types are
 * thin adapters over roles/): the core user node's mempool and chain
 * (roles/core CoreNode), its PoW miner (roles/core Miner, Alg. 1), IPFS
 * upload with replication acks (ipfs/ uploadBatch, Alg. 2 lines 2–3), and
 * the verified device readings of the ingest pipeline (ingest/).
 */
import { fromHex, toHex, type Identity } from '../core/index.ts'
import type { UserKeys } from '../roles/user/keys.ts'
import type { EpochCommitter } from '../roles/user/commit.ts'
import type { CoreNode } from '../roles/core/node.ts'
import type { Miner } from '../roles/core/miner.ts'
import { uploadBatch, type IpfsNode, type PinningClient, type Provider, type UploadOptions } from '../ipfs/index.ts'
import { readingToWire, type Reading } from '../ingest/line.ts'
import type { Ingest, SubmitContext } from '../ingest/pipeline.ts'
import type { BatchChain, DurableBatches, OpenBatch } from '../ingest/batches.ts'
import { TxRejectedError } from './errors.ts'
import type { BatchStore, Confirmed, DurableBatch, HealthchainRuntime, IpfsStore, MinerControl, MinerStatus, ReadingsSource, TxSubmitter } from './runtime.ts'

/**
 * Submits to the core node's mempool. confirmed() resolves once a Ublock of
 * the best chain holds the transaction, and rejects if the mempool drops it
 * (evicted, invalidated by a reorg) — one 'tip' and one 'drop' listener for
 * all waiters.
 */
export function coreTxs (node: CoreNode): TxSubmitter {
  const waiters = new Map<string, Array<{ resolve: (c: Confirmed) => void, reject: (e: Error) => void }>>()
  const where = (id: string): Confirmed | undefined => {
    const loc = node.store.txLocation(fromHex('id', id))
    if (loc === undefined || !node.store.isOnMainChain(loc.block)) return undefined
    return { id, height: loc.height, block: toHex(loc.block) }
  }
  const settle = (id: string, fn: (w: { resolve: (c: Confirmed) => void, reject: (e: Error) => void }) => void): void => {
    const ws = waiters.get(id)
    if (ws === undefined) return
    waiters.delete(id)
    for (const w of ws) fn(w)
    if (waiters.size === 0) { node.off('tip', onTip); node.off('drop', onDrop) }
  }
  const onTip = (): void => {
    for (const id of [...waiters.keys()]) {
      const c = where(id)
      if (c !== undefined) settle(id, (w) => { w.resolve(c) })
    }
  }
  const onDrop = (d: { id: string, reason: string }): void => {
    if (node.store.isConfirmed(fromHex('id', d.id))) return // left the pool because a block took it
    settle(d.id, (w) => { w.reject(new TxRejectedError(d.id, 'ERR_TX_DROPPED', d.reason)) })
  }
  return {
    submit: async (tx) => {
      const out = await node.submitTx(tx)
      if (!out.accepted) throw new TxRejectedError(out.id, out.code, out.reason)
      return { id: out.id }
    },
    confirmed: async (id) => {
      const now = where(id)
      if (now !== undefined) return now
      return await new Promise<Confirmed>((resolve, reject) => {
        if (waiters.size === 0) { node.on('tip', onTip); node.on('drop', onDrop) }
        const ws = waiters.get(id) ?? []
        ws.push({ resolve, reject })
        waiters.set(id, ws)
      })
    }
  }
}

/** Start/stop/status of the core node's miner; status changes on every new tip and start/stop. */
export function coreMiner (node: CoreNode, miner: Miner): MinerControl {
  let running = false
  let mined = 0
  const watchers = new Set<(s: MinerStatus) => void>()
  const status = (): MinerStatus => ({ running, height: node.store.height, mined })
  const notify = (): void => { const s = status(); for (const w of watchers) w(s) }
  miner.on('mined', (out: { accepted?: boolean, status?: string }) => { if (out.accepted === true && out.status === 'connected') mined++ })
  node.on('tip', notify)
  return {
    start: () => { miner.start(); running = true; notify() },
    stop: async () => { await miner.stop(); running = false; notify() },
    status,
    watch: (cb) => { watchers.add(cb); return () => { watchers.delete(cb) } }
  }
}

/** IPFS over the node's Helia: upload waits for `replication` storage-node acks. */
export function ipfsStore (node: IpfsNode, opts: { storageNodes: Provider[] } & Omit<UploadOptions, 'storageNodes' | 'signal'>): IpfsStore {
  return {
    upload: async (bytes) => {
      const r = await uploadBatch(node, bytes, opts)
      return { cid: r.cid.toString(), acked: r.acked }
    },
    get: async (cid) => await node.get(cid, { providers: opts.storageNodes })
  }
}

/**
 * Verified readings from the hub's ingest pipeline (serial, MQTT, Firmata:
 * device auth, CRC, replay guard, durable write). `user` limits them to one
 * user's devices (a device's user as paired: any of the names given); lines
 * ingest dropped are reported to onError.
 */
export function ingestReadings (ingest: Ingest, user?: string | readonly string[]): ReadingsSource {
  const owners = user === undefined ? undefined : new Set(typeof user === 'string' ? [user] : user)
  return {
    subscribe: (onReading, onError) => {
      const reading = (r: Reading, owner: string): void => { if (owners === undefined || owners.has(owner)) onReading({ ...readingToWire(r), at: Date.now() }) }
      const dropped = (err: Error, ctx: SubmitContext): void => { onError(err, ctx.device === undefined ? undefined : `${ctx.source}:${ctx.device}`) }
      ingest.on('reading', reading)
      ingest.on('dropped', dropped)
      return () => { ingest.off('reading', reading); ingest.off('dropped', dropped) }
    }
  }
}

/** The durable batches' view of the core node: submit, depth on the best chain, mempool, tips. */
export function coreBatchChain (node: CoreNode): BatchChain {
  return {
    submit: async (tx) => await node.submitTx(tx),
    depth: (txid) => {
      const loc = node.store.txLocation(txid)
      return loc === undefined || !node.store.isOnMainChain(loc.block) ? undefined : node.store.height - loc.height + 1
    },
    pooled: (txid) => node.mempool.has(txid),
    now: () => node.now(),
    onTip: (cb) => { node.on('tip', cb); return () => { node.off('tip', cb) } }
  }
}

const durableBatch = ({ batch, state }: OpenBatch): DurableBatch => ({
  id: batch.id,
  readings: batch.readings.map((p) => ({ ...p.w, at: p.at })),
  reason: batch.reason,
  ...(state.sealed === undefined ? {} : { sealed: new Uint8Array(Buffer.from(state.sealed, 'base64')), epoch: state.epoch! }),
  ...(state.cid === undefined ? {} : { cid: state.cid })
})

/**
 * The batch node's view of the durable batches: every open batch at
 * subscribe time and each newly closed one; a batch not yet accepted that
 * made no progress for `retryMs` (storage nodes down, a refused tx_IoT) is
 * handed out again. Batches whose tx_IoT is accepted are the durable
 * store's own business (resubmitted and confirmed on each tip).
 */
export function durableBatchStore (db: DurableBatches, opts: { retryMs?: number } = {}): BatchStore {
  const retryMs = opts.retryMs ?? 15_000
  return {
    subscribe: (onBatch) => {
      const last = new Map<string, number>()
      const give = (o: OpenBatch): void => { last.set(o.batch.id, Date.now()); onBatch(durableBatch(o)) }
      const due = async (all: boolean): Promise<void> => {
        const seen = new Set<string>()
        for (const o of await db.open()) {
          seen.add(o.batch.id)
          if (o.state.stage === 'accepted') continue
          if (all || Date.now() - (last.get(o.batch.id) ?? 0) >= retryMs) give(o)
        }
        for (const id of last.keys()) if (!seen.has(id)) last.delete(id)
      }
      const onOpen = (o: OpenBatch): void => { give(o) }
      db.on('open', onOpen)
      void due(true).catch((e: Error) => db.emit('error', e))
      const timer = setInterval(() => { void due(false).catch((e: Error) => db.emit('error', e)) }, Math.max(100, Math.floor(retryMs / 2)))
      timer.unref()
      return () => { clearInterval(timer); db.off('open', onOpen) }
    },
    close: async () => await db.close(),
    sealed: async (id, sealed, epoch) => await db.sealed(id, sealed, epoch),
    uploaded: async (id, cid) => { await db.uploaded(id, cid) },
    record: async (id, heiot, epoch) => await db.record(id, heiot, epoch),
    confirmed: async (id) => ({ id: await db.whenConfirmed(id) })
  }
}

export interface HubParts {
  readonly identity: Identity
  readonly keys: UserKeys
  readonly core: CoreNode
  readonly miner: Miner
  readonly ipfs: IpfsNode
  readonly storageNodes: Provider[]
  /** Pinning Service API endpoints used as storage targets too (ipfs/pinning-client.ts). */
  readonly pinningServices?: PinningClient[]
  readonly replication?: number
  readonly ingest: Ingest
  /**
   * Only this user's devices (default: every reading the ingest accepts):
   * those paired with this name or with the identity's full hex ID, as
   * `healthchain devices add --user <ID>` pairs them.
   */
  readonly user?: string
  readonly rng: (n: number) => Uint8Array
  /** The hub's epoch committer: the keys node's changes go through it (one code path with the CLI and the page). */
  readonly epochs?: EpochCommitter
  /** The hub's durable batches (ingest/batches.ts): the shipped batch node takes its batches from them. */
  readonly batches?: DurableBatches
  /** How long a batch not yet accepted may make no progress before it is handed out again (ms). */
  readonly batchRetryMs?: number
}

/** The hub's runtime (user + core user roles) over its real parts, as injected under "hub". */
export function hubRuntime (p: HubParts): HealthchainRuntime {
  return {
    role: 'user',
    identity: p.identity,
    now: () => p.core.now(),
    rng: p.rng,
    keys: p.keys,
    readings: ingestReadings(p.ingest, p.user === undefined ? undefined : [p.user, toHex(p.identity.id)]),
    // signed: the consortium's storage nodes admit only established identities (DESIGN §6)
    ipfs: ipfsStore(p.ipfs, { storageNodes: p.storageNodes, signer: p.identity, ...(p.pinningServices === undefined ? {} : { pinningServices: p.pinningServices }), ...(p.replication === undefined ? {} : { replication: p.replication }) }),
    txs: coreTxs(p.core),
    miner: coreMiner(p.core, p.miner),
    ...(p.epochs === undefined ? {} : { epochs: p.epochs }),
    ...(p.batches === undefined ? {} : { batches: durableBatchStore(p.batches, p.batchRetryMs === undefined ? {} : { retryMs: p.batchRetryMs }) })
  }
}
