/**
 * A stand-alone HTTP server for the pages, for tests and the
 * devnet: an express 4 app with only the web router at `/`, bound to
 * 127.0.0.1 unless told otherwise (the pages are for the hub's owner;
 * expose them deliberately, behind TLS). The hub itself mounts the router
 * from router.ts on its own app beside Node-RED.
 */
import express, { type Router } from 'express'
import type { Server } from 'node:http'
import { webServer } from './listen.ts'
import { createWebRouter, type WebOptions, type WebRouter } from './router.ts'

export interface WebServerOptions extends WebOptions {
  /** Default 127.0.0.1. */
  readonly host?: string
  /** Default 0 (a free port). */
  readonly port?: number
  /** HTTPS with this certificate (plain HTTP on the port is redirected); default plain HTTP */
  readonly tls?: { readonly key: string, readonly cert: string }
  /** More routers beside the pages, mounted before them, sharing their login (e.g. the FHIR API at /fhir). */
  readonly mount?: (web: WebRouter) => ReadonlyArray<{ readonly path: string, readonly router: Router }>
}

export interface WebServer {
  readonly server: Server
  readonly web: WebRouter
  /** https://host:port (http:// without `tls`) */
  readonly url: string
  /** The login, only on the start that created it. */
  readonly created?: { readonly username: string, readonly password: string }
  close: () => Promise<void>
}

export async function createWebServer (opts: WebServerOptions): Promise<WebServer> {
  const web = await createWebRouter(opts)
  const app = express()
  app.disable('x-powered-by')
  for (const m of opts.mount?.(web) ?? []) app.use(m.path, m.router)
  app.use('/', web.router)
  const listener = await webServer(app, { host: opts.host ?? '127.0.0.1', port: opts.port ?? 0, ...(opts.tls === undefined ? {} : { tls: opts.tls }) }).listen()
  return {
    server: listener.server,
    web,
    url: listener.origin,
    ...(web.created === undefined ? {} : { created: web.created }),
    close: async () => { await listener.close() }
  }
}
