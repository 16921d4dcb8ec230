/**
 * tx_diag (paper §IV-B1, Eq. 3; Alg. 4) = {ID_D, ts, [htxI…], HEdm, Sig}.
 * One or more IoT transactions are the cause; the first one's key epoch names
 * the diagnosis key dk_ij that seals the diagnosis. HEdm is the sha2-256
 * digest (CIDv1 raw) of the sealed diagnosis on IPFS. htxd = H(encoding).
 */
import type { Reader, Writer } from '../codec.ts'
import { equalBytes } from '../codec.ts'
import { HASH_BYTES, ID_BYTES, type Identity } from '../crypto.ts'
import { InvalidFieldError, LimitExceededError } from '../errors.ts'
import { MAX_CAUSES, MAX_TIMESTAMP } from '../limits.ts'
import { defaultTag, signBody, type TxCodec } from './common.ts'

export interface TxDiag {
  readonly kind: 'diag'
  /** ID_D: the doctor's (or AI analyzer's) Ed25519 public key. */
  readonly doctor: Uint8Array
  readonly ts: number
  /** htxI of each IoT transaction this diagnosis is based on, distinct, first = primary. */
  readonly causes: readonly Uint8Array[]
  /** HEdm: sha2-256 digest of the encrypted diagnosis. */
  readonly hedm: Uint8Array
  readonly sig: Uint8Array
}

function checkCauses (causes: readonly Uint8Array[]): void {
  if (causes.length === 0) throw new InvalidFieldError('causes', 'a diagnosis needs at least one cause')
  if (causes.length > MAX_CAUSES) throw new LimitExceededError('causes', MAX_CAUSES, causes.length)
  for (let i = 0; i < causes.length; i++) {
    for (let j = 0; j < i; j++) {
      if (equalBytes(causes[i]!, causes[j]!)) throw new InvalidFieldError(`causes[${i}]`, 'duplicate cause')
    }
  }
}

export const txDiagCodec: TxCodec<TxDiag> = {
  kind: 'diag',
  tag: defaultTag('diag'),
  writeBody (w: Writer, tx: TxDiag) {
    w.fixed('doctor', tx.doctor, ID_BYTES).varint('ts', tx.ts, MAX_TIMESTAMP)
    if (!Array.isArray(tx.causes)) throw new InvalidFieldError('causes', 'must be an array')
    checkCauses(tx.causes)
    w.varint('causes', tx.causes.length, MAX_CAUSES)
    tx.causes.forEach((c, i) => w.fixed(`causes[${i}]`, c, HASH_BYTES))
    w.fixed('hedm', tx.hedm, HASH_BYTES)
  },
  readBody (r: Reader) {
    const doctor = r.fixed('doctor', ID_BYTES)
    const ts = r.varint('ts', MAX_TIMESTAMP)
    const n = r.varint('causes', MAX_CAUSES)
    const causes: Uint8Array[] = []
    for (let i = 0; i < n; i++) causes.push(r.fixed(`causes[${i}]`, HASH_BYTES))
    checkCauses(causes)
    const hedm = r.fixed('hedm', HASH_BYTES)
    return { kind: 'diag', doctor, ts, causes, hedm }
  },
  signer: (tx) => tx.doctor
}

/** Alg. 4: the doctor signs the diagnosis reference. */
export function buildTxDiag (doctor: Identity, fields: { ts: number, causes: readonly Uint8Array[], hedm: Uint8Array }): TxDiag {
  return signBody(txDiagCodec, { kind: 'diag', doctor: doctor.id, ...fields }, doctor.signing)
}
