/** Shared fixtures for core tests: deterministic identities and sample transactions. */
import { buildTxCoin, buildTxDiag, buildTxIoT, buildTxKey, buildTxCoinbase, identityFromSeed, sha256, utf8Bytes, type Identity, type Tx } from '../../hub/src/core/index.ts'

export function seed (label: string): Uint8Array { return sha256(utf8Bytes(`seed:${label}`)) }
export function who (label: string): Identity { return identityFromSeed(seed(label)) }

export const user = who('user')
export const doctors = [who('d1'), who('d2'), who('d3'), who('d4'), who('d5')]
export const TS = 1_790_000_000

export function sampleTxs (): Tx[] {
  const iot = buildTxIoT(user, { ts: TS, heiot: seed('batch'), epoch: 1 })
  const key = buildTxKey(user, {
    ts: TS, epoch: 2, ik: seed('ik'), epochSecret: seed('s'),
    doctors: doctors.map((d) => ({ id: d.id, x25519: d.agreement.publicKey })), ikmE: seed('e')
  })
  const diag = buildTxDiag(doctors[0]!, { ts: TS, causes: [sha256(utf8Bytes('cause'))], hedm: seed('diag') })
  const coin = buildTxCoin(user, { to: doctors[0]!.id, amount: 1000, fee: 10, nonce: 0 })
  const coinbase = buildTxCoinbase({ height: 7, to: user.id, amount: 50 })
  return [iot, key, diag, coin, coinbase]
}
