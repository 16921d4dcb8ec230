/**
 * Ports a daemon's config names (libp2p `listen`, `broker.embedded.port`,
 * `http.port`): a port another program holds is reported as one line that
 * names the setting to change — at start (PortInUseError from whatever the
 * listener threw: node:net's EADDRINUSE, or libp2p's list of addresses it
 * could not listen on) and, offline, by `--check` (portFree).
 */
import { createServer } from 'node:net'
import { HealthchainError } from '../core/index.ts'

/** A configured port is held by another program (or another daemon). */
export class PortInUseError extends HealthchainError {
  readonly setting: string
  readonly address: string
  constructor (setting: string, address: string) {
    super('ERR_PORT_IN_USE', setting, `${address} is already in use by another program (another daemon, Mosquitto, …): change this setting, or stop that program`)
    this.setting = setting
    this.address = address
  }
}

/** A port that is not valid to listen on here (address not on this machine, port below 1024 without the right). */
export class PortUnavailableError extends HealthchainError {
  constructor (setting: string, address: string, why: string) {
    super('ERR_PORT_UNAVAILABLE', setting, `cannot listen on ${address} (${why}): change this setting`)
  }
}

const CODES: Record<string, string> = { EADDRNOTAVAIL: 'no such address on this machine', EACCES: 'permission denied: ports below 1024 need root' }

/**
 * `err` as thrown by a listener of `setting`, turned into one clear error when
 * it is a port conflict (or an address this machine cannot listen on);
 * anything else is returned as it is.
 */
export function listenError (err: unknown, setting: string): unknown {
  const e = err as { code?: string, address?: string, port?: number, message?: string }
  if (e === null || typeof e !== 'object') return err
  if (e.code === 'EADDRINUSE') return new PortInUseError(setting, `${e.address ?? '?'}:${e.port ?? '?'}`)
  if (e.code !== undefined && CODES[e.code] !== undefined) return new PortUnavailableError(setting, `${e.address ?? '?'}:${e.port ?? '?'}`, CODES[e.code]!)
  // libp2p's transport manager: "…failed to be listened on…:\n\n  /ip4/…/tcp/4001: Error: listen EADDRINUSE: …"
  const m = /(\/\S+): Error: listen (EADDRINUSE|EADDRNOTAVAIL|EACCES)/.exec(e.message ?? '')
  if (m !== null) return m[2] === 'EADDRINUSE' ? new PortInUseError(setting, m[1]!) : new PortUnavailableError(setting, m[1]!, CODES[m[2]!]!)
  return err
}

/** Resolves to null when `host:port` can be listened on now, else the error naming `setting`. Port 0 (any) always can. */
export async function portFree (setting: string, host: string, port: number): Promise<HealthchainError | null> {
  if (port === 0) return null
  return await new Promise((resolve) => {
    const s = createServer()
    s.once('error', (err) => { const out = listenError(err, setting); resolve(out instanceof HealthchainError ? out : new PortUnavailableError(setting, `${host}:${port}`, (err as Error).message)) })
    s.listen({ host, port, exclusive: true }, () => { s.close(() => { resolve(null) }) })
  })
}

/** The TCP port a listen multiaddr (`/ip4/…/tcp/N`, `/ip6/…/tcp/N`) names, with its host; null for other transports. */
export function tcpListenPort (addr: string): { host: string, port: number } | null {
  const m = /^\/(ip4|ip6)\/([^/]+)\/tcp\/(\d+)(\/|$)/.exec(addr)
  return m === null ? null : { host: m[2]!, port: Number(m[3]) }
}
