/**
 * How a command reaches the daemon on its data dir: through the daemon's
 * control API when one runs there (its socket answers, the cookie is
 * readable), else directly on the data dir — which the daemon, while it
 * runs, holds locked. Either way the same service function does the work
 * (app/hub-service.ts); only where it runs differs.
 *
 * Exit codes (README "Exit codes"): 0 done; 1 refused or failed (bad
 * input, the node refused the transaction, not found); 2 usage (unknown
 * command or option, missing argument); 3 the daemon's control API could
 * not be used (socket or cookie of another user, cookie refused, or no
 * daemon running for a command that needs one).
 */
import { ApiClient } from '../api/client.ts'
import { ApiAccessError, ApiError, DaemonNotRunningError } from '../api/errors.ts'
import { plain } from '../app/hub-service.ts'
import { dataDir } from './_common.ts'

export const EXIT = { ok: 0, failed: 1, usage: 2, api: 3 } as const

/** Runs `api` against the running daemon on the data dir, else `direct` on the data dir itself. */
export async function viaDaemon<T> (dir: string | undefined, api: (c: ApiClient) => Promise<T>, direct: () => Promise<T>): Promise<T> {
  const c = await ApiClient.running(dataDir(dir))
  if (c === null) return await direct()
  try { return await api(c) } finally { c.close() }
}

/** Runs `api` against the running daemon; without one, says so (exit 3). */
export async function needDaemon<T> (dir: string | undefined, api: (c: ApiClient) => Promise<T>): Promise<T> {
  return await viaDaemon(dir, api, async () => { throw new DaemonNotRunningError(`${dataDir(dir)} (start the hub first: this command acts on a running hub)`) })
}

/** Prints `value` as JSON with --json, else the text. */
export function output (o: { json?: boolean }, value: unknown, text: () => string): void {
  process.stdout.write(o.json === true ? JSON.stringify(plain(value)) + '\n' : text() + '\n')
}

/** The exit code for an error a command threw. */
export function exitCodeOf (err: unknown): number {
  if (err instanceof ApiAccessError || err instanceof DaemonNotRunningError) return EXIT.api
  if (err instanceof ApiError && err.status === 401) return EXIT.api
  return EXIT.failed
}
