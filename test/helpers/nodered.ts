/**
 * Fixtures for the Node-RED unit tests: node-red-node-test-helper (loaded
 * once, typed minimally) and flow loading. Runtimes: ./nodered-runtime.ts.
 * (Tests that embed Node-RED must not import this file: the helper keeps a
 * timer alive after RED.stop().)
 */
import { createRequire } from 'node:module'
import { RUNTIMES_SETTING, type HealthchainRuntime } from '../../hub/src/nodered/runtime.ts'
import type { Msg, RedApi } from '../../hub/src/nodered/kit.ts'
import runtimeNode from '../../flows/nodes/lib/runtime.ts'

const require = createRequire(import.meta.url)

export interface TestNode {
  on: (ev: string, cb: (x: any) => void) => void
  once: (ev: string, cb: (x: any) => void) => void
  receive: (msg: Msg) => void
  error: { callCount: number }
}
interface Helper {
  init: (runtimePath: string) => void
  settings: (s: Record<string, unknown>) => void
  load: (nodes: Array<(RED: RedApi) => void>, flow: object[]) => Promise<void>
  unload: () => Promise<void>
  getNode: (id: string) => TestNode
}
export const helper = require('node-red-node-test-helper') as Helper
helper.init(require.resolve('node-red'))

export type NodeModule = (RED: RedApi) => void
export { doctorRuntime, reading, rng, userRuntime, type UserParts } from './nodered-runtime.ts'

/**
 * Loads `flow` (on tab "f1", with a runtime config node "rt" bound to
 * `runtimes.hub`) with our runtime node plus `nodes`; unloads at teardown.
 */
export async function loadFlow (t: { teardown: (fn: () => unknown) => void }, nodes: NodeModule[], flow: object[], runtimes: Record<string, HealthchainRuntime> | undefined): Promise<void> {
  helper.settings(runtimes === undefined ? {} : { [RUNTIMES_SETTING]: runtimes })
  await helper.load([runtimeNode, ...nodes], [{ id: 'f1', type: 'tab', label: 'test' }, { id: 'rt', type: 'healthchain-runtime', key: 'hub' }, ...flow])
  t.teardown(async () => { await helper.unload() })
}

/** The next message a helper node receives. */
export function next (id: string): Promise<Msg> {
  return new Promise((resolve) => { helper.getNode(id).once('input', resolve) })
}

/** Collects every message a helper node receives. */
export function collect (id: string): Msg[] {
  const out: Msg[] = []
  helper.getNode(id).on('input', (m: Msg) => { out.push(m) })
  return out
}

/** A catch node "c" on tab f1 wired to helper "caught". */
export const CATCH = [{ id: 'c', type: 'catch', z: 'f1', scope: null, uncaught: false, wires: [['caught']] }, { id: 'caught', type: 'helper', z: 'f1' }]
