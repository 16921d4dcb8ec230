/**
 * The hub's Node-RED (DESIGN §8): the runtime and editor embedded in an
 * express 4 app (Node-RED 5 uses express 4; hosted in express 5 its core
 * http-in node fails to register) on an HTTP server bound to 127.0.0.1 by
 * default. Login is on (admin-auth.ts) for the editor and admin API, and
 * HTTP basic auth with the same login guards the flows' own endpoints. Our palette is flows/nodes/; the
 * flow file lives in `<dataDir>/node-red/flows.json`, seeded on first start
 * from the shipped flows/hub.json (flows/doctor.json on a doctor node), so
 * edits made in the editor or through the admin API persist there and the
 * shipped file stays as released. The Healthchain runtimes are injected
 * through the `healthchainRuntimes` setting (runtime.ts).
 *
 * Node-RED is a process-wide singleton: start it once per process.
 */
import { chmod, copyFile, mkdir, stat } from 'node:fs/promises'
import type { Server } from 'node:http'
import { webServer } from '../web/listen.ts'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { adminAuthSetting, basicAuth, loadOrCreateAdminAuth } from './admin-auth.ts'
import { RUNTIMES_SETTING, type RuntimeTable } from './runtime.ts'

const require = createRequire(import.meta.url)

/** The parts of the node-red module the hub uses. */
export interface NodeRedModule {
  init: (server: Server, settings: Record<string, unknown>) => void
  start: () => Promise<void>
  stop: () => Promise<void>
  httpAdmin: (req: unknown, res: unknown, next: () => void) => void
  httpNode: (req: unknown, res: unknown, next: () => void) => void
  version: () => string
  events: { once: (ev: string, cb: () => void) => void, off: (ev: string, cb: () => void) => void }
}
interface ExpressApp {
  (req: unknown, res: unknown): void
  use: (path: string, handler: unknown) => void
}

export const FLOWS_DIR = fileURLToPath(new URL('../../../flows/', import.meta.url))
export const PALETTE_DIR = join(FLOWS_DIR, 'nodes')

/**
 * The core nodes a lean palette leaves out: those that bring large
 * libraries (HTTP client and server, WebSocket, MQTT client, TCP/UDP, the
 * HTML, XML, YAML and CSV parsers, exec), some 18 MB resident on the idle
 * hub (README "What the hub costs in memory"). Function, switch, change,
 * template, delay, trigger, split/join, JSON and the rest stay.
 */
export const LEAN_PALETTE_EXCLUDES: readonly string[] = [
  '05-tls.js', '06-httpproxy.js', '10-mqtt.js', '21-httpin.js', '21-httprequest.js', '22-websocket.js', '31-tcpin.js', '32-udp.js',
  '70-CSV.js', '70-HTML.js', '70-XML.js', '70-YAML.js', '90-exec.js'
]

export interface EmbedOptions {
  /** The node's data dir; Node-RED's userDir is `<dataDir>/node-red`. */
  readonly dataDir: string
  /** Runtimes by name; the shipped flows use "hub" (flows/hub.json) or "doctor" (flows/doctor.json). */
  readonly runtimes: RuntimeTable
  /** Which shipped flow seeds the flow file on first start (default 'hub'). */
  readonly flow?: 'hub' | 'doctor'
  /** Default 127.0.0.1: the editor is for the hub's owner; expose it deliberately. */
  readonly host?: string
  /** Default 1880; 0 picks a free port. */
  readonly port?: number
  /** Serve HTTPS with this certificate (plain HTTP on the port is redirected); default plain HTTP. */
  readonly tls?: { readonly key: string, readonly cert: string }
  /** Editor and admin API path (default '/red'). */
  readonly adminRoot?: string
  /** Path of flows' own HTTP endpoints (default '/red/api'; basic auth with the admin login). */
  readonly nodeRoot?: string
  /** Where the first-start login is printed (default console.log). */
  readonly print?: (line: string) => void
  /** Node-RED console log level (default 'warn'). */
  readonly logLevel?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'off'
  /** Node-RED core node files not to load (settings.nodesExcludes): LEAN_PALETTE_EXCLUDES on a small board. */
  readonly nodesExcludes?: readonly string[]
}

