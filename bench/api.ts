/**
 * The hub's control API (hub/src/api), against `healthchain hub --config`
 * running as a child process (mining off, a premined Ublock), over its Unix
 * socket with the client the CLI uses (keep-alive):
 * - api_chain_info_ms_p50 (target ≤ 20): GET /v1/chain/info, one client,
 *   one request at a time; the clock starts before the request is written
 *   and stops when its JSON answer is parsed;
 * - api_grant_ms_p50 (target ≤ 50): POST /v1/keys/grant of a doctor by
 *   identity record, timed the same way: it answers once the core node
 *   accepted the tx_key into its mempool (HPKE seal, signature, mempool
 *   admission); each grant is followed by a revocation (not timed), so every
 *   grant seals to one doctor;
 * - api_requests_per_s (target ≥ 500): GET /v1/chain/info from 4 concurrent
 *   clients (one connection each) for SECONDS s: answers per second;
 * - api_health_ms_p50: GET /v1/health (cookie check, no service call): the
 *   transport's share of the figures above, measured in the same run.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { buildIdentityRecord, encodeIdentityRecord, identityFromSeed, toHex } from '../hub/src/core/index.ts'
import { ApiClient } from '../hub/src/api/client.ts'
import { cli, premine, startHubProcess } from '../test/helpers/hub-process.ts'
import { loadAverage } from './_load.ts'
import { table } from './_stats.ts'

const INFO_N = 1000
const GRANTS = 40
const SECONDS = Number(process.env.BENCH_API_SECONDS ?? 10)
const CLIENTS = 4

function p50 (xs: number[]): number { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]! }

async function timed (n: number, fn: (i: number) => Promise<unknown>): Promise<number[]> {
  const out: number[] = []
  for (let i = 0; i < n; i++) {
    const t0 = performance.now()
    await fn(i)
    out.push(performance.now() - t0)
  }
  return out
}

export async function run (): Promise<Record<string, number>> {
  console.log(`load average at start: ${loadAverage()}`)
  const dir = await mkdtemp(join(tmpdir(), 'bench-api-'))
  const data = join(dir, 'data')
  const env = { ...process.env, HEALTHCHAIN_PASSPHRASE: 'bench api copper lantern meadow' }
  try {
    if ((await cli(['keys', 'new', '--data-dir', data], env)).code !== 0) throw new Error('keys new failed')
    const user = (await cli(['keys', 'show', '--no-unlock', '--data-dir', data], env)).stdout.trim()
    await premine(data, user, 1)
    const hub = await startHubProcess(dir, data, env, { api: {} })
    try {
      const c = await ApiClient.forDataDir(data)
      try {
        await timed(100, async () => await c.call('GET', '/v1/chain/info')) // warm-up
        const health = await timed(INFO_N, async () => await c.call('GET', '/v1/health'))
        const info = await timed(INFO_N, async () => await c.call('GET', '/v1/chain/info'))
        const doctors = Array.from({ length: GRANTS + 1 }, (_, i) => identityFromSeed(new Uint8Array(32).fill(i + 1)))
        const record = (i: number): string => toHex(encodeIdentityRecord(buildIdentityRecord(doctors[i]!, Math.floor(Date.now() / 1000))))
        // the first grant also publishes the first key epoch: not timed
        await c.call('POST', '/v1/keys/grant', { doctor: record(GRANTS) })
        const grants: number[] = []
        for (let i = 0; i < GRANTS; i++) {
          const r = record(i)
          const t0 = performance.now()
          await c.call('POST', '/v1/keys/grant', { doctor: r })
          grants.push(performance.now() - t0)
          await c.call('POST', '/v1/keys/revoke', { doctor: toHex(doctors[i]!.id) })
        }
        // throughput: CLIENTS clients, one connection each, back to back
        const clients = await Promise.all(Array.from({ length: CLIENTS }, async () => new ApiClient((await ApiClient.forDataDir(data)).target, { maxSockets: 1 })))
        let answered = 0
        const until = performance.now() + SECONDS * 1000
        const t0 = performance.now()
        await Promise.all(clients.map(async (k) => { while (performance.now() < until) { await k.call('GET', '/v1/chain/info'); answered++ } }))
        const perS = answered / ((performance.now() - t0) / 1000)
        for (const k of clients) k.close()
        const st = await c.call<{ api: { errors: number } }>('GET', '/v1/status')
        if (st.api.errors !== 0) throw new Error(`the hub answered ${st.api.errors} request(s) with 500`)
        const out = {
          api_chain_info_ms_p50: p50(info),
          api_grant_ms_p50: p50(grants),
          api_requests_per_s: perS,
          api_health_ms_p50: p50(health)
        }
        table([
          ['metric', 'value', 'target'],
          ['api_chain_info_ms_p50', out.api_chain_info_ms_p50.toFixed(3), '≤ 20'],
          ['api_grant_ms_p50', out.api_grant_ms_p50.toFixed(3), '≤ 50'],
          ['api_requests_per_s', out.api_requests_per_s.toFixed(0), '≥ 500'],
          ['api_health_ms_p50', out.api_health_ms_p50.toFixed(3), '(transport only)']
        ])
        return out
      } finally { c.close() }
    } finally { await hub.stop() }
  } finally { await rm(dir, { recursive: true, force: true }) }
}
