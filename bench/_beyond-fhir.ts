/**
 * The FHIR API's export (hub/src/fhir): fhir_observations_per_s, the
 * Observations per second of a Patient/$everything Bundle for a date range
 * (target ≥ 1,000). The data set is what a hub holds after four hours of a
 * patient wearing an oximeter, a chest strap and a cuff: 240 batches (one
 * a minute, sealed under the user's key epoch exactly as the hub seals
 * them) of 12 pulse, 12 SpO2, 12 respiration-rate readings, a temperature,
 * a blood pressure and a 64-sample ECG strip — 9,360 Observations.
 * The clock starts when the client sends the GET and stops when it has the
 * whole Bundle parsed: HTTP, login check, the Userchain index read, every
 * batch fetched by digest (verified), opened with Ik (AES-256-GCM), decoded,
 * mapped to Observations (LOINC, UCUM, provenance) and serialized. The
 * first export starts with an empty cache (every batch decrypted): that is
 * the figure; a second, warm export is printed beside it, and so is the
 * baseline measured in the same run: opening and decoding the same batches
 * alone (no FHIR mapping, no HTTP), what any reader of the data pays. The chain index is
 * an in-memory view of the same transactions (the chain store's own read
 * path is measured by the userchain bench), and the sealed batches are
 * fetched from memory by digest as the hub's local IPFS blockstore would.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { buildTxIoT, contentDigest, identityFromSeed, openBatch, sealBatch, toHex, txId, type Tx, type TxIoT } from '../hub/src/core/index.ts'
import { UserKeys } from '../hub/src/roles/user/keys.ts'
import { decodeBatch, encodeBatch } from '../hub/src/nodered/batcher.ts'
import { createWebServer, patientModel } from '../hub/src/web/index.ts'
import { createFhirRouter, hubFhirSource, type ChainView } from '../hub/src/fhir/index.ts'
import type { SensorReading } from '../hub/src/nodered/runtime.ts'

const rnd = (n: number): Uint8Array => new Uint8Array(randomBytes(n))
const BATCHES = Number(process.env.FHIR_BENCH_BATCHES ?? 240)

export async function run (): Promise<Record<string, number>> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-fhir-'))
  const user = identityFromSeed(rnd(32))
  const keys = new UserKeys(user, { rng: rnd, now: () => 1_790_000_000, directory: { lookup: () => undefined } })
  keys.init()
  const key = keys.current!
  const start = Date.UTC(2026, 8, 21, 8, 0, 0)
  const blobs = new Map<string, Uint8Array>()
  const txs: TxIoT[] = []
  let seq = 0
  let observations = 0
  for (let m = 0; m < BATCHES; m++) {
    const t0 = start + m * 60_000
    const rs: SensorReading[] = []
    for (let i = 0; i < 12; i++) {
      const at = t0 + i * 5000
      rs.push({ d: 'strap-1', b: 1, s: seq++, t: 'hr', v: 70 + ((m + i) % 9), u: '/min', ts: at - start, at })
      rs.push({ d: 'ox-1', b: 1, s: seq++, t: 'spo2', v: 95 + (i % 4), u: '%', ts: at - start, at })
      rs.push({ d: 'strap-1', b: 1, s: seq++, t: 'rr', v: 14 + (i % 3), u: '/min', ts: at - start, at })
    }
    rs.push({ d: 'therm-1', b: 1, s: seq++, t: 'temp', v: 36.8, u: 'Cel', ts: t0 - start, at: t0 })
    rs.push({ d: 'cuff-1', b: 1, s: seq++, t: 'bp', v: [122, 81], u: 'mm[Hg]', ts: t0 - start, at: t0 })
    rs.push({ d: 'strap-1', b: 1, s: seq++, t: 'ecg', v: Array.from({ length: 64 }, (_, k) => Math.round(Math.sin(k / 4) * 1000) / 1000), u: 'mV', ts: t0 - start, at: t0 })
    observations += rs.length
    const sealed = sealBatch(key.ik, rnd(12), user.id, key.epoch, encodeBatch(rs))
    const heiot = contentDigest(sealed)
    blobs.set(toHex(heiot), sealed)
    txs.push(buildTxIoT(user, { ts: Math.floor((t0 + 60_000) / 1000), heiot, epoch: key.epoch }))
  }
  const byId = new Map<string, Tx>(txs.map((tx) => [toHex(txId(tx)), tx]))
  const chain: ChainView = {
    store: { userTxs: async () => txs.map((tx) => ({ txid: txId(tx) })), confirmedTx: async (id) => byId.get(toHex(id)) },
    mempool: { list: () => [] }
  }
  const fetch = async (d: Uint8Array): Promise<Uint8Array> => {
    const b = blobs.get(toHex(d))
    if (b === undefined || toHex(contentDigest(b)) !== toHex(d)) throw new Error('missing block')
    return b
  }
  const reader = { diagnoses: [] }
  const server = await createWebServer({
    dataDir: dir,
    secureCookie: false,
    patient: patientModel({ keys, reader: reader as never, publishKey: () => {}, balance: () => 0 }),
    mount: (w) => [{ path: '/fhir', router: createFhirRouter({ source: hubFhirSource({ chain, keys, reader, fetch }), web: w }).router }]
  })
  try {
    const base = `${server.url}/fhir`
    const tok = await (await globalThis.fetch(`${base}/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'password', ...server.created! }) })).json() as { access_token: string }
    const url = `${base}/Patient/${toHex(user.id)}/$everything?start=${new Date(start).toISOString()}&end=${new Date(start + BATCHES * 60_000).toISOString()}`
    const exportOnce = async (): Promise<{ n: number, s: number }> => {
      const t = process.hrtime.bigint()
      const r = await globalThis.fetch(url, { headers: { authorization: `Bearer ${tok.access_token}` } })
      const b = JSON.parse(await r.text()) as { entry: Array<{ resource: { resourceType: string } }> }
      const s = Number(process.hrtime.bigint() - t) / 1e9
      if (r.status !== 200) throw new Error(`export: HTTP ${r.status}`)
      return { n: b.entry.filter((e) => e.resource.resourceType === 'Observation').length, s }
    }
    // baseline, same data: only opening and decoding the batches (what any reader of the data pays), no FHIR, no HTTP
    const b0 = process.hrtime.bigint()
    let raw = 0
    for (const tx of txs) raw += decodeBatch(openBatch(key.ik, user.id, tx.epoch, await fetch(tx.heiot))).length
    const baseS = Number(process.hrtime.bigint() - b0) / 1e9
    const cold = await exportOnce()
    if (cold.n !== observations || raw !== observations) throw new Error(`export returned ${cold.n} Observations, expected ${observations}`)
    const warm = await exportOnce()
    const perS = Math.round(cold.n / cold.s)
    console.log(`\nPatient/$everything over ${BATCHES} batches: ${cold.n} Observations`)
    console.log(`  cold (every batch decrypted): ${cold.s.toFixed(3)} s → ${perS} Observations/s (target ≥ 1,000)`)
    console.log(`  warm (batches cached):        ${warm.s.toFixed(3)} s → ${Math.round(warm.n / warm.s)} Observations/s`)
    console.log(`  baseline, open + decode only: ${baseS.toFixed(3)} s → ${Math.round(raw / baseS)} readings/s (the export costs ${(cold.s / baseS).toFixed(1)}× that)`)
    return { fhir_observations_per_s: perS }
  } finally {
    await server.close()
    await rm(dir, { recursive: true, force: true })
  }
}
