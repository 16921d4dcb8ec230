/**
 * The hub's config file (`healthchain hub --config <file>`;
 * hub/hub.example.json documents every field): parsed and checked here,
 * naming the first bad field, with nothing else loaded — `--check`, the
 * tests and the fuzzer read configs without starting a hub.
 */
import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { InvalidFieldError, NETWORKS } from './core/index.ts'

export interface HubConfig {
  readonly dataDir: string
  readonly network: 'devnet' | 'mainnet'
  readonly hubId: string
  readonly listen: readonly string[]
  readonly bootstrap: readonly string[]
  readonly mine: boolean
  readonly threads?: number
  readonly storageNodes: readonly string[]
  readonly replication: number
  readonly broker: { readonly embedded: { readonly host: string, readonly port: number } } | { readonly url: string, readonly username?: string, readonly passwordFile?: string }
  readonly serial: ReadonlyArray<{ readonly path: string, readonly baudRate?: number }>
  readonly http: { readonly host: string, readonly port: number }
}

export type Json = Record<string, unknown>
/** Field helpers, shared with the other config validators (roles/accounting/config.ts). */
export const isObj = (x: unknown): x is Json => x !== null && typeof x === 'object' && !Array.isArray(x)

export function str (o: Json, k: string, path: string, fallback?: string): string {
  const v = o[k] ?? fallback
  if (typeof v !== 'string' || v === '') throw new InvalidFieldError(`${path}${k}`, 'must be a non-empty string')
  return v
}
export function int (o: Json, k: string, path: string, min: number, max: number, fallback?: number): number {
  const v = o[k] ?? fallback
  if (!Number.isInteger(v) || (v as number) < min || (v as number) > max) throw new InvalidFieldError(`${path}${k}`, `must be an integer in [${min}, ${max}]`)
  return v as number
}
export function strings (o: Json, k: string, path: string): string[] {
  const v = o[k] ?? []
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string' && x !== '')) throw new InvalidFieldError(`${path}${k}`, 'must be a list of strings')
  return v as string[]
}

/** Checks a parsed config, naming the first bad field; fills the defaults. */
export function validateHubConfig (j: unknown, baseDir = '.'): HubConfig {
  if (!isObj(j)) throw new InvalidFieldError('config', 'must be a JSON object')
  const known = new Set(['dataDir', 'network', 'hubId', 'listen', 'bootstrap', 'mine', 'threads', 'storageNodes', 'replication', 'broker', 'serial', 'http'])
  for (const k of Object.keys(j)) if (!known.has(k)) throw new InvalidFieldError(k, `unknown setting (have: ${[...known].join(', ')})`)
  const network = str(j, 'network', '', 'devnet')
  if (!(network in NETWORKS)) throw new InvalidFieldError('network', `must be one of ${Object.keys(NETWORKS).join(', ')}`)
  const hubId = str(j, 'hubId', '', 'hub')
  if (!/^[a-z0-9-]{1,32}$/.test(hubId)) throw new InvalidFieldError('hubId', 'must match [a-z0-9-]{1,32}')
  if (j.mine !== undefined && typeof j.mine !== 'boolean') throw new InvalidFieldError('mine', 'must be true or false')
  const storageNodes = strings(j, 'storageNodes', '')
  if (storageNodes.some((a) => !a.includes('/p2p/'))) throw new InvalidFieldError('storageNodes', 'each must be a multiaddr ending in /p2p/<peer id>')
  const replication = int(j, 'replication', '', 1, 16, Math.min(2, Math.max(1, storageNodes.length)))
  if (storageNodes.length < replication) throw new InvalidFieldError('storageNodes', `${storageNodes.length} given, replication ${replication} needs at least that many`)
  const b = j.broker ?? { embedded: {} }
  if (!isObj(b)) throw new InvalidFieldError('broker', 'must be {"embedded": {…}} or {"url": …}')
  let broker: HubConfig['broker']
  if (isObj(b.embedded)) broker = { embedded: { host: str(b.embedded, 'host', 'broker.embedded.', '127.0.0.1'), port: int(b.embedded, 'port', 'broker.embedded.', 0, 65535, 1883) } }
  else if (typeof b.url === 'string') {
    if (!/^mqtts?:\/\//.test(b.url)) throw new InvalidFieldError('broker.url', 'must start with mqtt:// or mqtts://')
    broker = { url: b.url, ...(typeof b.username === 'string' ? { username: b.username } : {}), ...(typeof b.passwordFile === 'string' ? { passwordFile: resolve(baseDir, b.passwordFile) } : {}) }
  } else throw new InvalidFieldError('broker', 'must be {"embedded": {"host", "port"}} or {"url", "username", "passwordFile"}')
  const serialRaw = j.serial ?? []
  if (!Array.isArray(serialRaw)) throw new InvalidFieldError('serial', 'must be a list of {"path", "baudRate"}')
  const serial = serialRaw.map((s, i) => {
    if (!isObj(s)) throw new InvalidFieldError(`serial[${i}]`, 'must be {"path", "baudRate"}')
    return { path: str(s, 'path', `serial[${i}].`), ...(s.baudRate === undefined ? {} : { baudRate: int(s, 'baudRate', `serial[${i}].`, 300, 4_000_000) }) }
  })
  const h = j.http ?? {}
  if (!isObj(h)) throw new InvalidFieldError('http', 'must be {"host", "port"}')
  return {
    dataDir: resolve(baseDir, str(j, 'dataDir', '')),
    network: network as HubConfig['network'],
    hubId,
    listen: strings(j, 'listen', ''),
    bootstrap: strings(j, 'bootstrap', ''),
    mine: j.mine === true,
    ...(j.threads === undefined ? {} : { threads: int(j, 'threads', '', 1, 256) }),
    storageNodes,
    replication,
    broker,
    serial,
    http: { host: str(h, 'host', 'http.', '127.0.0.1'), port: int(h, 'port', 'http.', 0, 65535, 1880) }
  }
}

/**
 * A JSON config file's text, parsed and handed to `validate` (relative paths
 * resolve against `baseDir`): text that is no JSON is a typed error naming the file.
 */
export function parseConfigText<T> (text: string, baseDir: string, name: string, validate: (j: unknown, baseDir: string) => T): T {
  let j: unknown
  try { j = JSON.parse(text) } catch (err) {
    throw new InvalidFieldError('config', `${name}: ${(err as Error).message}`)
  }
  return validate(j, baseDir)
}

/** Reads a config file and parses it against its directory: a missing or unreadable file is a typed error naming it. */
export async function loadConfigFile<T> (file: string, parse: (text: string, baseDir: string, name: string) => T): Promise<T> {
  let text: string
  try { text = await readFile(file, 'utf8') } catch (err) {
    throw new InvalidFieldError('config', `${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`)
  }
  return parse(text, resolve(file, '..'), file)
}

/** A hub config file's text, parsed and checked; relative paths resolve against `baseDir`. */
export function parseHubConfig (text: string, baseDir: string, name = 'config'): HubConfig {
  return parseConfigText(text, baseDir, name, validateHubConfig)
}

export async function loadHubConfig (file: string): Promise<HubConfig> {
  return await loadConfigFile(file, parseHubConfig)
}
