/**
 * A control-API route: method, versioned path (`/v1/…`, OpenAPI-style
 * `{name}` parameters), the zod schemas of its path parameters, query and
 * JSON body, and the service call it makes. The server validates with the
 * same schemas the OpenAPI description is generated from (openapi.ts), so
 * the two cannot drift.
 */
import type { ServerResponse } from 'node:http'
import { fieldPath, z } from '../config/schema.ts'
import { MalformedRequestError } from './errors.ts'

export type Method = 'GET' | 'POST' | 'DELETE'

type Obj = z.ZodObject
type Out<S> = S extends z.ZodType ? z.output<S> : Record<string, never>

export interface Input<P, Q, B> { readonly params: Out<P>, readonly query: Out<Q>, readonly body: Out<B> }

export interface Route<P extends Obj | undefined = Obj | undefined, Q extends Obj | undefined = Obj | undefined, B extends z.ZodType | undefined = z.ZodType | undefined> {
  readonly method: Method
  readonly path: string
  readonly summary: string
  readonly params?: P
  readonly query?: Q
  readonly body?: B
  /** Largest accepted body in bytes (default 64 KiB). */
  readonly maxBody?: number
  /** What a success answers (for the OpenAPI description; default any JSON). */
  readonly result?: z.ZodType
  /** The service call: its JSON-able result is the response body. */
  readonly handler?: (input: Input<P, Q, B>) => Promise<unknown>
  /** A long-lived response (NDJSON lines) instead of one JSON body. */
  readonly stream?: (input: Input<P, Q, B>, res: ServerResponse) => void
}

/** Declares a route with its input types inferred from its schemas. */
export function route<P extends Obj | undefined = undefined, Q extends Obj | undefined = undefined, B extends z.ZodType | undefined = undefined> (r: Route<P, Q, B>): Route {
  return r as unknown as Route
}

/** Parses one part of a request, throwing MalformedRequestError naming the field (`body.doctor`, `query.id`). */
export function parsePart (schema: z.ZodType | undefined, value: unknown, part: 'params' | 'query' | 'body'): unknown {
  if (schema === undefined) return {}
  const r = schema.safeParse(value)
  if (r.success) return r.data
  const issue = r.error.issues[0]!
  const sub = issue.path.length === 0 ? '' : fieldPath(issue.path)
  const where = sub === '' ? part : sub.startsWith('[') ? `${part}${sub}` : `${part}.${sub}`
  if (issue.code === 'unrecognized_keys') return fail(`${where === part ? part : where}.${issue.keys[0]!}`, 'unknown field')
  return fail(where, issue.message)
}

function fail (field: string, why: string): never { throw new MalformedRequestError(field, why) }

/** Splits `/v1/chain/block/{ref}` into literal segments and parameter names. */
export function compilePath (path: string): Array<{ lit: string } | { param: string }> {
  return path.split('/').slice(1).map((s) => /^\{\w+\}$/.test(s) ? { param: s.slice(1, -1) } : { lit: s })
}

// Schema pieces shared by the daemons' routes, each with the message a client sees.
export const hex32 = (what = 'ID'): z.ZodPipe<z.ZodString, z.ZodTransform<string, string>> =>
  z.string({ error: `must be ${what === 'ID' ? 'an ID' : `a ${what}`}: 64 hex digits` }).regex(/^[0-9a-fA-F]{64}$/, { error: `must be ${what === 'ID' ? 'an ID' : `a ${what}`}: 64 hex digits` }).transform((s) => s.toLowerCase())
export const units = (): z.ZodInt => z.int({ error: 'must be a whole number of Healthcoin units' }).min(0, { error: 'must be a whole number of Healthcoin units' }).max(Number.MAX_SAFE_INTEGER, { error: 'must be a whole number of Healthcoin units' })
