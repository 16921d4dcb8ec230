/**
 * Attack: a request target the URL parser refuses. `POST //` (found by the
 * fuzz engine against the hub) threw out of the control API's request
 * handler — before the cookie check, so any client that can reach the socket
 * or the loopback port — and the uncaught exception stopped the daemon. Now
 * such a request is answered (401 without the cookie, 400 naming the path
 * with it), counted, and the daemon keeps answering.
 */
import t from 'tap'
import { connect } from 'node:net'
import { readFile } from 'node:fs/promises'
import { startApiServer } from '../../hub/src/api/server.ts'
import { cookiePath } from '../../hub/src/api/local.ts'
import { route } from '../../hub/src/api/route.ts'

/** One raw HTTP/1.1 request on its own connection; the status line and body. */
async function rawHttp (socket: string, head: string): Promise<{ status: number, body: string }> {
  return await new Promise((resolve, reject) => {
    const s = connect(socket)
    let out = ''
    s.on('data', (b: Buffer) => { out += b.toString() })
    s.on('error', reject)
    s.on('close', () => { resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(out)?.[1] ?? -1), body: out.slice(out.indexOf('\r\n\r\n') + 4) }) })
    s.end(`${head}\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
  })
}

t.test('a request target the URL parser refuses is answered and counted, and the daemon stays up', async (t) => {
  const dir = t.testdir()
  const api = await startApiServer({ dataDir: dir, name: 'test', routes: [route({ method: 'GET', path: '/v1/ping', summary: 'ping', handler: async () => ({ pong: true }) })], log: () => {} })
  t.teardown(async () => { await api.close() })
  const cookie = (await readFile(cookiePath(dir), 'utf8')).trim()
  const noCookie = await rawHttp(api.socket, 'POST // HTTP/1.1')
  t.equal(noCookie.status, 401, 'without the cookie: refused as any other request')
  for (const target of ['//', '//:99999/v1/ping', 'http://a:b:c/']) {
    const r = await rawHttp(api.socket, `GET ${target} HTTP/1.1\r\nAuthorization: Bearer ${cookie}`)
    t.equal(r.status, 400, `${target}: 400`)
    t.match(JSON.parse(r.body), { error: 'ERR_API_MALFORMED', field: 'path' }, 'naming the path')
  }
  const ok = await rawHttp(api.socket, `GET /v1/ping HTTP/1.1\r\nAuthorization: Bearer ${cookie}`)
  t.match({ status: ok.status, body: JSON.parse(ok.body) }, { status: 200, body: { pong: true } }, 'the daemon still answers')
  const st = api.stats()
  t.equal(st.refused.malformed, 3, 'each counted as malformed')
  t.equal(st.refused.no_cookie, 1)
  t.equal(st.errors, 0, 'none failed inside the daemon')
})
