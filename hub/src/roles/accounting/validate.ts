/**
 * Admission on an accounting node (paper §IV-B2, §IV-B4; DESIGN §5).
 * tx_diag: structure and size (strict decode, MAX_TX_BYTES), the doctor's
 * signature, doctor registered and not suspended (core/pbft/registry.ts),
 * every cited htxI a tx_IoT on Userchain, all of one user, each sealed under
 * a key epoch the doctor holds (grant.ts), and that user's prepaid credit
 * covering this diagnosis on top of those committed, in flight or admitted
 * ahead of it (checkCredit: the replica counts the last two, so a burst of
 * tx_diag cannot overdraw it).
 * TxReg (the consortium's registry record): next in sequence, m of n
 * consortium signatures, a self-signed identity record — checked against the
 * registry after the records already ordered (the caller passes that view).
 * tx_emergency: a registered, active doctor with the emergency role, its
 * signature, and every requested epoch opened on Userchain by a tx_key that
 * carries an escrow (core tx/escrow.ts). tx_release: from an accounting
 * node, for a committed request, once per node (core/pbft/registry.ts).
 * Userchain and the Healthcoin ledger are reached through injected lookups,
 * so this role does not depend on how (or where) Userchain is stored.
 */
import {
  decodeTx, DOC_KINDS, equalBytes, MAX_TX_BYTES, NoEscrowError, toHex, TX_TYPES, verifyTx,
  type BodyTx, type DocTx, type HealthchainError, type TxDiag, type TxEmergency, type TxKey, type TxReg, type TxRelease, type TxWithdrawal
} from '../../core/index.ts'
import type { DoctorRegistry } from '../../core/pbft/registry.ts'
import {
  DiagSignatureError, MalformedDiagError, MalformedEmergencyError, MixedCausesError, NotGrantedError, RegistryRecordError, SuspendedDoctorError, UnknownCauseError, UnopenedEpochError, UnpaidUserError, UnregisteredDoctorError
} from './errors.ts'
import { doctorMayRead, type ReadEvidence } from './grant.ts'

/** Userchain as the accounting role needs it. */
export interface UserchainLookup {
  /** The IoT transaction with this htxI, if it is on Userchain: who signed it, and its keyRef (key epoch). */
  iotTx: (htxI: Uint8Array) => Promise<{ readonly user: Uint8Array, readonly epoch: number } | null>
  /** Who holds the key of the user's epoch as Userchain decides it, or null when no tx_key opened that epoch there. */
  epochReaders: (user: Uint8Array, epoch: number) => Promise<ReadEvidence | null>
  /** The tx_key that opened the user's epoch on the best chain, or null (emergency requests and releases need it; a node without it refuses them). */
  keyTx?: (user: Uint8Array, epoch: number) => Promise<TxKey | null>
}

/** The consortium's Healthcoin ledger as the accounting role needs it. */
export interface PaymentLookup {
  /** Healthcoin `user` has prepaid the consortium, confirmed on Userchain (diagnoses not deducted). */
  paid: (user: Uint8Array) => Promise<number>
  /** What one diagnosis costs the user. */
  readonly price: number
}

