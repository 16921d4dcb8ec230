/**
 * One schema library for every daemon's config file (and the control API):
 * zod 4. A config is described once as a zod schema of the file as written;
 * the same schema validates it, fills static defaults, gives the TypeScript
 * type and, through z.toJSONSchema, the JSON Schema shipped in hub/schemas/
 * so editors complete config files. A refusal is an InvalidFieldError naming
 * the first bad field as a path (`registry.doctors[2]`), with a message a
 * person can act on instead of zod's generic one.
 */
import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import * as z from 'zod'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { base58btc } from 'multiformats/bases/base58'
import * as Digest from 'multiformats/hashes/digest'
import { InvalidFieldError } from '../core/index.ts'

export { z }

/** `a.b[2].c` for a zod issue path. */
export function fieldPath (path: ReadonlyArray<PropertyKey>): string {
  let out = ''
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `${out === '' ? '' : '.'}${String(p)}`
  return out === '' ? 'config' : out
}

/** The keys an object schema found at `path` inside `schema` allows (for "unknown setting" messages). */
export function knownKeys (schema: z.ZodType, path: ReadonlyArray<PropertyKey>): string[] {
  let s: z.core.$ZodType | undefined = schema
  const rest = [...path]
  while (s !== undefined) {
    const def = s._zod.def as unknown as { type: string, shape?: Record<string, z.core.$ZodType>, innerType?: z.core.$ZodType, in?: z.core.$ZodType, element?: z.core.$ZodType }
    if (def.type === 'object') {
      if (rest.length === 0) return Object.keys(def.shape ?? {}).filter((k) => k !== '$schema')
      s = def.shape?.[String(rest.shift())]
    } else if (def.type === 'array') { rest.shift(); s = def.element } else s = def.innerType ?? def.in
  }
  return []
}

/** The first issue of a failed parse of `schema` as the typed error the CLIs print. */
export function firstIssue (err: z.ZodError, schema: z.ZodType): InvalidFieldError {
  const issue = err.issues[0]!
  if (issue.code === 'unrecognized_keys') {
    const where = fieldPath(issue.path)
    const key = issue.keys[0]!
    return new InvalidFieldError(where === 'config' ? key : `${where}.${key}`, `unknown setting (have: ${knownKeys(schema, issue.path).join(', ')})`)
  }
  return new InvalidFieldError(fieldPath(issue.path), issue.message)
}

/** Parses `j` with `schema`, throwing InvalidFieldError naming the first bad field. */
export function parseWith<S extends z.ZodType> (schema: S, j: unknown): z.output<S> {
  const r = schema.safeParse(j)
  if (!r.success) throw firstIssue(r.error, schema)
  return r.data
}

// Building blocks shared by the config schemas, each with the message the CLI prints.

export const nonEmpty = (): z.ZodString => z.string({ error: 'must be a non-empty string' }).min(1, { error: 'must be a non-empty string' })

export function intIn (min: number, max: number): z.ZodInt {
  const error = `must be an integer in [${min}, ${max}]`
  return z.int({ error }).min(min, { error }).max(max, { error })
}

export const port = (): z.ZodInt => intIn(0, 65535)

/** A list of non-empty strings. */
export const strings = (what = 'strings'): z.ZodArray<z.ZodString> => z.array(nonEmpty(), { error: `must be a list of ${what}` })

/** An identity (Ed25519 public key) as 64 hex digits; lower-cased. */
export const hexId = (): z.ZodPipe<z.ZodString, z.ZodTransform<string, string>> =>
  z.string({ error: 'must be an ID: 64 hex digits' }).regex(/^[0-9a-fA-F]{64}$/, { error: 'must be an ID: 64 hex digits' }).transform((s) => s.toLowerCase())

/**
 * Why `s` is not a multiaddr libp2p can use (unknown protocol, bad address
 * or port, a /p2p/ value that is no peer id), or null. A peer id is the
 * base58btc multihash of the peer's public key (identity or SHA-256).
 */
export function multiaddrProblem (s: string): string | null {
  let m: Multiaddr
  try { m = multiaddr(s) } catch (err) {
    return `not a multiaddr (${(err as Error).message}); write e.g. /ip4/192.168.1.20/tcp/4001`
  }
  for (const c of m.getComponents()) {
    if (c.name !== 'p2p') continue
    try {
      const d = Digest.decode(base58btc.decode(`z${c.value ?? ''}`))
      if (d.code !== 0x00 && d.code !== 0x12) return `/p2p/${c.value ?? ''} is not a peer id`
    } catch { return `/p2p/${c.value ?? ''} is not a peer id (the 12D3KooW… a node prints)` }
  }
  return null
}

const checkMultiaddr = (s: string, ctx: z.core.$RefinementCtx<string>): void => {
  const why = multiaddrProblem(s)
  if (why !== null) ctx.addIssue({ code: 'custom', message: why, input: s })
}

/** A list of libp2p multiaddrs (listen or dial addresses), each checked offline. */
export const multiaddrs = (): z.ZodArray<z.ZodString> => z.array(nonEmpty().check(z.superRefine(checkMultiaddr)), { error: 'must be a list of multiaddrs' })

/** A libp2p multiaddr that names its peer (`…/p2p/<peer id>`). */
export const p2pAddr = (): z.ZodString =>
  z.string({ error: 'must be a multiaddr ending in /p2p/<peer id>' }).regex(/^\/.*\/p2p\/[1-9A-HJ-NP-Za-km-z]+$/, { error: 'must be a multiaddr ending in /p2p/<peer id>' })
    .check(z.superRefine(checkMultiaddr))

/** A network name of `names`. */
export function oneOf<const T extends readonly [string, ...string[]]> (names: T): z.ZodEnum<{ [K in T[number]]: K }> {
  return z.enum(names, { error: `must be one of ${names.join(', ')}` })
}

/** The `$schema` key a config may carry so editors find its JSON Schema. */
export const schemaRef = z.string().optional().describe('the JSON Schema of this file, for editors (e.g. "./node_modules/healthchain/hub/schemas/hub.schema.json")')

/**
 * The JSON Schema of a config file: what may be written in it (zod's input
 * side: defaults are optional, transforms are their input type).
 */
export function jsonSchemaOf (schema: z.ZodType, id: string, title: string): Record<string, unknown> {
  const js = z.toJSONSchema(schema, { io: 'input', target: 'draft-2020-12', unrepresentable: 'any' }) as Record<string, unknown>
  return { $schema: js.$schema, $id: id, title, ...Object.fromEntries(Object.entries(js).filter(([k]) => k !== '$schema')) }
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
    throw new InvalidFieldError('--config', `${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`)
  }
  return parse(text, resolve(file, '..'), file)
}
