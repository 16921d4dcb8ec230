/** HTTP clients for tests of the hub's web surfaces (pages, JSON API, Node-RED). */
import tls from 'node:tls'

/** A cookie-keeping HTTP client that never follows redirects. */
export class Client {
  readonly origin: string
  cookie = ''
  constructor (origin: string) { this.origin = origin }
  async req (method: string, path: string, body?: Record<string, string> | object, headers: Record<string, string> = {}): Promise<{ status: number, headers: Headers, text: string, json: () => unknown }> {
    const h: Record<string, string> = { ...headers }
    if (this.cookie !== '') h.cookie = this.cookie
    let payload: string | undefined
    if (body !== undefined) {
      if (h['content-type'] === 'application/json') payload = JSON.stringify(body)
      else { h['content-type'] = 'application/x-www-form-urlencoded'; payload = new URLSearchParams(body as Record<string, string>).toString() }
    }
    const r = await fetch(this.origin + path, { method, headers: h, redirect: 'manual', ...(payload === undefined ? {} : { body: payload }) })
    const set = r.headers.getSetCookie()
    for (const c of set) {
      const [pair] = c.split(';')
      this.cookie = /Max-Age=0/.test(c) ? '' : pair!
    }
    const text = await r.text()
    return { status: r.status, headers: r.headers, text, json: () => JSON.parse(text) }
  }
  /** The CSRF token of a page's forms. */
  static token (html: string): string {
    const m = /name="_csrf" value="([^"]+)"/.exec(html)
    if (m === null) throw new Error('no CSRF token on the page')
    return m[1]!
  }
  async login (user: string, password: string, base = ''): Promise<string> {
    const page = await this.req('GET', `${base}/login`)
    const r = await this.req('POST', `${base}/login`, { _csrf: Client.token(page.text), username: user, password })
    if (r.status !== 303) throw new Error(`login: ${r.status} ${r.text.slice(0, 200)}`)
    return Client.token((await this.req('GET', `${base}/patient`)).text)
  }
}

/**
 * Makes this process's fetch (and every TLS client without its own `ca`)
 * trust a hub's CA, beside the system's: the tests talk to the hub over
 * HTTPS as a browser that imported the hub's CA would.
 */
export function trustCa (pem: string): void {
  const have = tls.getCACertificates('default')
  if (!have.includes(pem)) tls.setDefaultCACertificates([...have, pem])
}
