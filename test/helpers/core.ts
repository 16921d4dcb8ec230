/** Shared fixtures for core tests: deterministic identities and sample transactions. */
import { buildIdentityRecord, buildTxCoin, buildTxDiag, buildTxIoT, buildTxKey, buildTxCoinbase, buildTxReg, buildTxWithdrawal, encodeIdentityRecord, identityFromSeed, sha256, sign, txSigningMessage, utf8Bytes, type Identity, type Tx, type TxKey, type TxReg } from '../../hub/src/core/index.ts'

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
  const withdrawal = buildTxWithdrawal(user, { ts: TS })
  return [iot, key, diag, coin, coinbase, sampleTxReg(), withdrawal]
}

/**
 * The tx_key variants besides sampleTxs()'s fresh one: a `history` grant
 * keeping epoch 2's Ik (epoch 3, ikFrom 2), and a version-1 tx_key (no
 * ikFrom, no Ik commitment) as chains stored before them hold.
 */
export function sampleKeyVariants (): { history: TxKey, legacy: TxKey } {
  const ds = doctors.map((d) => ({ id: d.id, x25519: d.agreement.publicKey }))
  const history = buildTxKey(user, { ts: TS + 60, epoch: 3, ikFrom: 2, ik: seed('ik'), epochSecret: seed('s'), doctors: ds, ikmE: seed('e3') })
  return { history, legacy: legacyTxKey(buildTxKey(user, { ts: TS, epoch: 1, ik: seed('ik1'), epochSecret: seed('s1'), doctors: ds.slice(0, 2), ikmE: seed('e1') }), user) }
}

/** `tx` as a version-1 tx_key: its Ik commitment dropped (so ikFrom = epoch), signed again by `signer`. */
export function legacyTxKey (tx: TxKey, signer: Identity): TxKey {
  const body = { ...tx, ikFrom: tx.epoch, ikCommit: null }
  return { ...body, sig: sign(signer.signing, txSigningMessage(body)!) }
}

/** The consortium of the samples: 2 of these 3 sign a registry record. */
export const consortium = [who('consortium-0'), who('consortium-1'), who('consortium-2')]

/** A REGISTER record (TxReg) of doctors[1], seq 1, signed by 2 of the 3 consortium members. */
export function sampleTxReg (action: 'register' | 'suspend' = 'register', seq = 1): TxReg {
  return buildTxReg({ action, seq, identity: encodeIdentityRecord(buildIdentityRecord(doctors[1]!, TS)) }, [consortium[0]!.signing, consortium[2]!.signing])
}
