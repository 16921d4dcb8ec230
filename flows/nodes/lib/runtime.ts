/**
 * healthchain-runtime (config node, DESIGN §8): holds the Healthchain
 * runtime every other Healthchain node names. Inside the hub it is the
 * object the hub injected under the Node-RED setting
 * `healthchainRuntimes[key]` (hub/src/nodered/runtime.ts), with nothing to
 * set up. In any other Node-RED (the palette installed with `npm install`
 * in its user dir) it reaches a running hub through the hub's control API:
 * its Unix socket (`<hub dataDir>/api.sock`) or loopback URL, and the cookie
 * file the hub writes at every start (`<hub dataDir>/.cookie`), read again
 * whenever the hub answers that the cookie changed.
 */
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { injectedRuntime, prop, type NodeDef, type RedApi, type RedNode } from '../../../hub/src/nodered/kit.ts'
import { NoRuntimeError } from '../../../hub/src/nodered/errors.ts'
import { remoteRuntime } from '../../../hub/src/nodered/remote.ts'
import { RUNTIMES_SETTING } from '../../../hub/src/nodered/runtime.ts'

export default function (RED: RedApi): void {
  function HealthchainRuntimeNode (this: RedNode & { runtime?: unknown, key?: string, on: (e: 'close', cb: (removed: boolean, done: () => void) => void) => void }, def: NodeDef): void {
    RED.nodes.createNode(this, def)
    this.key = prop(def, 'key', 'hub')
    const socket = prop(def, 'socket')
    const url = prop(def, 'url')
    const injected = injectedRuntime(RED, this.key)
    if (!(injected instanceof Error)) { this.runtime = injected; return }
    if (socket === '' && url === '') {
      // neither inside the hub nor pointed at one
      this.runtime = RED.settings[RUNTIMES_SETTING] === undefined
        ? new NoRuntimeError(`${injected.message.replace(/^runtime: /, '')}; outside the hub, give the hub's control API socket (<hub dataDir>/api.sock) or URL and its cookie file`)
        : injected
      this.warn((this.runtime as Error).message)
      return
    }
    // the cookie file: as given, else beside the socket (the hub's data dir)
    const cookieFile = prop(def, 'cookie', socket !== '' ? join(dirname(socket), '.cookie') : '')
    if (cookieFile === '') { this.runtime = new NoRuntimeError('no cookie file: give the hub\'s <dataDir>/.cookie'); this.warn((this.runtime as Error).message); return }
    const target = (): { socket?: string, url?: string, cookie: string } => ({ ...(socket !== '' ? { socket } : { url }), cookie: readFileSync(cookieFile, 'utf8').trim() })
    try {
      const rt = remoteRuntime({ target })
      this.runtime = rt
      this.on('close', (_removed, done) => { rt.close(); done() })
    } catch (err) {
      this.runtime = new NoRuntimeError(`cannot use the hub's control API: ${(err as Error).message}`)
      this.warn((this.runtime as Error).message)
    }
  }
  RED.nodes.registerType('healthchain-runtime', HealthchainRuntimeNode)
}
