/**
 * Probing a daemon's control API from outside, as its refusal and fuzz
 * tests do: raw HTTP on its Unix socket (what a well-behaved client would
 * not send), the same request from another Unix user (nobody, 65534), the
 * counters of GET /v1/api, and mutated requests from the fuzz engine.
 */
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { request } from 'node:http'
import { mutate, rng } from '../fuzz/engine.ts'

const run = promisify(execFile)

export interface RawAnswer { status: number, body: { error?: string, field?: string, message?: string } & Record<string, unknown> }

/** One request on the Unix socket, on its own connection; the parsed JSON answer. */
export async function raw (socket: string, path: string, opts: { method?: string, headers?: Record<string, string>, body?: string | Buffer } = {}): Promise<RawAnswer> {
  return await new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, path, method: opts.method ?? 'GET', headers: opts.headers ?? {}, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => { try { resolve({ status: res.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString() || '{}') }) } catch (err) { reject(err) } })
    })
    req.on('error', reject)
    req.end(opts.body)
  })
}

export interface ApiCounters { requests: number, ok: number, refused: Record<string, number>, errors: number, peerCheck: string }

/** GET /v1/api: the daemon's request counters. */
export async function counters (socket: string, cookie: string): Promise<ApiCounters> {
  return (await raw(socket, '/v1/api', { headers: { authorization: `Bearer ${cookie}` } })).body as unknown as ApiCounters
}

export const NOBODY = { uid: 65534, gid: 65534 }
/** nothing of the test runner's environment (its NODE_OPTIONS write into .tap/, which nobody may not) */
export const NOBODY_ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/tmp' }

/**
 * GET `path` on the socket as nobody, with `cookie`: "<status> <error
 * code>", or the connect error's code. (Asynchronous: the daemon may run in
 * this very process.)
 */
export async function asNobody (socket: string, path: string, cookie: string): Promise<string> {
  const script = `require('http').get({ socketPath: ${JSON.stringify(socket)}, path: ${JSON.stringify(path)}, headers: { authorization: 'Bearer ${cookie}' } }, (r) => { let b = ''; r.on('data', (c) => { b += c }); r.on('end', () => { console.log(r.statusCode, JSON.parse(b).error) }) }).on('error', (e) => { console.log(e.code) })`
  const r = await run(process.execPath, ['-e', script], { ...NOBODY, env: NOBODY_ENV, encoding: 'utf8', timeout: 60_000 })
  return r.stdout.trim()
}

/**
 * `count` requests mutated from `seeds` ("METHOD /path\nbody"), each with the
 * cookie; answers by HTTP status, and the requests that got no answer.
 */
export async function fuzzApi (socket: string, cookie: string, seeds: readonly string[], count: number, seed: number): Promise<{ statuses: Map<number, number>, failures: string[] }> {
  const r = rng(seed)
  const bytes = seeds.map((s) => new Uint8Array(Buffer.from(s)))
  const statuses = new Map<number, number>()
  const failures: string[] = []
  for (let i = 0; i < count; i++) {
    const input = Buffer.from(mutate(r, bytes, 4096)).toString('latin1')
    const nl = input.indexOf('\n')
    const [m, p] = (nl < 0 ? input : input.slice(0, nl)).split(' ')
    const method = ['GET', 'POST', 'DELETE'].includes(m ?? '') ? m! : 'POST'
    const path = p === undefined ? '/' : p.startsWith('/') ? encodeURI(p).slice(0, 2000) : '/v1/' + encodeURIComponent(p)
    const res = await raw(socket, path, { method, headers: { authorization: `Bearer ${cookie}` }, body: nl < 0 ? '' : Buffer.from(input.slice(nl + 1), 'latin1') })
      .catch((err: Error) => { failures.push(`${method} ${path.slice(0, 80)}: ${err.message}`); return { status: -1, body: {} } })
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
  }
  return { statuses, failures }
}

/** How many fuzz requests per daemon: bounded in CI, more on demand (HEALTHCHAIN_API_FUZZ). */
export const FUZZ_COUNT = Number(process.env.HEALTHCHAIN_API_FUZZ ?? 300)
