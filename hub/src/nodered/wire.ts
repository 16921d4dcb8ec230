/**
 * The runtime parts over the hub's real roles (DESIGN §8: node types are
 * thin adapters over roles/): the core user node's mempool and chain
 * (roles/core CoreNode), its PoW miner (roles/core Miner, Alg. 1), IPFS
 * upload with replication acks (ipfs/ uploadBatch, Alg. 2 lines 2–3), and
 * the verified device readings of the ingest pipeline (ingest/).
 */
import { cidStringFromDigest, digestFromCidString, fromHex, sha256, toHex, type Identity } from '../core/index.ts'
import type { UserKeys } from '../roles/user/keys.ts'
import type { EpochCommitter } from '../roles/user/commit.ts'
import type { CoreNode } from '../roles/core/node.ts'
import type { Miner } from '../roles/core/miner.ts'
import { uploadBatch, type IpfsNode, type PinningClient, type Provider, type UploadOptions } from '../ipfs/index.ts'
import type { Reading } from '../ingest/line.ts'
import type { Ingest, SubmitContext } from '../ingest/pipeline.ts'
import type { BatchChain, BatchState, DurableBatches, OpenBatch } from '../ingest/batches.ts'
import type { PendingReading } from '../ingest/store.ts'
import { BatchMismatchError, TxRejectedError } from './errors.ts'
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
      // the wire form ingest made and stored, and its receive time
      const reading = (_r: Reading, owner: string, p: PendingReading): void => { if (owners === undefined || owners.has(owner)) onReading({ ...p.w, at: p.at }) }
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

/** A durable batch as the batch node takes it: readings in wire form, and what is already done for it. */
export const durableBatch = ({ batch, state }: OpenBatch): DurableBatch => ({
  id: batch.id,
  readings: batch.readings.map((p) => ({ ...p.w, at: p.at })),
  reason: batch.reason,
  ...(state.sealed === undefined ? {} : { sealed: new Uint8Array(Buffer.from(state.sealed, 'base64')), epoch: state.epoch! }),
  ...(state.cid === undefined ? {} : { cid: state.cid })
})

/**
 * The batch nodes' view of the durable batches, with leases (DESIGN §7):
 * each batch not yet accepted is handed to one subscriber at a time — a
 * batch node in the hub's Node-RED, or one in another Node-RED holding a
 * lease stream of the control API — and is that subscriber's until its
 * tx_IoT is accepted (the acknowledgement: from then on the durable store
 * resubmits and confirms it on its own), until it makes no progress for
 * `retryMs` (storage nodes down, a refused tx_IoT: it is handed out again,
 * to the next subscriber in turn), or until the subscriber leaves (a
 * Node-RED that stopped or crashed: its batches go to the others at once,
 * or to the next one to subscribe). Leases decide who is offered the work,
 * not whether a step is allowed: every step is idempotent (a batch sealed
 * before keeps its first bytes, recorded before its stored tx_IoT), so a
 * consumer that lost its lease and carries on does no harm.
 */
