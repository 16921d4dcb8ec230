/**
 * tx_emergency: an emergency doctor's request for a patient's key epochs,
 * on Docchain (paper §III-A: doctor nodes are authorized by the consortium
 * and their transactions ordered and audited by the accounting nodes,
 * §IV-B2; §IV-B5 key management leaves the patient the only one who can
 * hand out an epoch key — this is the way round it when the patient cannot).
 *   {ID_D, ts, ID_U, [epoch…], reason, Sig_D}
 * Epochs strictly ascending (one encoding, none twice); the reason is UTF-8
 * text for the audit (the patient's page shows it), 1 to 280 bytes. The
 * accounting nodes admit it only from a doctor the registry gives the
 * emergency role, and only for epochs whose tx_key carries an escrow; once
 * committed, each of them releases its escrow shares to the doctor
 * (release.ts). htx_em = H(encoding) names the request in the releases.
 */
import type { Reader, Writer } from '../codec.ts'
import { utf8Bytes } from '../codec.ts'
import { ID_BYTES, type Identity } from '../crypto.ts'
import { InvalidFieldError, LimitExceededError } from '../errors.ts'
import { MAX_EPOCH, MAX_TIMESTAMP } from '../limits.ts'
import { defaultTag, signBody, type TxCodec } from './common.ts'

/** Most epochs one request may name. */
export const MAX_EMERGENCY_EPOCHS = 64
/** The reason, in UTF-8 bytes. */
export const MAX_REASON_BYTES = 280

export interface TxEmergency {
  readonly kind: 'emergency'
  /** ID_D: the emergency doctor. */
  readonly doctor: Uint8Array
  readonly ts: number
  /** ID_U: the patient whose epochs are requested. */
  readonly patient: Uint8Array
  /** Key epochs requested, strictly ascending. */
  readonly epochs: readonly number[]
  readonly reason: string
  readonly sig: Uint8Array
}

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true })

function checkEpochs (epochs: readonly number[]): void {
  if (!Array.isArray(epochs)) throw new InvalidFieldError('epochs', 'must be an array')
  if (epochs.length === 0) throw new InvalidFieldError('epochs', 'an emergency request names at least one epoch')
  if (epochs.length > MAX_EMERGENCY_EPOCHS) throw new LimitExceededError('epochs', MAX_EMERGENCY_EPOCHS, epochs.length)
  epochs.forEach((e, i) => {
    if (!Number.isInteger(e) || e < 1) throw new InvalidFieldError(`epochs[${i}]`, 'key epochs start at 1')
    if (i > 0 && e <= epochs[i - 1]!) throw new InvalidFieldError(`epochs[${i}]`, 'epochs must be strictly ascending (each named once)')
  })
}

function reasonBytes (reason: unknown): Uint8Array {
  if (typeof reason !== 'string') throw new InvalidFieldError('reason', 'must be text')
  const b = utf8Bytes(reason)
  if (b.length === 0 || reason.trim() === '') throw new InvalidFieldError('reason', 'an emergency request must say why')
  if (b.length > MAX_REASON_BYTES) throw new LimitExceededError('reason', MAX_REASON_BYTES, b.length)
  return b
}

export const txEmergencyCodec: TxCodec<TxEmergency> = {
  kind: 'emergency',
  tag: defaultTag('emergency'),
  writeBody (w: Writer, tx: TxEmergency) {
    w.fixed('doctor', tx.doctor, ID_BYTES).varint('ts', tx.ts, MAX_TIMESTAMP).fixed('patient', tx.patient, ID_BYTES)
    checkEpochs(tx.epochs)
    w.varint('epochs', tx.epochs.length, MAX_EMERGENCY_EPOCHS)
    tx.epochs.forEach((e, i) => w.varint(`epochs[${i}]`, e, MAX_EPOCH))
    w.bytes('reason', reasonBytes(tx.reason), MAX_REASON_BYTES)
  },
  readBody (r: Reader) {
    const doctor = r.fixed('doctor', ID_BYTES)
    const ts = r.varint('ts', MAX_TIMESTAMP)
    const patient = r.fixed('patient', ID_BYTES)
    const n = r.varint('epochs', MAX_EMERGENCY_EPOCHS)
    const epochs: number[] = []
    for (let i = 0; i < n; i++) epochs.push(r.varint(`epochs[${i}]`, MAX_EPOCH))
    checkEpochs(epochs)
    const raw = r.bytes('reason', MAX_REASON_BYTES)
    let reason: string
    try { reason = STRICT_UTF8.decode(raw) } catch { throw new InvalidFieldError('reason', 'not valid UTF-8') }
    reasonBytes(reason)
    return { kind: 'emergency', doctor, ts, patient, epochs, reason }
  },
  signer: (tx) => tx.doctor
}

/** The emergency doctor signs its request. */
export function buildTxEmergency (doctor: Identity, f: { ts: number, patient: Uint8Array, epochs: readonly number[], reason: string }): TxEmergency {
  return signBody(txEmergencyCodec, { kind: 'emergency', doctor: doctor.id, ts: f.ts, patient: f.patient, epochs: [...f.epochs], reason: f.reason }, doctor.signing)
}
