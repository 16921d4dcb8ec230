/**
 * Paper Fig. 6 (computation) and Fig. 7 (communication) cost of one user's
 * transactions over 6 months (§VI-C): one tx_IoT every 10 minutes and, for
 * Healthchain, one tx_key a month to 5 doctors — versus the traditional
 * digital-envelope scheme, where every upload seals a fresh key to every
 * doctor. Two traditional baselines are measured:
 *  - "traditional": per upload a tx_IoT plus a full 5-doctor tx_key (user
 *    envelope and a second signature included): an upper bound;
 *  - "traditional lean": per upload one signed digital-envelope transaction,
 *    {ID_U, ts, hash of the encrypted data, enc, [ID_D, Seal(pk_D, k ‖ dk)], Sig}
 *    — the data's hash and a fresh key sealed to each doctor in one transaction
 *    with one signature. Its envelopes are tx_key's (the same HPKE seal of the
 *    same two keys under one shared ephemeral key, core/tx/key.ts), so a doctor
 *    gets from it what a tx_key gives it; there is no user envelope.
 * Every transaction is actually built (batch encryption, envelopes, signature,
 * id) and encoded; the figures are month-by-month cumulative sums.
 */
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import {
  buildTxIoT, buildTxKey, compareBytes, concatBytes, deriveDiagnosisKey, domainTag, encodeTx, hpke, identityFromSeed, sealBatch, sha256, sign,
  txId, utf8Bytes, Writer, HASH_BYTES, ID_BYTES, KEY_ENVELOPE_CT_BYTES, MAX_ENVELOPES, MAX_TIMESTAMP, TX_VERSION,
  type DoctorKey, type Identity
} from '../hub/src/core/index.ts'
import { table } from './_stats.ts'

const rnd = (n: number): Uint8Array => new Uint8Array(randomBytes(n))
const MONTHS = 6
const UPLOADS_PER_MONTH = 30 * 24 * 6 // one every 10 minutes
const BATCH = 1024

const ENVELOPE_TAG = domainTag('tx_envelope')
const ENVELOPE_INFO = utf8Bytes('healthchain/tx_envelope/v1\0')
/** Not a Healthchain transaction kind: a type byte outside TX_TYPES. */
const ENVELOPE_TYPE = 0xff

/**
 * One upload of the lean traditional scheme: a fresh key k (and a secret for
 * the doctors' diagnosis keys) sealed to every doctor beside the data's hash,
 * laid out with the codec of core/codec.ts and signed once. Returns the
 * encoding including the signature.
 */
export function buildEnvelopeTx (user: Identity, doctors: readonly DoctorKey[], f: { ts: number, hash: Uint8Array, k: Uint8Array, secret: Uint8Array, ikmE: Uint8Array }): Uint8Array {
  const e = hpke.deriveKeyPair(f.ikmE)
  const sorted = [...doctors].sort((a, b) => compareBytes(a.id, b.id))
  const w = new Writer(1024)
  w.u8('type', ENVELOPE_TYPE).u8('version', TX_VERSION)
    .fixed('user', user.id, ID_BYTES)
    .varint('ts', f.ts, MAX_TIMESTAMP)
    .fixed('hash', f.hash, HASH_BYTES)
    .fixed('enc', e.publicKey, hpke.N_ENC)
    .varint('envelopes', sorted.length, MAX_ENVELOPES)
  for (const d of sorted) {
    const dk = deriveDiagnosisKey(f.secret, user.id, 1, d.id)
    w.fixed('doctor', d.id, ID_BYTES)
      .fixed('ct', hpke.sealWith(e, d.x25519, concatBytes(ENVELOPE_INFO, user.id, d.id), new Uint8Array(0), concatBytes(f.k, dk)), KEY_ENVELOPE_CT_BYTES)
  }
  const unsigned = w.finish()
  return concatBytes(unsigned, sign(user.signing, concatBytes(ENVELOPE_TAG, unsigned)))
}

export async function run (): Promise<Record<string, number>> {
  const scale = Number(process.env.BENCH_FIG67_SCALE ?? 1) // < 1 for quick runs; results are scaled back up
  const perMonth = Math.max(1, Math.round(UPLOADS_PER_MONTH * scale))
  const user = identityFromSeed(rnd(32))
  const doctors = Array.from({ length: 5 }, () => identityFromSeed(rnd(32))).map((d) => ({ id: d.id, x25519: d.agreement.publicKey }))
  const batch = rnd(BATCH)
  let ts = 1_790_000_000
  const out: Record<string, number> = {}
  const series: Array<{ month: number, hs: number, ts: number, ls: number, hb: number, tb: number, lb: number }> = []
  let hs = 0; let tsec = 0; let lsec = 0; let hb = 0; let tb = 0; let lb = 0
  let leanTxBytes = 0
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
    // traditional: a fresh key sealed to every doctor with every upload (tx_IoT + full tx_key)
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
    // traditional lean: one signed envelope transaction per upload
    t0 = performance.now()
    bytes = 0
    for (let i = 0; i < perMonth; i++) {
      const k = rnd(32)
      sealBatch(k, rnd(12), user.id, 1, batch)
      const tx = buildEnvelopeTx(user, doctors, { ts: ts++, hash: rnd(32), k, secret: rnd(32), ikmE: rnd(32) })
      sha256(tx)
      bytes += tx.length
      leanTxBytes = tx.length
    }
    lsec += (performance.now() - t0) / 1000 / scale
    lb += bytes / scale
    series.push({ month: m, hs, ts: tsec, ls: lsec, hb, tb, lb })
    out[`fig6_healthchain_s_m${m}`] = hs
    out[`fig6_traditional_s_m${m}`] = tsec
    out[`fig6_traditional_lean_s_m${m}`] = lsec
    out[`fig7_healthchain_mb_m${m}`] = hb / 1e6
    out[`fig7_traditional_mb_m${m}`] = tb / 1e6
    out[`fig7_traditional_lean_mb_m${m}`] = lb / 1e6
  }
  out.fig6_healthchain_s = hs
  out.fig6_traditional_s = tsec
  out.fig6_traditional_lean_s = lsec
  out.fig7_healthchain_mb = hb / 1e6
  out.fig7_traditional_mb = tb / 1e6
  out.fig7_traditional_lean_mb = lb / 1e6
  out.fig7_traditional_lean_tx_bytes = leanTxBytes
  out.fig67_uploads_per_month = UPLOADS_PER_MONTH
  out.fig67_scale = scale
  console.log(`\nFig. 6/7 — one user, 6 months, 1 tx_IoT / 10 min (${UPLOADS_PER_MONTH}/month), 1 tx_key / month to 5 doctors${scale < 1 ? ` (measured at scale ${scale}, scaled up)` : ''}`)
  console.log(`traditional: tx_IoT + 5-doctor tx_key per upload; lean: one ${leanTxBytes}-byte signed envelope tx per upload`)
  table([['month', 'Healthchain s', 'traditional s', 'lean s', 'Healthchain MB', 'traditional MB', 'lean MB'],
    ...series.map((s) => [s.month, s.hs, s.ts, s.ls, s.hb / 1e6, s.tb / 1e6, s.lb / 1e6])])
  console.log(`targets: Healthchain ≤ 10 s and ≤ 3.8 MB over 6 months → ${hs.toFixed(2)} s, ${(hb / 1e6).toFixed(2)} MB`)
  return out
}
