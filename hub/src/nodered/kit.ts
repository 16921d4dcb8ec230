/**
 * The few Node-RED runtime shapes our node types use (node-red 5 ships no
 * types), and the adapter every Healthchain node type is built with
 * (DESIGN §8): resolve the `healthchain-runtime` config node, show a status
 * dot, run an (async) input handler, and report any failure with
 * `done(err)` — Node-RED turns that into `node.error(err, msg)`, which is
 * what Catch nodes see.
 */
import { randomBytes } from 'node:crypto'
import { HealthchainError } from '../core/index.ts'
import { NoRuntimeError } from './errors.ts'
import { RUNTIMES_SETTING, type HealthchainRuntime, type RuntimeTable } from './runtime.ts'

export type Msg = Record<string, unknown> & { payload?: unknown, _msgid?: string }
export type Send = (msg: Msg | Array<Msg | Msg[] | null> | null) => void
export type Done = (err?: Error) => void

export interface NodeStatus { fill?: 'red' | 'green' | 'yellow' | 'blue' | 'grey', shape?: 'ring' | 'dot', text?: string }

export interface RedNode {
  readonly id: string
  readonly type: string
  readonly name?: string
  on: ((event: 'input', cb: (msg: Msg, send: Send, done: Done) => void) => void) &
    ((event: 'close', cb: (removed: boolean, done: () => void) => void) => void)
  send: Send
  status: (s: NodeStatus | Record<string, never>) => void
  error: (err: unknown, msg?: Msg) => void
  warn: (what: unknown) => void
  log: (what: unknown) => void
}

export interface NodeDef {
  readonly id: string
  readonly type: string
  readonly name?: string
  /** id of the healthchain-runtime config node */
  readonly runtime?: string
  readonly [prop: string]: unknown
}

export interface RedApi {
  nodes: {
    createNode: (node: RedNode, def: NodeDef) => void
    registerType: (type: string, ctor: (this: RedNode, def: NodeDef) => void, opts?: Record<string, unknown>) => void
    getNode: (id: string) => unknown
  }
  settings: Record<string, unknown>
}

export interface RuntimeConfigNode extends RedNode {
  /** The injected runtime, or the reason there is none. */
  readonly runtime: HealthchainRuntime | NoRuntimeError
}

export const status = {
  ok: (text: string): NodeStatus => ({ fill: 'green', shape: 'dot', text }),
  busy: (text: string): NodeStatus => ({ fill: 'blue', shape: 'ring', text }),
  idle: (text: string): NodeStatus => ({ fill: 'grey', shape: 'ring', text }),
  warn: (text: string): NodeStatus => ({ fill: 'yellow', shape: 'ring', text }),
  fail: (err: unknown): NodeStatus => ({ fill: 'red', shape: 'ring', text: err instanceof HealthchainError ? err.code : err instanceof Error ? err.name : 'error' })
}

/** Looks up the runtime an embedding process injected under `healthchainRuntimes[key]`. */
export function injectedRuntime (RED: RedApi, key: string): HealthchainRuntime | NoRuntimeError {
  const table = RED.settings[RUNTIMES_SETTING] as RuntimeTable | undefined
  if (table === undefined || table === null || typeof table !== 'object') return new NoRuntimeError(`Node-RED setting ${RUNTIMES_SETTING} is not set (the hub injects it when it embeds Node-RED)`)
  const rt = Object.hasOwn(table, key) ? table[key] : undefined
  if (rt === undefined) return new NoRuntimeError(`no runtime named "${key}" (have: ${Object.keys(table).join(', ') || 'none'})`)
  return rt
}

/** The runtime of a node's config node, or NoRuntimeError. */
export function runtimeOf (RED: RedApi, def: NodeDef): HealthchainRuntime {
  if (typeof def.runtime !== 'string' || def.runtime === '') throw new NoRuntimeError('the node has no healthchain-runtime config node')
  const cfg = RED.nodes.getNode(def.runtime) as RuntimeConfigNode | null
  if (cfg === null || cfg === undefined || !('runtime' in cfg)) throw new NoRuntimeError(`config node ${def.runtime} is missing or not a healthchain-runtime`)
  if (cfg.runtime instanceof Error) throw cfg.runtime
  return cfg.runtime
}

/** One message, or one entry per output (each a message, several messages, or null). */
export type Out = Msg | Array<Msg | Msg[] | null> | null