export interface EmbeddedNodeRed {
  readonly RED: NodeRedModule
  readonly server: Server
  readonly app: ExpressApp
  /** https://host:port (http:// without `tls`) */
  readonly origin: string
  /** The editor and admin API base URL (origin + adminRoot). */
  readonly adminUrl: string
  readonly userDir: string
  readonly flowFile: string
  /** The login, on the first start only (it was printed once; only its hash is stored). */
  readonly created?: { readonly username: string, readonly password: string }
  /**
   * Stops the flows, the editor and the server. Node-RED keeps one timer it
   * never clears (login-session expiry, armed at the first login), so a
   * process that logged in and wants to end must exit explicitly.
   */
  stop: () => Promise<void>
}

async function exists (path: string): Promise<boolean> {
  try { await stat(path); return true } catch { return false }
}

export async function startNodeRed (opts: EmbedOptions): Promise<EmbeddedNodeRed> {
  const RED = require('node-red') as NodeRedModule
  const express = require('express') as () => ExpressApp
  const userDir = join(opts.dataDir, 'node-red')
  await mkdir(userDir, { recursive: true, mode: 0o700 })
  await chmod(userDir, 0o700) // Node-RED keeps login sessions (bearer tokens) here
  const flowFile = join(userDir, 'flows.json')
  if (!await exists(flowFile)) await copyFile(join(FLOWS_DIR, `${opts.flow ?? 'hub'}.json`), flowFile)
  const auth = await loadOrCreateAdminAuth(userDir)
  const adminRoot = opts.adminRoot ?? '/red'
  const nodeRoot = opts.nodeRoot ?? '/red/api'
  const host = opts.host ?? '127.0.0.1'

  const app = express()
  const web = webServer(app, { host, port: opts.port ?? 1880, ...(opts.tls === undefined ? {} : { tls: opts.tls }) })
  const server = web.server
  RED.init(server, {
    userDir,
    flowFile: 'flows.json',
    nodesDir: [PALETTE_DIR],
    ...(opts.nodesExcludes === undefined ? {} : { nodesExcludes: [...opts.nodesExcludes] }),
    credentialSecret: auth.record.credentialSecret,
    adminAuth: adminAuthSetting(auth.record),
    httpAdminRoot: adminRoot,
    httpNodeRoot: nodeRoot,
    uiHost: host,
    logging: { console: { level: opts.logLevel ?? 'warn', metrics: false, audit: false } },
    editorTheme: { tours: false },
    externalModules: { autoInstall: false, palette: { allowInstall: false, allowUpload: false }, modules: { allowInstall: false } },
    functionExternalModules: false,
    diagnostics: { enabled: false },
    telemetry: { enabled: false },
    [RUNTIMES_SETTING]: opts.runtimes
  })
  app.use(adminRoot, RED.httpAdmin)
  // the flows' http-in endpoints act as this node (a doctor's POST /diagnose signs a tx_diag): same login
  app.use(nodeRoot, basicAuth(auth.record))
  app.use(nodeRoot, RED.httpNode)
  const listener = await web.listen()
  const origin = listener.origin
  // RED.start() resolves before the flows run; callers get a hub whose flows are up
  let onStarted = (): void => {}
  const flowsStarted = new Promise<void>((resolve) => { onStarted = resolve; RED.events.once('flows:started', onStarted) })
  let guard: NodeJS.Timeout | undefined
  try {
    await RED.start()
    await Promise.race([flowsStarted, new Promise((_resolve, reject) => {
      guard = setTimeout(() => { reject(new Error(`Node-RED flows did not start within 30 s (see the log; flow file ${flowFile})`)) }, 30_000)
    })])
  } catch (err) {
    RED.events.off('flows:started', onStarted)
    await RED.stop().catch(() => {})
    await listener.close()
    throw err
  } finally {
    clearTimeout(guard)
  }
  const adminUrl = origin + adminRoot
  if (auth.created !== undefined) {
    (opts.print ?? console.log)(`Node-RED editor: ${adminUrl}/  login: ${auth.created.username} / ${auth.created.password}\n` +
      `  (shown this once; only a bcrypt hash is kept, in ${join(userDir, 'admin-auth.json')} — delete that file to make a new login)`)
  }
  let stopped: Promise<void> | undefined
  return {
    RED, server, app, origin, adminUrl, userDir, flowFile,
    ...(auth.created === undefined ? {} : { created: auth.created }),
    stop: async () => {
      stopped ??= (async () => {
        await RED.stop()
        await listener.close()
      })()
      await stopped
    }
  }
}