/** Decodes submitted bytes as a Docchain transaction (tx_diag or TxReg), strictly. */
export function parseDocTx (bytes: Uint8Array): DocTx {
  if (bytes.length > MAX_TX_BYTES) throw new MalformedDiagError(`${bytes.length} bytes exceeds ${MAX_TX_BYTES}`)
  let tx
  try { tx = decodeTx(bytes) } catch (err) {
    throw bytes[0] === TX_TYPES.emergency ? new MalformedEmergencyError((err as Error).message) : new MalformedDiagError((err as Error).message)
  }
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
export function checkDoctor (tx: Pick<TxDiag, 'doctor'>, registry: DoctorRegistry): HealthchainError | null {
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

/** An emergency request's doctor (registered, active, emergency role) and signature, against `registry`. */
export function checkEmergency (tx: TxEmergency, registry: DoctorRegistry): HealthchainError | null {
  const bad = checkDoctor(tx, registry)
  if (bad !== null) return bad
  try { registry.checkEmergency(tx) } catch (err) { return err as HealthchainError }
  return null
}

/** A share release against `registry`: from an accounting node, for a committed request, the first of that node. */
export function checkRelease (tx: TxRelease, registry: DoctorRegistry): HealthchainError | null {
  return refusal(() => { registry.checkRelease(tx) })
}

/** A patient's withdrawal of consent against `registry`: signed by the patient, the first for that patient. */
export function checkWithdrawal (tx: TxWithdrawal, registry: DoctorRegistry): HealthchainError | null {
  return refusal(() => { registry.checkWithdrawal(tx) })
}

/** The typed error a registry check throws, or null. */
function refusal (check: () => void): HealthchainError | null {
  try { check() } catch (err) { return err as HealthchainError }
  return null
}

/** The Userchain check of an emergency request: each epoch opened by a tx_key of the patient that carries an escrow. */
export async function checkEmergencyChain (tx: TxEmergency, userchain: UserchainLookup): Promise<HealthchainError | null> {
  for (const e of tx.epochs) {
    const key = await userchain.keyTx?.(tx.patient, e) ?? null
    if (key === null) return new UnopenedEpochError(toHex(tx.patient), e)
    if (key.escrow == null) return new NoEscrowError(toHex(tx.patient), e)
  }
  return null
}

/** The synchronous checks: a tx_diag's signature and doctor, a registry record, an emergency request or a release. */
export function checkDiagSync (t: BodyTx, registry: DoctorRegistry): HealthchainError | null {
  if (t.tx.kind === 'reg') return checkRecord(t.tx, registry)
  if (t.tx.kind === 'emergency') return checkEmergency(t.tx, registry)
  if (t.tx.kind === 'release') return checkRelease(t.tx, registry)
  if (t.tx.kind === 'withdrawal') return checkWithdrawal(t.tx, registry)
  if (t.tx.kind !== 'diag') return new MalformedDiagError(`a ${t.tx.kind} transaction does not belong on Docchain`)
  const tx = t.tx
  const bad = checkDoctor(tx, registry)
  if (bad !== null) return bad
  if (!verifyTx(tx)) return new DiagSignatureError()
  return null
}

/**
 * The Userchain checks of a tx_diag: every cause is a tx_IoT on Userchain,
 * all of one user, and the doctor holds the key of each cause's epoch
 * (doctorMayRead). Returns the user the diagnosis is charged to, or why not.
 */
export async function checkDiagChain (tx: TxDiag, userchain: UserchainLookup): Promise<{ readonly user: Uint8Array } | HealthchainError> {
  let user: Uint8Array | null = null
  const granted = new Set<number>()
  for (let i = 0; i < tx.causes.length; i++) {
    const iot = await userchain.iotTx(tx.causes[i]!)
    if (iot === null) return new UnknownCauseError(i, toHex(tx.causes[i]!))
    if (user === null) user = iot.user
    else if (!equalBytes(user, iot.user)) return new MixedCausesError(i)
    if (granted.has(iot.epoch)) continue
    const readers = await userchain.epochReaders(iot.user, iot.epoch)
    if (readers === null || !doctorMayRead(tx.doctor, iot.epoch, readers)) return new NotGrantedError(i, toHex(tx.doctor), toHex(iot.user), iot.epoch)
    granted.add(iot.epoch)
  }
  return { user: user! }
}

/**
 * Whether the user's (hex ID) credit covers one more diagnosis (paper §IV-B4): `paid`
 * confirmed prepayments, `charged` the user's diagnoses committed on Docchain
 * plus those ordered or admitted ahead of this one.
 */
export function checkCredit (user: string, paid: number, charged: number, price: number): HealthchainError | null {
  return paid - charged * price >= price ? null : new UnpaidUserError(user, { paid, charged, price })
}