export interface Adapter {
  /** Handles one message; returns what to send (null: nothing). Throw to report an error. */
  input?: (msg: Msg, send: Send) => Out | Promise<Out>
  close?: () => void | Promise<void>
  /** Messages for which this says true are handled at once, beside the others, not in arrival order (a durable batch: its steps are serialized by the store, and no batch waits for another's). */
  concurrent?: (msg: Msg) => boolean
}

/**
 * Registers `type`: `setup` builds the adapter for each node instance (it
 * may throw — the node then shows a red ring and reports the error on every
 * message). Messages are handled one after another in arrival order, so an
 * async step (an upload) never reorders the stream — except those the
 * adapter marks `concurrent`.
 */
export function defineNode (RED: RedApi, type: string, setup: (node: RedNode, def: NodeDef) => Adapter, opts?: Record<string, unknown>): void {
  function HealthchainNode (this: RedNode, def: NodeDef): void {
    RED.nodes.createNode(this, def)
    const node = this
    let adapter: Adapter
    try {
      adapter = setup(node, def)
    } catch (err) {
      node.status(status.fail(err))
      node.error(err)
      adapter = { input: () => { throw err } }
    }
    // In arrival order: a message waits only while an earlier one is still in an async step.
    let tail: Promise<void> | null = null
    const fail = (err: unknown, done: Done): void => {
      node.status(status.fail(err))
      done(err instanceof Error ? err : new Error(String(err)))
    }
    const handle = (msg: Msg, send: Send, done: Done): Promise<void> | undefined => {
      let out: Out | Promise<Out> | undefined
      try { out = adapter.input?.(msg, send) } catch (err) { fail(err, done); return undefined }
      if (out instanceof Promise) return out.then((o) => { if (o !== null && o !== undefined) send(o); done() }, (err: unknown) => { fail(err, done) })
      if (out !== null && out !== undefined) send(out)
      done()
      return undefined
    }
    const chain = (p: Promise<void>): void => {
      const t: Promise<void> = p.finally(() => { if (tail === t) tail = null })
      tail = t
    }
    node.on('input', (msg, send, done) => {
      if (adapter.concurrent?.(msg) === true) { void handle(msg, send, done); return }
      if (tail === null) {
        const p = handle(msg, send, done)
        if (p !== undefined) chain(p)
      } else {
        chain(tail.then(() => handle(msg, send, done)))
      }
    })
    node.on('close', (_removed, done) => {
      Promise.resolve(adapter.close?.()).catch((err: unknown) => { node.error(err) }).finally(done)
    })
  }
  RED.nodes.registerType(type, HealthchainNode, opts)
}

/** A string property of the node definition, trimmed, with a default. */
export function prop (def: NodeDef, name: string, dflt = ''): string {
  const v = def[name]
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : typeof v === 'number' ? String(v) : dflt
}

/** A non-negative number property of the node definition. */
export function numProp (def: NodeDef, name: string, dflt: number): number {
  const raw = def[name]
  if (raw === undefined || raw === '' || raw === null) return dflt
  const v = Number(raw)
  if (!Number.isFinite(v) || v < 0) throw new HealthchainError('ERR_BAD_CONFIG', name, `must be a number ≥ 0, got ${JSON.stringify(raw)}`)
  return v
}

/**
 * A status setter for hot nodes: shows the first status at once, then at
 * most one every `ms` (always ending on the latest), so a node passing
 * tens of thousands of readings a second does not flood the editor. Given
 * a function, the status is made only when it is shown (not once per
 * reading).
 */
export function throttledStatus (node: RedNode, ms = 250): { set: (s: NodeStatus | (() => NodeStatus)) => void, close: () => void } {
  let last = 0
  let pending: NodeStatus | (() => NodeStatus) | undefined
  let timer: NodeJS.Timeout | undefined
  const flush = (): void => {
    timer = undefined
    if (pending === undefined) return
    last = Date.now()
    node.status(typeof pending === 'function' ? pending() : pending)
    pending = undefined
  }
  return {
    set: (s) => {
      pending = s
      if (timer !== undefined) return
      const wait = last + ms - Date.now()
      if (wait <= 0) flush()
      else timer = setTimeout(flush, wait)
    },
    close: () => { clearTimeout(timer); timer = undefined }
  }
}

/**
 * Message ids (msg._msgid) for a node that emits a message per reading:
 * 16 hex digits, like Node-RED's own, from a random per-node prefix and a
 * counter. Node-RED draws eight Math.random() bytes and formats each for
 * every message it sends without one, which cost more than the rest of the
 * send.
 */
export function msgIds (): () => string {
  const prefix = randomBytes(4).toString('hex')
  let n = 0
  return () => prefix + ((n++) >>> 0).toString(16).padStart(8, '0')
}
