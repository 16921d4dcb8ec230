/**
 * A contract checker for an HTTP API described by an OpenAPI 3.0 document:
 * a `fetch` that validates every request before it is sent and every
 * response as it arrives, with the libraries made for it
 * (openapi-request-validator, openapi-response-validator: ajv over the
 * document's schemas), and records each exchange so a test can assert that
 * all of them held and which operations and statuses it exercised.
 *
 * Request values are read as the document's parameter styles say (form,
 * explode false: comma-separated arrays; `content: application/json`: JSON)
 * before validation, as a server framework would.
 */
import { readFile } from 'node:fs/promises'
import requestValidatorModule from 'openapi-request-validator'
import responseValidatorModule from 'openapi-response-validator'
import { load as parseYaml } from 'js-yaml'

type Json = Record<string, unknown>

// CommonJS modules compiled from ES modules: under Node's ESM loader their class is the default export's `default`
const OpenAPIRequestValidator = (requestValidatorModule as unknown as { default: typeof requestValidatorModule.default }).default
const OpenAPIResponseValidator = (responseValidatorModule as unknown as { default: typeof responseValidatorModule.default }).default

export interface Exchange {
  readonly operationId: string
  readonly method: string
  readonly url: string
  readonly status: number
  /** What the request validator found (empty: the request matches the document). */
  readonly requestErrors: string[]
  /** What the response validator found, and whether the status is one the operation lists. */
  readonly responseErrors: string[]
  /** The test said this request breaks the document on purpose (to see the refusal). */
  readonly invalidOnPurpose: boolean
}

/** RFC 3339 §5.6 date-time (the document's `format: date-time`). */
const DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/
const FORMATS = { 'date-time': (s: string) => DATE_TIME.test(s) && !Number.isNaN(Date.parse(s)) }

export class OpenApiContract {
  readonly doc: Json
  readonly exchanges: Exchange[] = []
  /** Set around a request that breaks the document on purpose. */
  invalidOnPurpose = false
  private readonly ops: Array<{ method: string, re: RegExp, names: string[], op: Json, params: Json[] }> = []

