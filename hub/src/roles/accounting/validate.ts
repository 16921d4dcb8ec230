/**
 * Admission on an accounting node (paper §IV-B2, §IV-B4; DESIGN §5).
 * tx_diag: structure and size (strict decode, MAX_TX_BYTES), the doctor's
 * signature, doctor registered and not suspended (core/pbft/registry.ts),
 * every cited htxI known on Userchain and every user concerned paid up.
 * TxReg (the consortium's registry record): next in sequence, m of n
 * consortium signatures, a self-signed identity record — checked against the
 * registry after the records already ordered (the caller passes that view).
 * Userchain and the Healthcoin ledger are reached through injected lookups,
 * so this role does not depend on how (or where) Userchain is stored.
 */
import { decodeTx, DOC_KINDS, MAX_TX_BYTES, toHex, verifyTx, type BodyTx, type DocTx, type HealthchainError, type TxDiag, type TxReg } from '../../core/index.ts'
import type { DoctorRegistry } from '../../core/pbft/registry.ts'
import {
  DiagSignatureError, MalformedDiagError, RegistryRecordError, SuspendedDoctorError, UnknownCauseError, UnpaidUserError, UnregisteredDoctorError
} from './errors.ts'

/** Userchain as the accounting role needs it. */
export interface UserchainLookup {
  /** The IoT transaction with this htxI, if it is on Userchain: who signed it. */
  iotTx: (htxI: Uint8Array) => Promise<{ readonly user: Uint8Array } | null>
}

/** The consortium's Healthcoin ledger as the accounting role needs it. */
export interface PaymentLookup {
  /** Whether `user` has prepaid enough Healthcoin for one more diagnosis. */
  hasPaid: (user: Uint8Array) => Promise<boolean>
}

/** Decodes submitted bytes as a Docchain transaction (tx_diag or TxReg), strictly. */
export function parseDocTx (bytes: Uint8Array): DocTx {
  if (bytes.length > MAX_TX_BYTES) throw new MalformedDiagError(`${bytes.length} bytes exceeds ${MAX_TX_BYTES}`)
  let tx
  try { tx = decodeTx(bytes) } catch (err) { throw new MalformedDiagError((err as Error).message) }
  if (!DOC_KINDS.has(tx.kind)) throw new MalformedDiagError(`a ${tx.kind} transaction does not belong on Docchain`)
  return tx as DocTx
}

/** Decodes submitted bytes as a tx_diag, strictly. */
export function parseDiag (bytes: Uint8Array): TxDiag {
  const tx = parseDocTx(bytes)
  if (tx.kind !== 'diag') throw new MalformedDiagError(`a ${tx.kind} transaction is not a tx_diag`)
  return tx
}

/** The doctor's standing in `registry` (the registry after the records ordered before the tx). */
export function checkDoctor (tx: TxDiag, registry: DoctorRegistry): HealthchainError | null {
  const status = registry.status(tx.doctor)
  if (status === 'unknown') return new UnregisteredDoctorError(toHex(tx.doctor))
  if (status === 'suspended') return new SuspendedDoctorError(toHex(tx.doctor))
  return null
}

/** Whether a registry record applies to `registry` (the registry after the records ordered before it). */
export function checkRecord (tx: TxReg, registry: DoctorRegistry): HealthchainError | null {
  try { registry.check(tx) } catch (err) {
    return new RegistryRecordError((err as Error).message)
  }
  return null
}

/** The synchronous checks: a tx_diag's signature and doctor, or a registry record. */
export function checkDiagSync (t: BodyTx, registry: DoctorRegistry): HealthchainError | null {
  if (t.tx.kind === 'reg') return checkRecord(t.tx, registry)
  if (t.tx.kind !== 'diag') return new MalformedDiagError(`a ${t.tx.kind} transaction does not belong on Docchain`)
  const tx = t.tx
  const bad = checkDoctor(tx, registry)
  if (bad !== null) return bad
  if (!verifyTx(tx)) return new DiagSignatureError()
  return null
}

/** The Userchain checks: every cause exists, every user concerned has paid. */
export async function checkDiagChain (tx: TxDiag, userchain: UserchainLookup, payments: PaymentLookup): Promise<HealthchainError | null> {
  const users = new Map<string, Uint8Array>()
  for (let i = 0; i < tx.causes.length; i++) {
    const iot = await userchain.iotTx(tx.causes[i]!)
    if (iot === null) return new UnknownCauseError(i, toHex(tx.causes[i]!))
    users.set(toHex(iot.user), iot.user)
  }
  for (const [k, u] of users) if (!(await payments.hasPaid(u))) return new UnpaidUserError(k)
  return null
}
