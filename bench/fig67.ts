/**
 * Paper Fig. 6 (computation) and Fig. 7 (communication) cost of one user's
 * transactions over 6 months: one tx_IoT every 10 minutes and, for
 * Healthchain, one tx_key a month to 5 doctors — versus the traditional
 * digital-envelope scheme, where every upload seals a fresh key to every
 * doctor (here: a tx_IoT plus a 5-envelope tx_key per upload). Every
 * transaction is actually built (batch encryption, envelopes, signature, id)
 * and encoded; the figures are month-by-month cumulative sums.
 */
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { buildTxIoT, buildTxKey, encodeTx, identityFromSeed, sealBatch, txId } from '../hub/src/core/index.ts'
import { table } from './_stats.ts'

const rnd = (n: number): Uint8Array => new Uint8Array(randomBytes(n))
const MONTHS = 6
const UPLOADS_PER_MONTH = 30 * 24 * 6 // one every 10 minutes
const BATCH = 1024

export async function run (): Promise<Record<string, number>> {
  const scale = Number(process.env.BENCH_FIG67_SCALE ?? 1) // < 1 for quick runs; results are scaled back up
  const perMonth = Math.max(1, Math.round(UPLOADS_PER_MONTH * scale))
  const user = identityFromSeed(rnd(32))
  const doctors = Array.from({ length: 5 }, () => identityFromSeed(rnd(32))).map((d) => ({ id: d.id, x25519: d.agreement.publicKey }))
  const batch = rnd(BATCH)
  let ts = 1_790_000_000
  const out: Record<string, number> = {}
  const series: Array<{ month: number, hs: number, ts: number, hb: number, tb: number }> = []
  let hs = 0; let tsec = 0; let hb = 0; let tb = 0
  for (let m = 1; m <= MONTHS; m++) {
    // Healthchain: one tx_key a month, then tx_IoTs under its key
    let t0 = performance.now()
    const ik = rnd(32)
    const key = encodeTx(buildTxKey(user, { ts: ts++, epoch: m, ik, epochSecret: rnd(32), doctors, ikmE: rnd(32) }))
    txId(key)
    hs += (performance.now() - t0) / 1000 // the monthly tx_key is never scaled
    hb += key.length
    t0 = performance.now()
    let bytes = 0
    for (let i = 0; i < perMonth; i++) {
      sealBatch(ik, rnd(12), user.id, m, batch)
      const tx = buildTxIoT(user, { ts: ts++, heiot: rnd(32), epoch: m })
      const enc = encodeTx(tx)
      txId(enc)
      bytes += enc.length
    }
    hs += (performance.now() - t0) / 1000 / scale
    hb += bytes / scale
    // traditional: a fresh key sealed to every doctor with every upload
    t0 = performance.now()
    bytes = 0
    for (let i = 0; i < perMonth; i++) {
      const k = rnd(32)
      sealBatch(k, rnd(12), user.id, 1, batch)
      const env = buildTxKey(user, { ts: ts++, epoch: 1, ik: k, epochSecret: rnd(32), doctors, ikmE: rnd(32) })
      const tx = buildTxIoT(user, { ts: ts++, heiot: rnd(32), epoch: 1 })
      const a = encodeTx(env); const b = encodeTx(tx)
      txId(a); txId(b)
      bytes += a.length + b.length
    }
    tsec += (performance.now() - t0) / 1000 / scale
    tb += bytes / scale
    series.push({ month: m, hs, ts: tsec, hb, tb })
    out[`fig6_healthchain_s_m${m}`] = hs
    out[`fig6_traditional_s_m${m}`] = tsec
    out[`fig7_healthchain_mb_m${m}`] = hb / 1e6
    out[`fig7_traditional_mb_m${m}`] = tb / 1e6
  }
  out.fig6_healthchain_s = hs
  out.fig6_traditional_s = tsec
  out.fig7_healthchain_mb = hb / 1e6
  out.fig7_traditional_mb = tb / 1e6
  out.fig67_uploads_per_month = UPLOADS_PER_MONTH
  out.fig67_scale = scale
  console.log(`\nFig. 6/7 — one user, 6 months, 1 tx_IoT / 10 min (${UPLOADS_PER_MONTH}/month), 1 tx_key / month to 5 doctors${scale < 1 ? ` (measured at scale ${scale}, scaled up)` : ''}`)
  table([['month', 'Healthchain s', 'traditional s', 'Healthchain MB', 'traditional MB'],
    ...series.map((s) => [s.month, s.hs, s.ts, s.hb / 1e6, s.tb / 1e6])])
  console.log(`targets: Healthchain ≤ 10 s and ≤ 3.8 MB over 6 months → ${hs.toFixed(2)} s, ${(hb / 1e6).toFixed(2)} MB`)
  return out
}
