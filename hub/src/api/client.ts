/**
 * A client of a daemon's control API, for the CLI and for Node-RED nodes
 * running outside the hub: over the data dir's Unix socket (or a loopback
 * URL) with the cookie the daemon wrote. An answer that is an error comes
 * back as the ApiError the daemon described (code, field, message).
 */
import { Agent, request } from 'node:http'
import { statSync } from 'node:fs'
import { ApiAccessError, ApiError, DaemonNotRunningError } from './errors.ts'
import { apiSocketPath, cookiePath, readCookie } from './local.ts'

export interface ApiTarget {
  /** Unix socket path … */
  readonly socket?: string
  /** … or `http://127.0.0.1:<port>` */
  readonly url?: string
  readonly cookie: string
}

export class ApiClient {
  readonly target: ApiTarget
  readonly #agent: Agent

  constructor (target: ApiTarget, opts: { maxSockets?: number } = {}) {
    if (target.socket === undefined && target.url === undefined) throw new TypeError('ApiClient: give a socket path or a URL')
    this.target = target
    this.#agent = new Agent({ keepAlive: true, maxSockets: opts.maxSockets ?? 4 })
  }

  /** The client of the daemon on `dataDir` (its socket and cookie). */
  static async forDataDir (dataDir: string): Promise<ApiClient> {
    const socket = apiSocketPath(dataDir)
    let cookie: string
    try { cookie = await readCookie(dataDir) } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'EACCES') throw new ApiAccessError(cookiePath(dataDir), 'permission denied reading the cookie')
      if (code === 'ENOENT') throw new DaemonNotRunningError(socket)
      throw err
    }
    return new ApiClient({ socket, cookie })
  }

  /**
   * The running daemon's client, or null when none runs on `dataDir` (no
   * socket, or nothing answers on it): the caller then opens the data dir
   * itself. A socket this user may not use is an error, not "stopped".
   */
  static async running (dataDir: string): Promise<ApiClient | null> {
    const socket = apiSocketPath(dataDir)
    try { statSync(socket) } catch (err) {
      // a data dir this user may not even look into is another user's hub, not a stopped one
      if ((err as NodeJS.ErrnoException).code === 'EACCES') throw new ApiAccessError(socket, 'permission denied')
      return null
    }
    let c: ApiClient
    try { c = await ApiClient.forDataDir(dataDir) } catch (err) {
      if (err instanceof DaemonNotRunningError) return null
      // a cookie this user may not read: the daemon itself says who it answers (and counts the refusal), where its socket lets us knock
      if (err instanceof ApiAccessError) await ApiClient.knock(socket)
      throw err
    }
    try { await c.call('GET', '/v1/health') } catch (err) {
      c.close()
      if (err instanceof DaemonNotRunningError) return null
      throw err
    }
    return c
  }

  /** Connects without a cookie: throws the daemon's refusal of this user (403), if it gives one. */
  static async knock (socket: string): Promise<void> {
    const c = new ApiClient({ socket, cookie: '-' })
    try { await c.call('GET', '/v1/health') } catch (err) {
      if (err instanceof ApiError && err.status === 403) throw err
    } finally { c.close() }
  }

  async call<T = unknown> (method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const text = body === undefined ? undefined : JSON.stringify(body)
    const where = this.target.socket ?? this.target.url!
    return await new Promise<T>((resolve, reject) => {
      const headers: Record<string, string | number> = { Authorization: `Bearer ${this.target.cookie}`, Accept: 'application/json' }
      if (text !== undefined) { headers['Content-Type'] = 'application/json'; headers['Content-Length'] = Buffer.byteLength(text) }
      const opts = this.target.socket !== undefined
        ? { socketPath: this.target.socket, path, method, headers, agent: this.#agent }
        : { ...urlParts(this.target.url!, path), method, headers, agent: this.#agent }
      const req = request(opts, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('error', reject)
        res.on('end', () => {
          let j: unknown
          try { j = JSON.parse(Buffer.concat(chunks).toString('utf8')) } catch { reject(new ApiError('ERR_API_RESPONSE', 'response', `not JSON (HTTP ${res.statusCode ?? '?'})`, 502)); return }
          if ((res.statusCode ?? 500) >= 400) {
            const e = j as { error?: string, field?: string, message?: string }
            reject(new ApiError(e.error ?? 'ERR_API', e.field ?? '', e.message ?? `HTTP ${res.statusCode ?? '?'}`, res.statusCode ?? 500))
            return
          }
          resolve(j as T)
        })
      })
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') reject(new DaemonNotRunningError(where))
        else if (err.code === 'EACCES' || err.code === 'EPERM') reject(new ApiAccessError(where, 'permission denied on the control socket'))
        else reject(err)
      })
      req.end(text)
    })
  }

  /** Opens a newline-delimited JSON stream; `onLine` per object. Returns a function that ends it. */
  stream (path: string, onLine: (j: unknown) => void, onEnd: (err?: Error) => void): () => void {
    const headers = { Authorization: `Bearer ${this.target.cookie}`, Accept: 'application/x-ndjson' }
    const opts = this.target.socket !== undefined ? { socketPath: this.target.socket, path, method: 'GET', headers } : { ...urlParts(this.target.url!, path), method: 'GET', headers }
    let ended = false
    const end = (err?: Error): void => { if (!ended) { ended = true; onEnd(err) } }
    const req = request(opts, (res) => {
      if ((res.statusCode ?? 500) >= 400) { end(new ApiError('ERR_API', 'stream', `HTTP ${res.statusCode ?? '?'}`, res.statusCode ?? 500)); res.resume(); return }
      let buf = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => {
        buf += c
        let i: number
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i)
          buf = buf.slice(i + 1)
          if (line.trim() === '') continue
          try { onLine(JSON.parse(line)) } catch (err) { end(err as Error); req.destroy(); return }
        }
      })
      res.on('end', () => { end() })
      res.on('error', (err) => { end(err) })
    })
    req.on('error', (err) => { end(err) })
    req.end()
    return () => { ended = true; req.destroy() }
  }

  close (): void { this.#agent.destroy() }
}

function urlParts (url: string, path: string): { host: string, port: number, path: string } {
  const u = new URL(url)
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 80), path: `${u.pathname.replace(/\/$/, '')}${path}` }
}
