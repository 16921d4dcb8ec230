/**
 * Key-management bench (issue "Key management"): tx_key generation (Alg. 3)
 * for 1, 5 and 20 authorized doctors, beside the paper's 4.809 ms (§VI-B,
 * RSA-1024 on Android; its tx_key is for an unstated number of doctors).
 */
import { randomBytes } from 'node:crypto'
import { identityFromSeed, txId } from '../hub/src/core/index.ts'
import { UserKeys } from '../hub/src/roles/user/keys.ts'
import { table, timeIt } from './_stats.ts'

const rnd = (n: number): Uint8Array => new Uint8Array(randomBytes(n))

export async function run (): Promise<Record<string, number>> {
  const user = identityFromSeed(rnd(32))
  const doctors = Array.from({ length: 20 }, () => identityFromSeed(rnd(32)))
  const directory = { lookup: (id: Uint8Array) => { const d = doctors.find((x) => Buffer.compare(x.id, id) === 0); return d && { id: d.id, x25519: d.agreement.publicKey } } }
  const out: Record<string, number> = {}
  const rows: Array<Array<string | number>> = [['doctors', 'ours p50 (ms)', 'ours p90 (ms)', 'paper (ms)', 'target']]
  for (const n of [1, 5, 20]) {
    let now = 1_790_000_000
    const keys = new UserKeys(user, { rng: rnd, now: () => now++, directory })
    keys.init()
    for (const d of doctors.slice(0, n)) keys.grant(d.id)
    // a rotation re-seals fresh keys to all n doctors: the full cost of Alg. 3
    const r = timeIt(n >= 20 ? 300 : 1000, () => txId(keys.rotate()))
    out[`tx_key_gen_ms_p50_${n}`] = r.p50
    rows.push([n, r.p50, r.p90, 4.809, n === 5 ? '<= 1.5' : ''])
  }
  console.log('\ntx_key generation (Alg. 3: fresh Ik and s, HPKE envelopes, sign, id)')
  table(rows)
  return out
}
