/**
 * Who is at the other end of a connection to a daemon's control socket: the
 * peer's credentials as the kernel recorded them at connect (Linux
 * SO_PEERCRED, read by the tiny N-API addon in hub/native/peercred, built by
 * `npm ci` where a compiler is present). Without it (not Linux, or the build
 * failed) `peerCheck` is null and the server keeps its socket 0600, letting
 * the kernel refuse other users — refused, but not counted.
 */
import { createRequire } from 'node:module'
import type { Socket } from 'node:net'

export interface PeerCredentials { readonly uid: number, readonly gid: number, readonly pid: number }

type PeerFn = (fd: number) => PeerCredentials

function load (): { peer: PeerFn | null, why: string } {
  try {
    return createRequire(import.meta.url)('@healthchain/peercred') as { peer: PeerFn | null, why: string }
  } catch (err) { return { peer: null, why: (err as Error).message } }
}

const addon = load()

/** Why peer credentials cannot be read here ('' when they can). */
export const peerUnavailable: string = addon.peer === null ? addon.why || 'the @healthchain/peercred addon is not built' : ''

/** The credentials of a connected Unix socket's peer; throws when they cannot be read. */
export const peerCheck: ((sock: Socket) => PeerCredentials) | null = addon.peer === null
  ? null
  : (sock) => {
      const fd = (sock as unknown as { _handle?: { fd?: number } })._handle?.fd
      if (typeof fd !== 'number' || fd < 0) throw new Error('the connection has no file descriptor')
      return addon.peer!(fd)
    }