  private constructor (doc: Json) {
    this.doc = doc
    for (const [path, item] of Object.entries(doc.paths as Record<string, Json>)) {
      const names: string[] = []
      const re = new RegExp('^' + path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{([^}]+)\}/g, (_, n: string) => { names.push(n); return '([^/]+)' }) + '$')
      for (const method of ['get', 'post', 'put', 'delete', 'patch']) {
        const op = item[method] as Json | undefined
        if (op === undefined) continue
        // parameters inlined whole: the request validator does not follow a $ref inside a parameter's schema
        const params = [...(item.parameters as Json[] | undefined ?? []), ...(op.parameters as Json[] | undefined ?? [])].map((p) => this.inline(p) as Json)
        this.ops.push({ method: method.toUpperCase(), re, names, op, params })
      }
    }
  }

  /** Reads an OpenAPI document (YAML or JSON). */
  static async load (file: string): Promise<OpenApiContract> {
    return new OpenApiContract(parseYaml(await readFile(file, 'utf8')) as Json)
  }

  get info (): { title: string, version: string, openapi: string } {
    const i = this.doc.info as { title: string, version: string }
    return { title: i.title, version: i.version, openapi: String(this.doc.openapi) }
  }

  /** Every operationId the document defines. */
  get operationIds (): string[] { return this.ops.map((o) => String(o.op.operationId)) }

  /** A fetch against `base` (the server URL the document's paths hang from) that checks and records each exchange. */
  fetchFor (base: string): typeof fetch {
    const prefix = new URL(base).pathname.replace(/\/+$/, '')
    return async (input, init) => {
      const url = new URL(String(input))
      const method = (init?.method ?? 'GET').toUpperCase()
      const path = url.pathname.startsWith(prefix) ? url.pathname.slice(prefix.length) : url.pathname
      const found = this.ops.map((o) => ({ o, m: o.method === method ? o.re.exec(path) : null })).find((x) => x.m !== null)
      if (found === undefined) throw new Error(`${method} ${path} is not an operation of ${this.info.title}`)
      const { o, m } = found
      const headers = Object.fromEntries(new Headers(init?.headers).entries())
      const bodyText = typeof init?.body === 'string' ? init.body : undefined
      const request = {
        headers,
        params: Object.fromEntries(o.names.map((n, i) => [n, decodeURIComponent(m![i + 1]!)])),
        query: this.readQuery(o.params, url.searchParams),
        body: bodyText === undefined ? undefined : JSON.parse(bodyText) as unknown
      }
      const reqValidator = new OpenAPIRequestValidator({
        parameters: o.params as never,
        ...(o.op.requestBody === undefined ? {} : { requestBody: this.deref(o.op.requestBody as Json) as never }),
        componentSchemas: (this.doc.components as Json).schemas as never,
        customFormats: FORMATS
      })
      const reqErr = reqValidator.validateRequest(request) as { errors?: Array<{ path?: string, message: string }> } | undefined
      const requestErrors = (reqErr?.errors ?? []).map((e) => `${e.path ?? ''} ${e.message}`.trim())
      // the document's security: a bearer token on every request
      if (!/^Bearer \S+$/.test(headers.authorization ?? '') && this.doc.security !== undefined) requestErrors.push('no bearer token (securitySchemes.accessToken)')

      const res = await fetch(url, init)
      const text = await res.text()
      const responses = Object.fromEntries(Object.entries(o.op.responses as Json).map(([k, v]) => [k, this.deref(v as Json)]))
      const responseErrors: string[] = []
      const listed = String(res.status) in responses || `${String(res.status)[0]}XX` in responses || 'default' in responses
      if (!listed) responseErrors.push(`status ${res.status} is not a response of ${String(o.op.operationId)}`)
      let body: unknown
      if (text !== '') {
        if (!/^application\/json\b/.test(res.headers.get('content-type') ?? '')) responseErrors.push(`content-type ${res.headers.get('content-type') ?? 'none'}, want application/json`)
        try { body = JSON.parse(text) } catch { responseErrors.push('the body is not JSON') }
      }
      if (listed) {
        const v = new OpenAPIResponseValidator({ responses: responses as never, components: this.doc.components as never, customFormats: FORMATS })
        const err = v.validateResponse(res.status, body) as { errors?: Array<{ path?: string, message: string }> } | undefined
        for (const e of err?.errors ?? []) responseErrors.push(`${e.path ?? ''} ${e.message}`.trim())
      }
      this.exchanges.push({ operationId: String(o.op.operationId), method, url: url.toString(), status: res.status, requestErrors, responseErrors, invalidOnPurpose: this.invalidOnPurpose })
      return new Response(text === '' ? null : text, { status: res.status, headers: res.headers })
    }
  }

  /** Resolves a local `$ref` (`#/components/...`) to its object, once (schemas inside stay refs: ajv resolves them). */
  private deref (x: Json): Json {
    const ref = x.$ref
    if (typeof ref !== 'string') return x
    let at: unknown = this.doc
    for (const part of ref.replace(/^#\//, '').split('/')) at = (at as Json)[part]
    return this.deref(at as Json)
  }

  /** A copy of `x` with every local $ref replaced by what it names (for trees without cycles). */
  private inline (x: unknown): unknown {
    if (Array.isArray(x)) return x.map((v) => this.inline(v))
    if (x === null || typeof x !== 'object') return x
    const o = this.deref(x as Json)
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, this.inline(v)]))
  }

  /** The query as the parameters' styles give it: arrays from comma lists, integers as numbers, JSON content parsed. */
  private readQuery (params: Json[], q: URLSearchParams): Json {
    const out: Json = {}
    for (const [k, v] of q) {
      const p = params.find((x) => x.in === 'query' && x.name === k)
      const schema = p?.schema as Json | undefined
      if (p?.content !== undefined) {
        try { out[k] = JSON.parse(v) } catch { out[k] = v }
      } else if (schema?.type === 'array' && p?.explode === false) out[k] = v.split(',')
      else if (schema?.type === 'integer' && /^-?\d+$/.test(v)) out[k] = Number(v)
      else out[k] = v
    }
    return out
  }
}
