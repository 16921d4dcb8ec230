/**
 * The Healthchain runtime of a Node-RED that is not the hub's own: every
 * part reaches the hub through its control API (hub/src/api, a Unix socket
 * or loopback URL plus the cookie from the hub's data dir). Keys and the
 * identity stay in the hub: sealing and signing tx_IoT are API calls
 * (nodered/seal.ts runs there), so `identity` here carries only the ID.
 * Key epochs change and diagnoses are opened in the hub too (its key service,
 * its Docchain follower). Readings and diagnoses arrive on newline-delimited
 * JSON streams, reopened when they break (the hub restarted: the cookie is
 * read again). The batch node takes its batches from the hub's durable
 * store over a lease stream (remoteBatchStore), as the hub's own does.
 */
import { randomBytes } from 'node:crypto'
import { decodeTx, encodeTx, fromHex, toHex, type Identity, type TxDiag, type TxIoT } from '../core/index.ts'
import { ApiClient, type ApiTarget } from '../api/client.ts'
import { asReading } from './batcher.ts'
import { BadMessageError } from './errors.ts'
import type { BatchStore, DurableBatch, HealthchainRuntime, MinerStatus, PublishedEpoch, SensorReading } from './runtime.ts'

export interface RemoteOptions {
  /** Reads the target afresh (the cookie is rewritten at every hub start). */
  readonly target: () => ApiTarget
  /** The user's ID (hex); default: asked from the hub (GET /v1/status) at once. */
  readonly user?: string
  /** Delay before reopening a broken readings stream (ms). */
  readonly retryMs?: number
}

export function remoteRuntime (o: RemoteOptions): HealthchainRuntime & { close: () => void } {
  let client = new ApiClient(o.target(), { maxSockets: 16 })
  const call = async <T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> => {
    try { return await client.call<T>(method, path, body) } catch (err) {
      if ((err as { status?: number }).status !== 401) throw err
      // the hub restarted since: its new cookie
      client.close()
      client = new ApiClient(o.target(), { maxSockets: 16 })
      return await client.call<T>(method, path, body)
    }
  }
  const id = o.user === undefined ? new Uint8Array(32) : fromHex('user', o.user)
  if (o.user === undefined) void call<{ user: string }>('GET', '/v1/status').then((st) => { id.set(fromHex('user', st.user)) }, () => {})
  const noKey = (): never => { throw new Error('the identity\'s keys stay in the hub: sign through its control API') }
  const identity = { id, get signing () { return noKey() }, get agreement () { return noKey() } } as unknown as Identity
  let miner: MinerStatus = { running: false, height: 0, mined: 0 }
  const minerCall = async (path: string): Promise<void> => {
    const s = await call<{ mining: boolean, height?: number, mined?: number }>(path === '' ? 'GET' : 'POST', `/v1/miner${path}`, path === '' ? undefined : {})
    miner = { running: s.mining, height: s.height ?? miner.height, mined: s.mined ?? miner.mined }
  }
  const streams = new Set<() => void>()
  /** Follows an NDJSON stream of the hub, reopened (with the cookie read again) whenever it breaks; returns its end. */
  const follow = (path: string, onLine: (j: unknown) => void): () => void => {
    let stopped = false
    let end: (() => void) | null = null
    const open = (): void => {
      if (stopped) return
      end = client.stream(path, onLine, () => {
        if (stopped) return
        // the hub went away or restarted: reopen with its current cookie
        setTimeout(() => { client.close(); client = new ApiClient(o.target(), { maxSockets: 16 }); open() }, o.retryMs ?? 2000).unref()
      })
    }
    open()
    const off = (): void => { stopped = true; end?.(); streams.delete(off) }
    streams.add(off)
    return off
  }
  const batches = remoteBatchStore(call, follow)
  const epoch = (e: { epoch: number, tx: string, doctors: readonly string[] }): PublishedEpoch => ({ epoch: e.epoch, tx: e.tx, doctors: e.doctors })
  return {
    role: 'user',
    identity,
    now: () => Math.floor(Date.now() / 1000),
    rng: (n) => new Uint8Array(randomBytes(n)),
    readings: {
      subscribe: (onReading, onError) => follow('/v1/readings', (j) => {
        const x = j as { error?: string, raw?: string }
        if (typeof x.error === 'string') { onError(new Error(x.error), x.raw); return }
        let r: SensorReading
        try { r = asReading(j) } catch (err) { onError(err as Error); return }
        onReading(r)
      })
    },
    keyEpochs: {
      grant: async (doctor, scope) => epoch(await call('POST', '/v1/keys/grant', { doctor, ...(scope === undefined ? {} : { scope }) })),
      revoke: async (doctor) => epoch(await call('POST', '/v1/keys/revoke', { doctor })),
      rotate: async () => epoch(await call('POST', '/v1/keys/rotate', {})),
      doctors: async () => await call('GET', '/v1/keys/doctors')
    },
    // the tx_diag the hub's Docchain follower verified; the hub opens them (dk_ij stays there)
    diagnoses: {
      subscribe: (onDiagnosis) => follow('/v1/diagnoses/events', (j) => {
        const x = j as { tx: string, epoch: number }
        onDiagnosis({ tx: decodeTx(fromHex('tx', x.tx)) as TxDiag, epoch: x.epoch })
      })
    },
    diagnosisReader: {
      open: async (e) => await call('POST', '/v1/diagnoses/open', { tx: toHex(encodeTx(e.tx)), epoch: e.epoch })
    },
    ipfs: {
      upload: async (bytes) => await call('POST', '/v1/ipfs/upload', { bytes: Buffer.from(bytes).toString('base64') }),
      get: async () => { throw new Error('reading IPFS through the control API is not offered') }
    },
    txs: {
      submit: async () => { throw new Error('transactions are signed in the hub: use the tx iot node') },
      confirmed: async (txid) => await call('GET', `/v1/txs/${txid}/confirmed`)
    },
    sealer: {
      seal: async (readings) => {
        const r = await call<{ sealed: string, epoch: number }>('POST', '/v1/pipeline/seal', { readings })
        return { sealed: new Uint8Array(Buffer.from(r.sealed, 'base64')), epoch: r.epoch }
      }
    },
    recorder: {
      record: async (heiot, epoch) => {
        const r = await call<{ id: string, tx: string }>('POST', '/v1/pipeline/tx-iot', { heiot: toHex(heiot), epoch })
        return { id: r.id, tx: decodeTx(fromHex('tx', r.tx)) as TxIoT }
      }
    },
    batches,
    miner: {
      start: async () => { await minerCall('/start') },
      stop: async () => { await minerCall('/stop') },
      status: () => { void minerCall('').catch(() => {}); return miner }
    },
    close: () => { for (const off of [...streams]) off(); client.close() }
  }
}