export function durableBatchStore (db: DurableBatches, opts: { retryMs?: number } = {}): BatchStore {
  const retryMs = opts.retryMs ?? 15_000
  interface Sub { readonly onBatch: (b: DurableBatch) => void }
  const subs: Sub[] = []
  /** batch id → the subscriber holding it, and when it last made progress */
  const held = new Map<string, { sub: Sub, at: number }>()
  let turn = 0
  let timer: NodeJS.Timeout | undefined
  /** batch id → the CID of its stored sealed bytes, and the CID recorded for it (what each later step must name) */
  const names = new Map<string, { sealed?: string, uploaded?: string }>()
  const note = (id: string, state: BatchState): void => {
    names.set(id, { ...(state.sealed === undefined ? {} : { sealed: cidStringFromDigest(sha256(Buffer.from(state.sealed, 'base64'))) }), ...(state.cid === undefined ? {} : { uploaded: state.cid }) })
  }
  /** What the batch's stored state says its data is (read from the store when this process has not seen it yet). */
  const named = async (id: string): Promise<{ sealed?: string, uploaded?: string }> => {
    const known = names.get(id)
    if (known !== undefined) return known
    const state = await db.stateOf(id, { sealed: true })
    if (state !== undefined) note(id, state)
    return names.get(id) ?? {}
  }
  const give = (o: OpenBatch, to?: Sub): void => {
    const sub = to ?? subs[turn++ % subs.length]
    if (sub === undefined) return
    held.set(o.batch.id, { sub, at: Date.now() })
    note(o.batch.id, o.state)
    sub.onBatch(durableBatch(o))
  }
  const renew = (id: string): void => { const l = held.get(id); if (l !== undefined) l.at = Date.now() }
  /** Whether the batch is to be handed out: 'free' (no live holder), 'lapsed' (its holder made no progress for retryMs), else null. */
  const due = (id: string): 'free' | 'lapsed' | null => {
    const l = held.get(id)
    if (l === undefined || !subs.includes(l.sub)) return 'free'
    return Date.now() - l.at >= retryMs ? 'lapsed' : null
  }
  /** Hands out every batch no live lease holds (to `to`, a new subscriber, else in turn); forgets confirmed ones. */
  const sweep = async (to?: Sub): Promise<void> => {
    const seen = new Set<string>()
    // states only: a batch's readings are opened (sealed at rest) when it is handed out, not on every sweep
    for (const { id, state } of await db.states()) {
      seen.add(id)
      if (state.stage === 'accepted') { held.delete(id); continue }
      const l = held.get(id)
      if (due(id) === null) continue
      const o = await db.get(id)
      // another sweep (a second subscriber's, the timer's) or a closing batch may have handed it out while this one read it
      const now = due(id)
      if (o === undefined || held.get(id) !== l || now === null) continue
      give(o, now === 'free' ? to : undefined)
    }
    for (const id of held.keys()) if (!seen.has(id)) held.delete(id)
    for (const id of names.keys()) if (!seen.has(id)) names.delete(id)
  }
  const failed = (e: Error): void => { db.emit('error', e) }
  const onOpen = (o: OpenBatch): void => { if (due(o.batch.id) !== null) give(o) }
  return {
    subscribe: (onBatch) => {
      const sub: Sub = { onBatch }
      subs.push(sub)
      if (subs.length === 1) {
        db.on('open', onOpen)
        timer = setInterval(() => { void sweep().catch(failed) }, Math.max(100, Math.floor(retryMs / 2)))
        timer.unref()
      }
      void sweep(sub).catch(failed)
      return () => {
        const i = subs.indexOf(sub)
        if (i < 0) return
        subs.splice(i, 1)
        for (const [id, l] of held) if (l.sub === sub) held.delete(id)
        if (subs.length === 0) { clearInterval(timer); db.off('open', onOpen); return }
        // what it held goes to the others at once
        void sweep().catch(failed)
      }
    },
    close: async () => await db.close(),
    sealed: async (id, sealed, epoch) => {
      renew(id)
      const r = await db.sealed(id, sealed, epoch)
      names.set(id, { ...names.get(id), sealed: cidStringFromDigest(sha256(r.sealed)) })
      renew(id)
      return r
    },
    // each step must name the batch's own data: a CID other than its sealed bytes', or a tx_IoT naming another CID, would confirm a batch whose readings no key opens
    uploaded: async (id, cid) => {
      renew(id)
      const want = (await named(id)).sealed
      if (want !== undefined && want !== cid) throw new BatchMismatchError(id, 'cid', `${cid} is not the CID of its sealed bytes (${want}): upload the sealed bytes as they are`)
      await db.uploaded(id, cid)
      names.set(id, { ...names.get(id), uploaded: cid })
      renew(id)
    },
    record: async (id, heiot, epoch) => {
      renew(id)
      const cid = (await named(id)).uploaded
      if (cid !== undefined && toHex(digestFromCidString(cid)) !== toHex(heiot)) throw new BatchMismatchError(id, 'heiot', `${toHex(heiot)} is not the digest of its uploaded CID ${cid}`)
      const r = await db.record(id, heiot, epoch)
      // accepted: the acknowledgement — the lease ends, the durable store carries the batch on
      held.delete(id)
      return r
    },
    confirmed: async (id) => ({ id: await db.whenConfirmed(id) })
  }
}

export interface HubParts {
  readonly identity: Identity
  readonly keys: UserKeys
  /** A core user node and its miner … */
  readonly core?: CoreNode
  readonly miner?: Miner
  /** … or, on a light user node (no mempool, never mines), its submitter, miner control and clock. */
  readonly chain?: { readonly txs: TxSubmitter, readonly miner: MinerControl, readonly now: () => number }
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

function coreParts (p: HubParts): NonNullable<HubParts['chain']> {
  if (p.core === undefined || p.miner === undefined) throw new TypeError('hubRuntime: give a core node and its miner, or a chain')
  const core = p.core
  return { txs: coreTxs(core), miner: coreMiner(core, p.miner), now: () => core.now() }
}

/** The hub's runtime (user + core user roles) over its real parts, as injected under "hub". */
export function hubRuntime (p: HubParts): HealthchainRuntime {
  const chain = p.chain ?? coreParts(p)
  return {
    role: 'user',
    identity: p.identity,
    now: chain.now,
    rng: p.rng,
    keys: p.keys,
    readings: ingestReadings(p.ingest, p.user === undefined ? undefined : [p.user, toHex(p.identity.id)]),
    // signed: the consortium's storage nodes admit only established identities (DESIGN §6)
    ipfs: ipfsStore(p.ipfs, { storageNodes: p.storageNodes, signer: p.identity, ...(p.pinningServices === undefined ? {} : { pinningServices: p.pinningServices }), ...(p.replication === undefined ? {} : { replication: p.replication }) }),
    txs: chain.txs,
    miner: chain.miner,
    ...(p.epochs === undefined ? {} : { epochs: p.epochs }),
    ...(p.batches === undefined ? {} : { batches: durableBatchStore(p.batches, p.batchRetryMs === undefined ? {} : { retryMs: p.batchRetryMs }) })
  }
}
