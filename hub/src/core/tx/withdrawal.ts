/**
 * tx_withdrawal: the patient's withdrawal of consent, on Docchain (paper
 * §III-A: the accounting nodes order and audit what touches a patient's
 * keys, §IV-B2; §IV-B5 key management — the patient alone hands out Ik,
 * and an opted-in patient's Ik is also escrowed t-of-n to the accounting
 * nodes, tx/escrow.ts).
 *   {ID_U, ts, Sig_U}
 * Signed by the patient's identity key, so only the patient withdraws. Once
 * committed, the registry's fold (core/pbft/registry.ts) refuses every
 * emergency request for the patient and every release of escrow shares for
 * one: the sealed shares stay inside the tx_keys on Userchain (a chain keeps
 * what it holds), but no holder opens them again. The same signed bytes are
 * the patient's request to the storage nodes to unpin every batch it
 * uploaded (roles/storage/erase-protocol.ts): one signature, one meaning.
 */
import type { Reader, Writer } from '../codec.ts'
import { ID_BYTES, type Identity } from '../crypto.ts'
import { MAX_TIMESTAMP } from '../limits.ts'
import { defaultTag, signBody, type TxCodec } from './common.ts'

export interface TxWithdrawal {
  readonly kind: 'withdrawal'
  /** ID_U: the patient withdrawing, who signs. */
  readonly patient: Uint8Array
  readonly ts: number
  readonly sig: Uint8Array
}

export const txWithdrawalCodec: TxCodec<TxWithdrawal> = {
  kind: 'withdrawal',
  tag: defaultTag('withdrawal'),
  writeBody (w: Writer, tx: TxWithdrawal) {
    w.fixed('patient', tx.patient, ID_BYTES).varint('ts', tx.ts, MAX_TIMESTAMP)
  },
  readBody (r: Reader) {
    const patient = r.fixed('patient', ID_BYTES)
    const ts = r.varint('ts', MAX_TIMESTAMP)
    return { kind: 'withdrawal', patient, ts }
  },
  signer: (tx) => tx.patient
}

/** The patient signs its withdrawal. */
export function buildTxWithdrawal (patient: Identity, f: { ts: number }): TxWithdrawal {
  return signBody(txWithdrawalCodec, { kind: 'withdrawal', patient: patient.id, ts: f.ts }, patient.signing)
}
