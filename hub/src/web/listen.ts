/**
 * One port for a web surface of the hub (pages, Node-RED editor): HTTPS
 * when given a certificate, and on that same port a request in plain HTTP
 * gets only a permanent redirect to its https:// URL (RFC 9110 §15.4.9,
 * 308 keeps the method) — no page, no cookie. The first byte tells them
 * apart: a TLS connection opens with a handshake record (RFC 8446 §5.1,
 * content type 22). Without a certificate it is plain HTTP (tests, the
 * devnet on loopback).
 */
import { createServer as createHttpServer, type RequestListener, type Server as HttpServer } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net'

const TLS_HANDSHAKE = 0x16

export interface WebListenOptions {
  readonly host: string
  /** 0 = any free port */
  readonly port: number
  readonly tls?: { readonly key: string, readonly cert: string }
}

export interface WebListener {
  /** the HTTP(S) server handling requests (Node-RED attaches its websocket upgrades here) */
  readonly server: HttpServer
  /** https://host:port (or http:// without TLS) */
  readonly origin: string
  readonly port: number
  close: () => Promise<void>
}

/** Creates the server for `handler` (not yet listening); `listen` opens the port. */
export function webServer (handler: RequestListener | undefined, opts: WebListenOptions): { server: HttpServer, listen: () => Promise<WebListener> } {
  const tls = opts.tls
  const server: HttpServer = tls === undefined ? createHttpServer(handler) : createHttpsServer({ key: tls.key, cert: tls.cert, minVersion: 'TLSv1.2' }, handler)
  const listen = async (): Promise<WebListener> => {
    let front: NetServer | HttpServer = server
    let redirect: HttpServer | undefined
    if (tls !== undefined) {
      redirect = createHttpServer((req, res) => {
        const host = req.headers.host ?? `${opts.host}:${(front.address() as AddressInfo).port}`
        res.writeHead(308, { Location: `https://${host}${req.url ?? '/'}`, 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' })
        res.end('This hub serves HTTPS only.\n')
      })
      const r = redirect
      front = createNetServer((sock: Socket) => {
        sock.on('error', () => {})
        sock.once('data', (first: Buffer) => {
          sock.pause()
          sock.unshift(first)
          ;(first[0] === TLS_HANDSHAKE ? server : r).emit('connection', sock)
          process.nextTick(() => sock.resume())
        })
      })
    }
    await new Promise<void>((resolve, reject) => {
      front.once('error', reject)
      front.listen(opts.port, opts.host, () => { front.off('error', reject); resolve() })
    })
    const addr = front.address() as AddressInfo
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address
    let closed: Promise<void> | undefined
    return {
      server,
      port: addr.port,
      origin: `${tls === undefined ? 'http' : 'https'}://${host}:${addr.port}`,
      close: async () => {
        closed ??= new Promise<void>((resolve) => {
          front.close(() => { resolve() })
          server.closeAllConnections()
          redirect?.closeAllConnections()
          if (front !== server) server.close()
        })
        await closed
      }
    }
  }
  return { server, listen }
}
