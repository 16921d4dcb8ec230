/**
 * A daemon's local control API server: HTTP/JSON on a Unix socket (mode
 * 0600, in the data dir) and optionally on a loopback TCP port, every
 * request authenticated with the cookie the server writes into the data dir
 * at its start (local.ts). The routes are the daemon's service layer
 * (route.ts); requests are validated by their zod schemas before any
 * service call, so a malformed request costs a parse and nothing else.
 *
 * Every refusal is answered `{ error, field, message }` and counted by
 * reason (`stats()`); nothing a client sends — bad JSON, a huge body, a
 * slow trickle of headers, an unknown route — can throw out of the server.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { chmod, unlink } from 'node:fs/promises'
import { connect, createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net'
import { HealthchainError } from '../core/index.ts'
import { ApiError, BadCookieError, MalformedRequestError, NoCookieError, NoRouteError, OtherUserError } from './errors.ts'
import { peerCheck, type PeerCredentials } from './peer.ts'
import { apiSocketPath, cookieMatches, removeCookie, writeCookie } from './local.ts'
import { compilePath, parsePart, type Route } from './route.ts'
import { openApiDocument } from './openapi.ts'

export interface ApiServerOptions {
  readonly dataDir: string
  /** Which daemon (the OpenAPI title and the `server` field of /v1/health). */
  readonly name: string
  readonly routes: readonly Route[]
  /** Also listen on this loopback TCP address (port 0: any free port). */
  readonly tcp?: { readonly host: string, readonly port: number }
  /** Unix socket path (default: apiSocketPath(dataDir)). */
  readonly socket?: string
  /** Failures inside a service call (5xx); default stderr. */
  readonly log?: (line: string) => void
}

export type RefusalReason = 'no_cookie' | 'bad_cookie' | 'other_user' | 'malformed' | 'no_route' | 'too_large' | 'refused'

export interface ApiStats {
  requests: number
  ok: number
  /** Requests refused before or by the service call, by reason. */
  refused: Record<RefusalReason, number>
  /** Service calls that failed unexpectedly (500). */
  errors: number
  /**
   * How clients of other Unix users are kept off the socket: 'peercred' —
   * the socket is open to connect and each connection's SO_PEERCRED uid is
   * checked before a byte is read (refused and counted as other_user);
   * 'file-mode' — the socket is 0600 and the kernel refuses them (not
   * counted: the daemon never sees them).
   */
  peerCheck: 'peercred' | 'file-mode'
}

export interface ApiServer {
  readonly socket: string
  /** `http://127.0.0.1:<port>` when TCP is on. */
  readonly url: string | null
  stats: () => ApiStats
  close: () => Promise<void>
}

const DEFAULT_MAX_BODY = 64 * 1024
const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost'])

function reasonOf (err: ApiError): RefusalReason {
  if (err instanceof NoCookieError) return 'no_cookie'
  if (err instanceof BadCookieError) return 'bad_cookie'
  if (err instanceof NoRouteError) return 'no_route'
  if (err instanceof MalformedRequestError) return err.status === 413 ? 'too_large' : 'malformed'
  return 'refused'
}

/** HTTP status of a service failure: typed errors are the caller's (4xx), anything else is ours (500). */
export function statusOfError (err: unknown): number {
  if (err instanceof ApiError) return err.status
  const s = (err as { status?: unknown }).status
  if (typeof s === 'number' && s >= 400 && s < 500) return s
  if (err instanceof HealthchainError) {
    return /ALREADY_GRANTED|NOT_GRANTED|STALE_EPOCH|REFUSED|REJECTED|CONFLICT|EXISTS|BATCH_STAGE/.test(err.code) ? 409 : /NOT_FOUND|UNKNOWN/.test(err.code) ? 404 : 400
  }
  return 500
}

async function readBody (req: IncomingMessage, max: number): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0)
  if (declared > max) throw new MalformedRequestError('body', `larger than ${max} bytes`, 413)
  const chunks: Buffer[] = []
  let n = 0
  for await (const c of req) {
    n += (c as Buffer).length
    if (n > max) throw new MalformedRequestError('body', `larger than ${max} bytes`, 413)
    chunks.push(c as Buffer)
  }
  if (n === 0) return {}
  const text = Buffer.concat(chunks).toString('utf8')
  try { return JSON.parse(text) as unknown } catch (err) { throw new MalformedRequestError('body', `not JSON: ${(err as Error).message}`) }
}

/** A refusal's answer: `{ error, field, message }`, the message without the field its error class prefixes. */
function errorBody (e: HealthchainError): { error: string, field: string, message: string } {
  const message = e.field !== undefined && e.message.startsWith(`${e.field}: `) ? e.message.slice(e.field.length + 2) : e.message
  return { error: e.code ?? 'ERR_REFUSED', field: e.field ?? '', message }
}

