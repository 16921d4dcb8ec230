/**
 * healthchain-runtime (config node, DESIGN §8): holds the hub's Healthchain
 * runtime — the object the embedding process injected under the Node-RED
 * setting `healthchainRuntimes[key]` (hub/src/nodered/runtime.ts). Every
 * other Healthchain node names one of these.
 */
import { injectedRuntime, prop, type NodeDef, type RedApi, type RedNode } from '../../../hub/src/nodered/kit.ts'

export default function (RED: RedApi): void {
  function HealthchainRuntimeNode (this: RedNode & { runtime?: unknown, key?: string }, def: NodeDef): void {
    RED.nodes.createNode(this, def)
    this.key = prop(def, 'key', 'hub')
    this.runtime = injectedRuntime(RED, this.key)
    if (this.runtime instanceof Error) this.warn(this.runtime.message)
  }
  RED.nodes.registerType('healthchain-runtime', HealthchainRuntimeNode)
}
