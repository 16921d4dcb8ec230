/**
 * The OpenAPI 3.1 description of a daemon's control API, generated from
 * the route table — the same zod schemas that validate the requests
 * (z.toJSONSchema, input side) — and served at GET /v1/openapi.json.
 */
import { z } from '../config/schema.ts'
import type { Route } from './route.ts'

const ERROR = {
  type: 'object',
  required: ['error', 'field', 'message'],
  properties: { error: { type: 'string', description: 'error code, e.g. ERR_API_MALFORMED' }, field: { type: 'string', description: 'the field at fault, e.g. body.doctor' }, message: { type: 'string' } }
}

function schemaOf (s: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const js = z.toJSONSchema(s, { io, target: 'draft-2020-12', unrepresentable: 'any' }) as Record<string, unknown>
  delete js.$schema
  return js
}

function parameters (s: z.ZodObject | undefined, where: 'path' | 'query'): unknown[] {
  if (s === undefined) return []
  const js = schemaOf(s, 'input') as { properties?: Record<string, Record<string, unknown>>, required?: string[] }
  return Object.entries(js.properties ?? {}).map(([name, schema]) => ({
    name, in: where, required: where === 'path' || (js.required ?? []).includes(name), schema, ...(typeof schema.description === 'string' ? { description: schema.description } : {})
  }))
}

export function openApiDocument (name: string, routes: readonly Route[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {}
  for (const r of routes) {
    const op: Record<string, unknown> = {
      summary: r.summary,
      operationId: `${r.method.toLowerCase()}${r.path.replace(/^\/v1/, '').replace(/[{}]/g, '').split('/').map((s) => s.charAt(0).toUpperCase() + s.slice(1)).join('').replace(/-(\w)/g, (_m, c: string) => c.toUpperCase())}`,
      parameters: [...parameters(r.params as z.ZodObject | undefined, 'path'), ...parameters(r.query as z.ZodObject | undefined, 'query')],
      ...(r.body === undefined ? {} : { requestBody: { required: true, content: { 'application/json': { schema: schemaOf(r.body, 'input') } } } }),
      responses: {
        200: r.stream !== undefined
          ? { description: 'newline-delimited JSON, one object per line', content: { 'application/x-ndjson': {} } }
          : { description: 'ok', content: { 'application/json': { schema: r.result === undefined ? {} : schemaOf(r.result, 'output') } } },
        400: { description: 'malformed request (the field is named)', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
        401: { description: 'no cookie, or not the cookie this daemon wrote at its start', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
        409: { description: 'refused by the daemon (e.g. the node rejected the transaction)', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } }
      }
    }
    ;(paths[r.path] ??= {})[r.method.toLowerCase()] = op
  }
  return {
    openapi: '3.1.0',
    info: { title: `healthchain ${name} control API`, version: '1', description: 'Local control API: HTTP/JSON on the data dir\'s Unix socket (api.sock: only the daemon\'s own user, checked by its peer credentials — clients of other users are answered 403 ERR_API_OTHER_USER and counted — or, where those cannot be read, by mode 0600) or loopback TCP; every request carries "Authorization: Bearer <contents of <dataDir>/.cookie>", a file (0600) rewritten at every start. Built in besides the routes below: GET /v1/health, GET /v1/api (request counters, refusals by reason), GET /v1/openapi.json.' },
    paths,
    components: { schemas: { Error: ERROR }, securitySchemes: { cookie: { type: 'http', scheme: 'bearer', description: 'the contents of <dataDir>/.cookie' } } },
    security: [{ cookie: [] }]
  }
}