/** The daemon's own user: its clients may connect; so may root, whom file modes never stopped. */
const owner = (p: PeerCredentials): boolean => p.uid === process.getuid?.() || p.uid === 0

/**
 * The Unix socket's listener when peer credentials can be read: each
 * connection's peer uid is checked before any byte of it is read; a client
 * of another user gets one 403 answer naming the refusal and is closed,
 * counted as other_user. The rest go on to the HTTP server.
 */
function gated (http: Server, stats: ApiStats, allowed: (p: PeerCredentials) => boolean): NetServer {
  // the HTTP server's connection tracking (request and headers timeouts, closeAllConnections) starts on 'listening'
  http.emit('listening')
  const gate = createNetServer({ pauseOnConnect: true }, (sock: Socket) => {
    let who: PeerCredentials | null = null
    try { who = peerCheck!(sock) } catch { who = null }
    if (who !== null && allowed(who)) {
      http.emit('connection', sock)
      sock.resume()
      return
    }
    stats.requests++
    stats.refused.other_user++
    const body = JSON.stringify(errorBody(new OtherUserError(who?.uid ?? -1)))
    sock.on('error', () => {})
    // what it sends is read and dropped, so it is not reset before it reads the answer
    sock.on('data', () => {})
    sock.resume()
    sock.end(`HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
    setTimeout(() => { sock.destroy() }, 2000).unref()
  })
  gate.maxConnections = http.maxConnections
  return gate
}

/** Is something answering on this Unix socket? (Then another daemon owns the data dir.) */
async function answering (path: string): Promise<boolean> {
  return await new Promise((resolve) => {
    const s = connect(path)
    s.once('connect', () => { s.destroy(); resolve(true) })
    s.once('error', () => { resolve(false) })
  })
}

export async function startApiServer (o: ApiServerOptions): Promise<ApiServer> {
  const log = o.log ?? ((line: string) => { process.stderr.write(`${line}\n`) })
  if (o.tcp !== undefined && !LOOPBACK.has(o.tcp.host)) throw new MalformedRequestError('api.tcp.host', `must be a loopback address (127.0.0.1, ::1), got ${o.tcp.host}`)
  const socketPath = o.socket ?? apiSocketPath(o.dataDir)
  const stats: ApiStats = { requests: 0, ok: 0, refused: { no_cookie: 0, bad_cookie: 0, other_user: 0, malformed: 0, no_route: 0, too_large: 0, refused: 0 }, errors: 0, peerCheck: peerCheck === null ? 'file-mode' : 'peercred' }
  const compiled = o.routes.map((r) => ({ r, segs: compilePath(r.path) }))
  const doc = openApiDocument(o.name, o.routes)
  let cookie = ''
  /** Connections that carried a request already, with its response. */
  const answered = new WeakMap<object, ServerResponse>()

  const match = (method: string, path: string): { r: Route, params: Record<string, string> } | 'method' | null => {
    const parts = path.split('/').slice(1)
    let wrongMethod = false
    for (const { r, segs } of compiled) {
      if (segs.length !== parts.length) continue
      const params: Record<string, string> = {}
      let ok = true
      for (let i = 0; i < segs.length && ok; i++) {
        const s = segs[i]!
        if ('lit' in s) ok = s.lit === parts[i]
        else { try { params[s.param] = decodeURIComponent(parts[i]!) } catch { ok = false } }
      }
      if (!ok) continue
      if (r.method !== method) { wrongMethod = true; continue }
      return { r, params }
    }
    return wrongMethod ? 'method' : null
  }

  const send = (res: ServerResponse, status: number, body: unknown): void => {
    if (res.headersSent) { res.end(); return }
    const text = JSON.stringify(body)
    // an oversize body is not read to its end: the connection closes after the answer
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store', ...(status === 413 ? { Connection: 'close' } : {}) })
    res.end(text)
  }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    stats.requests++
    answered.set(req.socket, res)
    const method = req.method ?? 'GET'
    const target = req.url ?? '/'
    let url = { pathname: target.split('?')[0]!.slice(0, 200), searchParams: new URLSearchParams() }
    try {
      // the cookie first: nothing else is looked at for a caller without it
      const auth = req.headers.authorization
      if (auth === undefined || auth === '') throw new NoCookieError()
      const m = /^Bearer ([\x21-\x7e]{1,256})$/.exec(auth)
      if (m === null || !cookieMatches(cookie, m[1]!)) throw new BadCookieError()
      // a target the URL parser refuses ('//', an absolute form with a bad port) is a malformed request, not an exception out of the server
      try { url = new URL(target, 'http://api.local') } catch { throw new MalformedRequestError('path', `not a request target this API reads: ${JSON.stringify(target.slice(0, 80))}`) }
      if (method === 'GET' && url.pathname === '/v1/openapi.json') { stats.ok++; send(res, 200, doc); return }
      if (method === 'GET' && url.pathname === '/v1/health') { stats.ok++; send(res, 200, { daemon: o.name, pid: process.pid }); return }
      // every daemon's API counters, refusals by reason among them
      if (method === 'GET' && url.pathname === '/v1/api') { stats.ok++; send(res, 200, stats); return }
      const found = match(method, url.pathname)
      if (found === null) throw new NoRouteError(method, url.pathname)
      if (found === 'method') throw new MalformedRequestError('method', `${method} is not allowed on ${url.pathname}`, 405)
      const { r, params } = found
      const raw = method === 'GET' || method === 'DELETE' ? {} : await readBody(req, r.maxBody ?? DEFAULT_MAX_BODY)
      const input = {
        params: parsePart(r.params, params, 'params'),
        query: parsePart(r.query, Object.fromEntries(url.searchParams), 'query'),
        body: parsePart(r.body, raw, 'body')
      } as never
      if (r.stream !== undefined) { stats.ok++; r.stream(input, res); return }
      const out = await r.handler!(input)
      stats.ok++
      send(res, 200, out ?? {})
    } catch (err) {
      const status = statusOfError(err)
      if (status >= 500) {
        stats.errors++
        log(`api: ${method} ${url.pathname}: ${(err as Error).stack ?? String(err)}`)
        send(res, 500, { error: 'ERR_INTERNAL', field: '', message: `the ${o.name} could not do that; see its log` })
        return
      }
      stats.refused[err instanceof ApiError ? reasonOf(err) : 'refused']++
      send(res, status, errorBody(err as HealthchainError))
    }
  }

  const make = (): Server => {
    const s = createServer({ requestTimeout: 30_000, headersTimeout: 10_000, maxHeaderSize: 16 * 1024 }, (req, res) => { void handle(req, res) })
    s.keepAliveTimeout = 5_000
    s.maxConnections = 256
    // not even HTTP (a bad request line, oversize headers): answered 400 and closed
    s.on('clientError', (err: NodeJS.ErrnoException, sock) => {
      stats.requests++
      stats.refused.malformed++
      if (!sock.writable || err.code === 'ECONNRESET') { sock.destroy(); return }
      // junk after a request (a body it did not frame) gets no answer of its own: the connection closes once the request's answer is out
      const res = answered.get(sock)
      if (res !== undefined) {
        if (res.writableFinished) sock.end()
        else res.once('finish', () => { sock.end() })
        return
      }
      const body = JSON.stringify({ error: 'ERR_API_MALFORMED', field: 'request', message: `not an HTTP request this API reads (${err.code ?? 'parse error'})` })
      sock.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
    })
    return s
  }
  const listen = async (s: Server | NetServer, arg: string | { host: string, port: number }): Promise<void> => {
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject)
      if (typeof arg === 'string') s.listen(arg, () => { s.off('error', reject); resolve() })
      else s.listen(arg.port, arg.host, () => { s.off('error', reject); resolve() })
    })
  }
  const close = async (s: Server | NetServer): Promise<void> => {
    await new Promise<void>((resolve) => {
      // (the HTTP server behind a peer gate never listens itself: its close() answers ERR_SERVER_NOT_RUNNING, after clearing its timers)
      s.close(() => { resolve() })
      if ('closeAllConnections' in s) s.closeAllConnections()
    })
  }

  // a socket file left by a daemon that died: nothing answers on it, so it goes
  if (await answering(socketPath)) throw new ApiError('ERR_API_IN_USE', 'socket', `another daemon answers on ${socketPath}`, 409)
  await unlink(socketPath).catch(() => {})
  cookie = await writeCookie(o.dataDir)
  const unixHttp = make()
  const unix = peerCheck === null ? unixHttp : gated(unixHttp, stats, owner)
  // created 0600 (umask), so no other user can connect even for an instant
  const mask = process.umask(0o177)
  try { await listen(unix, socketPath) } finally { process.umask(mask) }
  // with the peer check in front, another user may connect — and is refused and counted there (a 0600 socket would leave that to the kernel, uncounted)
  await chmod(socketPath, peerCheck === null ? 0o600 : 0o666)
  let tcp: Server | null = null
  let url: string | null = null
  if (o.tcp !== undefined) {
    tcp = make()
    try { await listen(tcp, o.tcp) } catch (err) { await close(unix); throw err }
    const a = tcp.address() as { port: number, address: string }
    url = `http://${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}`
  }
  return {
    socket: socketPath,
    url,
    stats: () => structuredClone(stats),
    close: async () => {
      if (unix !== unixHttp) await close(unixHttp)
      await close(unix)
      if (tcp !== null) await close(tcp)
      await unlink(socketPath).catch(() => {})
      await removeCookie(o.dataDir)
    }
  }
}
