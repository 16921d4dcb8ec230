/**
 * The storage daemon's IPFS Pinning Service API (spec v1.0.0, OpenAPI 3.0.3;
 * DESIGN §6): `GET/POST /pins`, `GET/POST/DELETE /pins/{requestid}`, over
 * HTTP or HTTPS (config `pinningApi`), on the daemon's storage node role.
 *
 * Who may pin (spec `securitySchemes.accessToken`, a bearer token):
 * - a user or doctor with an identity token (ipfs/pinning.ts), admitted as a
 *   signed upload is (roles/storage/admission.ts): the block is fetched from
 *   the pin's `origins` (then the replicas) and held unconfirmed, under the
 *   identity's quota, until a transaction names it — or pruned;
 * - an operator (another consortium node, an IPFS Cluster) with a static
 *   token whose SHA-256 is in the config: pinned for good.
 * Each principal sees and changes only its own pin requests. A pin that was
 * pruned reads back as `failed`. Requests are kept in LevelDB
 * (`dataDir/pinning`), so they survive a restart.
 *
 * Request bodies are bounded (64 KiB) and validated (zod) before anything
 * else; a CID other than CIDv1 raw sha2-256 (the only kind Healthchain
 * stores) is a 400.
 */
import { createServer as createHttp, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttps } from 'node:https'
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { multiaddr } from '@multiformats/multiaddr'
import { sha256, toHex, utf8Bytes } from '../core/index.ts'
import { digestOfCid } from '../ipfs/cid.ts'
import { UploadRefusedError } from '../ipfs/errors.ts'
import { ListQuery, PinBody, verifyIdentityToken, type Failure, type Pin, type PinResults, type PinState, type PinStatus } from '../ipfs/pinning.ts'
import { providerPeerId } from '../ipfs/node.ts'
import { firstIssue, type z } from '../config/schema.ts'
import type { EstablishedAs } from '../roles/storage/admission.ts'
import type { StorageNode } from '../roles/storage/storage-node.ts'

const MAX_BODY_BYTES = 64 * 1024
/** Pins fetched at once; the rest wait as `queued`. */
const CONCURRENT_PINS = 4

export interface PinningApiOptions {
  readonly node: StorageNode
  /** Where pin requests are kept (a LevelDB). */
  readonly dataDir: string
  readonly host: string
  readonly port: number
  /** Operators' static tokens: SHA-256 hex → name. */
  readonly tokens: ReadonlyArray<{ readonly name: string, readonly sha256: string }>
  readonly tls?: { readonly cert: string, readonly key: string }
  /** How an identity is established on chain (the storage daemon's admission rule). */
  readonly established: (id: Uint8Array) => EstablishedAs | null
  readonly maxSkewSeconds: number
  /** When an unconfirmed pin is pruned, seconds after it is held (shown in `info`). */
  readonly deadlineSeconds: number
  readonly log?: (line: string) => void
}

export interface PinningApi {
  /** The base URL (`http(s)://host:port`); a pinning client's endpoint. */
  readonly url: string
  close(): Promise<void>
}

/** A pin request as kept. */
interface PinRecord {
  requestid: string
  created: string
  pin: Pin
  /** `id:<hex>` for an identity, `op:<name>` for an operator. */
  owner: string
  status: PinState
  details?: string
}

class HttpError extends Error {
  readonly status: number
  readonly reason: string
  constructor (status: number, reason: string, details: string) { super(details); this.status = status; this.reason = reason }
}

