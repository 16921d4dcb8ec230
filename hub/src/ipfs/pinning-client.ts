/**
 * A client of any IPFS Pinning Service API endpoint (spec v1.0.0; DESIGN §6):
 * our storage nodes' (app/pinning-api.ts), an IPFS Cluster's pinning service
 * or a commercial one. The hub uses it as a storage target beside the
 * consortium's nodes (uploadBatch `pinningServices`): it asks the service to
 * pin a CID with the hub's own multiaddrs as `origins`, and waits until the
 * service reports it `pinned`.
 *
 * Authentication: the service's own bearer token when one is given, else a
 * fresh identity token (ipfs/pinning.ts) signed by the hub's user for each
 * request, which our storage nodes accept from an established identity.
 */
import type { Identity } from '../core/index.ts'
import { PinFailedError, PinningServiceError, StoreTimeoutError } from './errors.ts'
import { identityToken, type Failure, type Pin, type PinResults, type PinState, type PinStatus } from './pinning.ts'

export interface PinningClientOptions {
  /** The API's base URL (the spec's server), e.g. `https://pinning.example/psa`; `/pins` is appended. */
  readonly endpoint: string
  /** The service's bearer token. */
  readonly token?: string
  /** Without a token: the identity that signs an identity token per request. */
  readonly identity?: Identity
  /** The fetch to use (default the global one). */
  readonly fetch?: typeof fetch
  /** Per-request timeout (default 10 s). */
  readonly timeoutMs?: number
}

export interface ListPinsQuery {
  cid?: string[]
  name?: string
  match?: 'exact' | 'iexact' | 'partial' | 'ipartial'
  status?: PinState[]
  before?: string
  after?: string
  limit?: number
  meta?: Record<string, string>
}

export class PinningClient {
  readonly endpoint: string
  private readonly o: PinningClientOptions
  private readonly fetch: typeof fetch

  constructor (o: PinningClientOptions) {
    if (o.token === undefined && o.identity === undefined) throw new TypeError('a pinning client needs a token or an identity')
    this.o = o
    this.endpoint = o.endpoint.replace(/\/+$/, '')
    this.fetch = o.fetch ?? globalThis.fetch
  }

  /** Spec `addPin`: POST /pins. */
  async add (pin: Pin, signal?: AbortSignal): Promise<PinStatus> { return await this.call('POST', '/pins', pin, signal) as PinStatus }
  /** Spec `getPinByRequestId`. */
  async status (requestid: string, signal?: AbortSignal): Promise<PinStatus> { return await this.call('GET', `/pins/${encodeURIComponent(requestid)}`, undefined, signal) as PinStatus }
  /** Spec `replacePinByRequestId`. */
  async replace (requestid: string, pin: Pin, signal?: AbortSignal): Promise<PinStatus> { return await this.call('POST', `/pins/${encodeURIComponent(requestid)}`, pin, signal) as PinStatus }
  /** Spec `deletePinByRequestId`. */
  async remove (requestid: string, signal?: AbortSignal): Promise<void> { await this.call('DELETE', `/pins/${encodeURIComponent(requestid)}`, undefined, signal) }
  /** Spec `getPins` (arrays comma-separated, `meta` as JSON, as the spec's styles say). */
  async list (q: ListPinsQuery = {}, signal?: AbortSignal): Promise<PinResults> {
    const p = new URLSearchParams()
    for (const [k, v] of Object.entries(q) as Array<[string, unknown]>) {
      if (v === undefined) continue
      p.set(k, Array.isArray(v) ? v.join(',') : typeof v === 'object' ? JSON.stringify(v) : String(v))
    }
    const qs = p.toString()
    return await this.call('GET', `/pins${qs === '' ? '' : `?${qs}`}`, undefined, signal) as PinResults
  }

  /**
   * Adds the pin, then polls its status until `pinned`; a `failed` status is
   * a PinFailedError, and no answer within `timeoutMs` a StoreTimeoutError.
   */
  async pinAndWait (pin: Pin, opts: { pollMs?: number, timeoutMs?: number, signal?: AbortSignal } = {}): Promise<PinStatus> {
    const timeoutMs = opts.timeoutMs ?? 60_000
    const end = Date.now() + timeoutMs
    let st = await this.add(pin, opts.signal)
    let poll = opts.pollMs ?? 100
    while (st.status !== 'pinned') {
      if (st.status === 'failed') throw new PinFailedError(this.endpoint, pin.cid, st.requestid, st.info?.status_details)
      if (Date.now() > end) throw new StoreTimeoutError(`pin ${pin.cid} at ${this.endpoint}`, timeoutMs)
      await new Promise((resolve) => setTimeout(resolve, poll))
      opts.signal?.throwIfAborted()
      poll = Math.min(poll * 2, 2_000)
      st = await this.status(st.requestid, opts.signal)
    }
    return st
  }

  private async call (method: string, path: string, body: unknown, signal?: AbortSignal): Promise<unknown> {
    const token = this.o.token ?? identityToken(this.o.identity!, Math.floor(Date.now() / 1000))
    const timeout = AbortSignal.timeout(this.o.timeoutMs ?? 10_000)
    const res = await this.fetch(this.endpoint + path, {
      method,
      headers: { authorization: `Bearer ${token}`, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: signal === undefined ? timeout : AbortSignal.any([timeout, signal])
    })
    const text = await res.text()
    if (res.status >= 200 && res.status < 300) return text === '' ? undefined : JSON.parse(text) as unknown
    let f: Failure | undefined
    try { f = JSON.parse(text) as Failure } catch { f = undefined }
    throw new PinningServiceError(this.endpoint, res.status, f?.error?.reason ?? 'UNKNOWN', f?.error?.details ?? (f === undefined ? text.slice(0, 200) : undefined))
  }
}
