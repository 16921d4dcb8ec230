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
import type { Command } from 'commander'
import { ApiClient } from '../api/client.ts'
import { startApiServer, type ApiServer } from '../api/server.ts'
import type { Route } from '../api/route.ts'
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
export async function needDaemon<T> (dir: string | undefined, api: (c: ApiClient) => Promise<T>, daemon = 'hub'): Promise<T> {
  return await viaDaemon(dir, api, async () => { throw new DaemonNotRunningError(`${dataDir(dir)} (start the ${daemon} first: this command acts on a running ${daemon})`) })
}

/** Prints `value` as JSON with --json, else the text. */
export function output (o: { json?: boolean }, value: unknown, text: () => string): void {
  process.stdout.write(o.json === true ? JSON.stringify(plain(value)) + '\n' : text() + '\n')
}

/** The exit code for an error a command threw. */
export function exitCodeOf (err: unknown): number {
  if (err instanceof ApiAccessError || err instanceof DaemonNotRunningError) return EXIT.api
  if (err instanceof ApiError && (err.status === 401 || err.status === 403)) return EXIT.api
  return EXIT.failed
}

/** Starts a daemon's control API on its data dir; if it cannot, stops the daemon and throws. */
export async function startDaemonApi (dir: string, name: string, routes: Route[], stopDaemon: () => Promise<void>): Promise<ApiServer> {
  try { return await startApiServer({ dataDir: dir, name, routes }) } catch (err) { await stopDaemon(); throw err }
}

/**
 * `<parent> <spec> --data-dir <dir> [--json]`: GET `path(...args)` of the
 * daemon running on the data dir, printed as JSON with --json, else as
 * `text` makes it; without a running daemon, exit 3.
 */
export function registerGet (parent: Command, spec: string, description: string, path: (...args: string[]) => string, text: (v: unknown) => string = (v) => JSON.stringify(v, null, 2), daemon = 'daemon'): Command {
  return parent.command(spec)
    .description(description)
    .option('--data-dir <dir>', 'the daemon\'s data directory (its config\'s dataDir)')
    .option('--json', 'machine-readable output')
    .action(async (...args: unknown[]) => {
      const o = args[args.length - 2] as { dataDir?: string, json?: boolean }
      const v = await needDaemon(o.dataDir, async (c) => await c.call('GET', path(...args.slice(0, -2).map(String))), daemon)
      output(o, v, () => text(v))
    })
}

/** `healthchain <name> --data-dir <dir>`: GET /v1/status of the daemon running there. */
export function registerStatus (program: Command, name: string, description: string): void {
  registerGet(program, name, description, () => '/v1/status')
}