export async function startPinningApi (o: PinningApiOptions): Promise<PinningApi> {
  const db = new ClassicLevel<string, string>(join(o.dataDir, 'pinning'), { valueEncoding: 'utf8' })
  await db.open()
  const tokens = new Map(o.tokens.map((t) => [t.sha256, t.name]))
  const delegates = (): string[] => {
    const out = o.node.ipfs.multiaddrs.map(String).slice(0, 20)
    return out.length > 0 ? out : [`/p2p/${o.node.ipfs.peerId.toString()}`]
  }
  const log = o.log ?? (() => {})

  // ---- the pin queue ----
  const queue: string[] = []
  let running = 0
  let closing = false
  const work = new Set<Promise<void>>()
  const pump = (): void => {
    while (!closing && running < CONCURRENT_PINS && queue.length > 0) {
      const id = queue.shift()!
      running++
      const p = pinOne(id).catch((err: Error) => { log(`pinning API: ${id}: ${err.message}`) }).finally(() => { running--; work.delete(p); pump() })
      work.add(p)
    }
  }
  const put = async (r: PinRecord): Promise<void> => { await db.put(r.requestid, JSON.stringify(r), { sync: true }) }
  const get = async (id: string): Promise<PinRecord | undefined> => {
    const v = await db.get(id)
    return v === undefined ? undefined : JSON.parse(v) as PinRecord
  }
  const pinOne = async (id: string): Promise<void> => {
    const r = await get(id)
    if (r === undefined || r.status !== 'queued') return
    r.status = 'pinning'
    await put(r)
    const origins = (r.pin.origins ?? []).flatMap((a) => {
      try { return providerPeerId(a) === undefined ? [] : [multiaddr(a)] } catch { return [] }
    })
    try {
      await o.node.pinFor(digestOfCid(r.pin.cid), origins, r.owner.startsWith('id:') ? r.owner.slice(3) : null)
      r.status = 'pinned'
      delete r.details
    } catch (err) {
      r.status = 'failed'
      r.details = (err as Error).message
    }
    if (await get(id) !== undefined) await put(r) // deleted meanwhile: stays deleted
  }
  // requests a stop interrupted are fetched again
  for await (const [id, v] of db.iterator()) {
    const r = JSON.parse(v) as PinRecord
    if (r.status === 'queued' || r.status === 'pinning') { r.status = 'queued'; await put(r); queue.push(id) }
  }

  // ---- answers ----
  const view = async (r: PinRecord): Promise<PinStatus> => {
    let status = r.status
    const info: Record<string, string> = {}
    if (r.details !== undefined) info.status_details = r.details
    if (status === 'pinned') {
      if (!await o.node.ipfs.isPinned(r.pin.cid)) {
        status = 'failed'
        info.status_details = `pruned: no transaction named it within ${o.deadlineSeconds} s`
      } else if (o.node.isUnconfirmed(r.pin.cid)) {
        info.status_details = `held unconfirmed: pruned unless a transaction names it within ${o.deadlineSeconds} s of the upload`
      }
    } else if (status === 'queued') {
      info.status_details = `queue position ${queue.indexOf(r.requestid) + 1} of ${queue.length}`
    }
    return { requestid: r.requestid, status, created: r.created, pin: r.pin, delegates: delegates(), ...(Object.keys(info).length === 0 ? {} : { info }) }
  }

  const principal = (req: IncomingMessage): string => {
    const h = req.headers.authorization
    const m = h === undefined ? null : /^Bearer\s+(\S+)$/i.exec(h)
    if (m === null) throw new HttpError(401, 'UNAUTHORIZED', 'an access token is required: Authorization: Bearer <token>')
    const token = m[1]!
    let auth
    try {
      auth = verifyIdentityToken(token, Math.floor(Date.now() / 1000), o.maxSkewSeconds)
    } catch (err) {
      throw new HttpError(401, 'UNAUTHORIZED', `identity token refused: ${(err as Error).message}`)
    }
    if (auth !== undefined) {
      if (o.established(auth.signer) === null) throw new HttpError(401, 'UNAUTHORIZED', `${toHex(auth.signer).slice(0, 12)}… has no confirmed tx_key on Userchain and is not a registered doctor`)
      return `id:${toHex(auth.signer)}`
    }
    const name = tokens.get(toHex(sha256(utf8Bytes(token))))
    if (name === undefined) throw new HttpError(401, 'UNAUTHORIZED', 'access token is missing or invalid')
    return `op:${name}`
  }

  const parse = <S extends z.ZodType>(schema: S, v: unknown, what: string): z.output<S> => {
    const r = schema.safeParse(v)
    if (!r.success) throw new HttpError(400, 'BAD_REQUEST', `${what}: ${firstIssue(r.error, schema).message}`)
    return r.data
  }
  const body = async (req: IncomingMessage): Promise<unknown> => {
    if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) throw new HttpError(400, 'BAD_REQUEST', 'the body must be application/json')
    const declared = Number(req.headers['content-length'] ?? '0')
    if (declared > MAX_BODY_BYTES) throw new HttpError(400, 'BAD_REQUEST', `a body may be at most ${MAX_BODY_BYTES} bytes`)
    const chunks: Buffer[] = []
    let n = 0
    for await (const c of req as AsyncIterable<Buffer>) {
      n += c.length
      if (n > MAX_BODY_BYTES) throw new HttpError(400, 'BAD_REQUEST', `a body may be at most ${MAX_BODY_BYTES} bytes`)
      chunks.push(c)
    }
    try { return JSON.parse(Buffer.concat(chunks).toString('utf8')) } catch { throw new HttpError(400, 'BAD_REQUEST', 'the body is not JSON') }
  }
  const pinOf = (v: unknown): Pin => {
    const p = parse(PinBody, v, 'pin')
    try { digestOfCid(p.cid) } catch (err) { throw new HttpError(400, 'BAD_REQUEST', `pin.cid: ${(err as Error).message} (this service stores CIDv1 raw sha2-256 blocks)`) }
    return { cid: p.cid, ...(p.name === undefined ? {} : { name: p.name }), ...(p.origins === undefined ? {} : { origins: p.origins }), ...(p.meta === undefined ? {} : { meta: p.meta }) }
  }
  const own = async (id: string, who: string): Promise<PinRecord> => {
    const r = await get(id)
    if (r === undefined || r.owner !== who) throw new HttpError(404, 'NOT_FOUND', `no pin request ${id}`)
    return r
  }
  const add = async (pin: Pin, who: string): Promise<PinRecord> => {
    if (who.startsWith('id:')) {
      try { o.node.checkQuota(who.slice(3)) } catch (err) {
        if (err instanceof UploadRefusedError) throw new HttpError(409, 'INSUFFICIENT_FUNDS', err.message)
        throw err
      }
    }
    const r: PinRecord = { requestid: toHex(new Uint8Array(randomBytes(16))), created: new Date().toISOString(), pin, owner: who, status: 'queued' }
    await put(r)
    queue.push(r.requestid)
    pump()
    return r
  }
  const remove = async (r: PinRecord): Promise<void> => {
    await db.del(r.requestid)
    const qi = queue.indexOf(r.requestid)
    if (qi >= 0) queue.splice(qi, 1)
    // the CID stays if another request of this principal or anyone else's still asks for it
    for await (const v of db.values()) if ((JSON.parse(v) as PinRecord).pin.cid === r.pin.cid) return
    await o.node.unpinRequested(r.pin.cid)
  }
  const list = async (q: ListQuery, who: string): Promise<PinResults> => {
    const states = new Set<PinState>(q.status ?? ['pinned'])
    const cids = q.cid === undefined ? undefined : new Set(q.cid)
    const nameMatch = (n: string | undefined): boolean => {
      if (q.name === undefined) return true
      if (n === undefined) return false
      switch (q.match) {
        case 'exact': return n === q.name
        case 'iexact': return n.toLowerCase() === q.name.toLowerCase()
        case 'partial': return n.includes(q.name)
        case 'ipartial': return n.toLowerCase().includes(q.name.toLowerCase())
      }
    }
    const matched: PinStatus[] = []
    for await (const v of db.values()) {
      const r = JSON.parse(v) as PinRecord
      if (r.owner !== who || (cids !== undefined && !cids.has(r.pin.cid)) || !nameMatch(r.pin.name)) continue
      if (q.before !== undefined && !(Date.parse(r.created) < Date.parse(q.before))) continue
      if (q.after !== undefined && !(Date.parse(r.created) > Date.parse(q.after))) continue
      if (q.meta !== undefined && !Object.entries(q.meta).every(([k, x]) => r.pin.meta?.[k] === x)) continue
      const s = await view(r)
      if (states.has(s.status)) matched.push(s)
    }
    matched.sort((a, b) => b.created.localeCompare(a.created))
    return { count: matched.length, results: matched.slice(0, q.limit) }
  }

  const handle = async (req: IncomingMessage): Promise<{ status: number, json?: unknown }> => {
    const url = new URL(req.url ?? '/', 'http://pinning.invalid')
    const path = url.pathname.replace(/\/+$/, '')
    const one = /^\/pins\/([^/]+)$/.exec(path)
    if (path !== '/pins' && one === null) throw new HttpError(404, 'NOT_FOUND', `no such path ${url.pathname}`)
    const who = principal(req)
    if (one === null) {
      if (req.method === 'GET') return { status: 200, json: await list(parse(ListQuery, Object.fromEntries(url.searchParams), 'query'), who) }
      if (req.method === 'POST') return { status: 202, json: await view(await add(pinOf(await body(req)), who)) }
    } else {
      const id = decodeURIComponent(one[1]!)
      if (req.method === 'GET') return { status: 200, json: await view(await own(id, who)) }
      if (req.method === 'POST') {
        const old = await own(id, who)
        const pin = pinOf(await body(req))
        const r = await add(pin, who)
        await remove(old)
        return { status: 202, json: await view(r) }
      }
      if (req.method === 'DELETE') { await remove(await own(id, who)); return { status: 202 } }
    }
    throw new HttpError(400, 'BAD_REQUEST', `${req.method ?? '?'} is not allowed on ${url.pathname}`)
  }

  const respond = (res: ServerResponse, status: number, json?: unknown): void => {
    if (json === undefined) { res.writeHead(status, { 'content-length': '0' }).end(); return }
    const text = JSON.stringify(json)
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' }).end(text)
  }
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    handle(req).then(({ status, json }) => { respond(res, status, json) }, (err: Error) => {
      const failure: Failure = err instanceof HttpError
        ? { error: { reason: err.reason, details: err.message } }
        : { error: { reason: 'INTERNAL_SERVER_ERROR', details: err.message } }
      if (!(err instanceof HttpError)) log(`pinning API: ${err.message}`)
      respond(res, err instanceof HttpError ? err.status : 500, failure)
    })
  }
  let server: Server
  try {
    server = o.tls === undefined
      ? createHttp(onRequest)
      : createHttps({ cert: await readFile(o.tls.cert), key: await readFile(o.tls.key) }, onRequest)
    server.headersTimeout = 10_000
    server.requestTimeout = 30_000
    await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(o.port, o.host, () => { server.off('error', reject); resolve() }) })
  } catch (err) {
    await db.close()
    throw err
  }
  pump()
  const a = server.address() as AddressInfo
  const host = a.family === 'IPv6' ? `[${a.address}]` : a.address
  return {
    url: `${o.tls === undefined ? 'http' : 'https'}://${host}:${a.port}`,
    async close () {
      closing = true
      await new Promise<void>((resolve) => { server.close(() => { resolve() }); server.closeAllConnections() })
      await Promise.allSettled([...work])
      await db.close()
    }
  }
}