type Call = <T>(method: 'GET' | 'POST', path: string, body?: unknown) => Promise<T>
type Follow = (path: string, onLine: (j: unknown) => void) => () => void

const BATCH_ID = /^batch![^!/]{1,128}![0-9a-f]{16}$/

/** A batch line of the lease stream, checked (it came over a socket). */
function leasedBatch (x: unknown): DurableBatch {
  const b = x as { id?: unknown, reason?: unknown, readings?: unknown, sealed?: unknown, epoch?: unknown, cid?: unknown }
  if (typeof b?.id !== 'string' || !BATCH_ID.test(b.id)) throw new BadMessageError('batch.id', 'the hub sent a batch without a valid id')
  if (!Array.isArray(b.readings)) throw new BadMessageError('batch.readings', 'the hub sent a batch without readings')
  const sealed = typeof b.sealed === 'string' ? new Uint8Array(Buffer.from(b.sealed, 'base64')) : undefined
  if (sealed !== undefined && (!Number.isSafeInteger(b.epoch) || (b.epoch as number) < 1)) throw new BadMessageError('batch.epoch', 'a sealed batch needs its key epoch')
  return {
    id: b.id,
    reason: typeof b.reason === 'string' ? b.reason : 'manual',
    readings: b.readings.map((r, i) => asReading(r, `batch.readings[${i}]`)),
    ...(sealed === undefined ? {} : { sealed, epoch: b.epoch as number }),
    ...(typeof b.cid === 'string' ? { cid: b.cid } : {})
  }
}

