/**
 * A stand-alone HTTP server for the pages (issue #13), for tests and the
 * devnet: an express 4 app with only the web router at `/`, bound to
 * 127.0.0.1 unless told otherwise (the pages are for the hub's owner;
 * expose them deliberately, behind TLS). The hub itself mounts the router
 * from router.ts on its own app beside Node-RED.
 */
import express from 'express'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createWebRouter, type WebOptions, type WebRouter } from './router.ts'

export interface WebServerOptions extends WebOptions {
  /** Default 127.0.0.1. */
  readonly host?: string
  /** Default 0 (a free port). */
  readonly port?: number
}

export interface WebServer {
  readonly server: Server
  readonly web: WebRouter
  /** http://host:port */
  readonly url: string
  /** The login, only on the start that created it. */
  readonly created?: { readonly username: string, readonly password: string }
  close: () => Promise<void>
}

export async function createWebServer (opts: WebServerOptions): Promise<WebServer> {
  const web = await createWebRouter(opts)
  const app = express()
  app.disable('x-powered-by')
  app.use('/', web.router)
  const server = createServer(app)
  const host = opts.host ?? '127.0.0.1'
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port ?? 0, host, () => { server.off('error', reject); resolve() })
  })
  const addr = server.address() as AddressInfo
  const url = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`
  return {
    server,
    web,
    url,
    ...(web.created === undefined ? {} : { created: web.created }),
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}
