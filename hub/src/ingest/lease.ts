/**
 * Durable batch lease / acknowledge over the ingest store (DESIGN §7): a
 * consumer — the batch node in the hub's Node-RED, or in a Node-RED
 * reaching the hub through the control API — leases closed batches, seals,
 * uploads and records them, then acknowledges each; only an acknowledged
 * batch is deleted from the store. A lease that is not acknowledged in
 * time (a consumer that crashed, a flow redeployed) expires and its batches
 * are offered again, and a hub restart forgets every lease: nothing the
 * ingest store acknowledged to a device is lost, at the price of a batch
 * possibly being sealed twice.
 *
 * This module is the one place that knows how batches are kept
 * (Ingest.batches()/deleteBatch()): a different batch state machine in the
 * ingest store changes only these two calls.
 */
import { randomBytes } from 'node:crypto'
import { HealthchainError } from '../core/index.ts'
import type { Ingest } from './pipeline.ts'
import type { BatchRecord } from './store.ts'

export class UnknownLeaseError extends HealthchainError {
  constructor (lease: string) { super('ERR_UNKNOWN_LEASE', 'lease', `no lease ${lease} (expired, or the hub restarted: lease the batches again)`) }
}

export class NotLeasedError extends HealthchainError {
  constructor (id: string) { super('ERR_NOT_LEASED', 'ids', `batch ${id} is not held by this lease`) }
}

export interface Lease {
  readonly lease: string
  /** ms since 1970 when the lease ends unless acknowledged */
  readonly until: number
  readonly batches: readonly BatchRecord[]
}

export interface BatchLeases {
  /** Up to `max` closed batches (oldest first; optionally one user's) no other live lease holds. */
  lease: (p?: { readonly user?: string, readonly max?: number, readonly leaseMs?: number }) => Promise<Lease>
  /** Deletes the acknowledged batches from the store; the lease ends when every batch is acknowledged. */
  ack: (p: { readonly lease: string, readonly ids: readonly string[] }) => Promise<{ readonly acked: number, readonly remaining: number }>
  /** Gives a lease's batches back at once (the consumer could not process them). */
  release: (lease: string) => Promise<{ readonly released: number }>
  /** Batches currently leased. */
  leased: () => number
}

export function batchLeases (ingest: Pick<Ingest, 'batches' | 'deleteBatch'>, opts: { now?: () => number, defaultLeaseMs?: number } = {}): BatchLeases {
  const now = opts.now ?? Date.now
  const live = new Map<string, { until: number, ids: Set<string> }>()
  const held = (): Set<string> => {
    const t = now()
    const out = new Set<string>()
    for (const [k, l] of live) { if (l.until <= t) live.delete(k); else for (const id of l.ids) out.add(id) }
    return out
  }
  const get = (lease: string): { until: number, ids: Set<string> } => {
    held()
    const l = live.get(lease)
    if (l === undefined) throw new UnknownLeaseError(lease)
    return l
  }
  return {
    lease: async (p = {}) => {
      const taken = held()
      const free = (await ingest.batches(p.user)).filter((b) => !taken.has(b.id)).slice(0, p.max ?? 16)
      const lease = randomBytes(12).toString('hex')
      const until = now() + (p.leaseMs ?? opts.defaultLeaseMs ?? 120_000)
      if (free.length > 0) live.set(lease, { until, ids: new Set(free.map((b) => b.id)) })
      return { lease, until, batches: free }
    },
    ack: async ({ lease, ids }) => {
      const l = get(lease)
      for (const id of ids) if (!l.ids.has(id)) throw new NotLeasedError(id)
      for (const id of ids) { await ingest.deleteBatch(id); l.ids.delete(id) }
      if (l.ids.size === 0) live.delete(lease)
      return { acked: ids.length, remaining: l.ids.size }
    },
    release: async (lease) => {
      const l = get(lease)
      live.delete(lease)
      return { released: l.ids.size }
    },
    leased: () => held().size
  }
}