/**
 * The hub's durable batches over its control API (GET /v1/batches/lease and
 * the step routes): one lease stream while a batch node subscribes, which
 * also carries the confirmations (listed with GET /v1/batches when no stream
 * is open). A Node-RED that stops or crashes closes its
 * stream, and the hub hands the batches it held to the next lease — this
 * one after a restart — with what was done for them (a sealed batch comes
 * back with its sealed bytes: uploaded again it keeps its CID). Each step is
 * idempotent in the hub, so a step repeated after a crash changes nothing.
 */
export function remoteBatchStore (call: Call, follow: Follow, opts: { pollMs?: number } = {}): BatchStore {
  const subs: Array<(b: DurableBatch) => void> = []
  let turn = 0
  const waiters = new Map<string, Array<(txid: string) => void>>()
  /** batches confirmed lately (id → tx_IoT id), for a waiter that comes after the news */
  const done = new Map<string, string>()
  let end: (() => void) | null = null
  let poll: NodeJS.Timeout | undefined
  const confirm = (id: string, txid: string): void => {
    done.set(id, txid)
    if (done.size > 4096) done.delete(done.keys().next().value!)
    for (const w of waiters.get(id) ?? []) w(txid)
    waiters.delete(id)
    if (waiters.size === 0) { clearInterval(poll); poll = undefined }
  }
  /** The batches waited for that are no longer open were confirmed (they leave the store only then). */
  const gone = (open: ReadonlySet<unknown>): void => { for (const id of [...waiters.keys()]) if (!open.has(id)) confirm(id, '') }
  const check = async (): Promise<void> => {
    const listed = await call<{ batches: Array<{ id: string }> }>('GET', '/v1/batches').catch(() => null)
    if (listed !== null) gone(new Set(listed.batches.map((b) => b.id)))
  }
  const onLine = (j: unknown): void => {
    const x = j as { open?: unknown, confirmed?: { id?: unknown, txid?: unknown }, batch?: unknown }
    if (Array.isArray(x.open)) gone(new Set(x.open))
    else if (x.confirmed !== undefined && typeof x.confirmed.id === 'string') confirm(x.confirmed.id, typeof x.confirmed.txid === 'string' ? x.confirmed.txid : '')
    else if (x.batch !== undefined && subs.length > 0) subs[turn++ % subs.length]!(leasedBatch(x.batch))
  }
  const at = (id: string, step: string): string => `/v1/batches/${encodeURIComponent(id)}/${step}`
  return {
    // the lease stream is open while a batch node subscribes: the hub leases batches only to a consumer that takes them
    subscribe: (onBatch) => {
      subs.push(onBatch)
      if (end === null) end = follow('/v1/batches/lease', onLine)
      return () => {
        const i = subs.indexOf(onBatch)
        if (i >= 0) subs.splice(i, 1)
        if (subs.length === 0 && end !== null) { end(); end = null }
      }
    },
    close: async () => (await call<{ closed: number }>('POST', '/v1/batches/close', {})).closed,
    sealed: async (id, sealed, epoch) => {
      const r = await call<{ sealed: string, epoch: number }>('POST', at(id, 'sealed'), { sealed: Buffer.from(sealed).toString('base64'), epoch })
      return { sealed: new Uint8Array(Buffer.from(r.sealed, 'base64')), epoch: r.epoch }
    },
    uploaded: async (id, cid) => { await call('POST', at(id, 'uploaded'), { cid }) },
    record: async (id, heiot, epoch) => {
      const r = await call<{ id: string, tx: string }>('POST', at(id, 'record'), { heiot: toHex(heiot), epoch })
      return { id: r.id, tx: decodeTx(fromHex('tx', r.tx)) as TxIoT }
    },
    // confirmations arrive on the lease stream; without one (or besides it, for one confirmed before the wait began) the open batches are listed
    confirmed: async (id) => {
      const known = done.get(id)
      if (known !== undefined) return { id: known }
      const p = new Promise<{ id: string }>((resolve) => {
        const ws = waiters.get(id) ?? []
        ws.push((txid) => { resolve({ id: txid }) })
        waiters.set(id, ws)
      })
      await check()
      if (waiters.size > 0 && poll === undefined) {
        poll = setInterval(() => { if (end === null) void check() }, opts.pollMs ?? 5000)
        poll.unref()
      }
      return await p
    }
  }
}
