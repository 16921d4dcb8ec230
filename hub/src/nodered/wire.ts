/**
 * The runtime parts over the hub's real roles (DESIGN §8: node types are
 * thin adapters over roles/): the core user node's mempool and chain
 * (roles/core CoreNode), its PoW miner (roles/core Miner, Alg. 1), IPFS
 * upload with replication acks (ipfs/ uploadBatch, Alg. 2 lines 2–3), and
 * the verified device readings of the ingest pipeline (ingest/).
 */
import { fromHex, toHex, type Identity } from '../core/index.ts'
import type { UserKeys } from '../roles/user/keys.ts'
import type { CoreNode } from '../roles/core/node.ts'
import type { Miner } from '../roles/core/miner.ts'
import { uploadBatch, type IpfsNode, type PinningClient, type Provider, type UploadOptions } from '../ipfs/index.ts'
import { readingToWire, type Reading } from '../ingest/line.ts'
import type { Ingest, SubmitContext } from '../ingest/pipeline.ts'
import { TxRejectedError } from './errors.ts'
import type { Confirmed, HealthchainRuntime, IpfsStore, MinerControl, MinerStatus, ReadingsSource, TxSubmitter } from './runtime.ts'

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
    miner: coreMiner(p.core, p.miner)
  }
}
