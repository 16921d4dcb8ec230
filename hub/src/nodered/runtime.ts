/**
 * The Healthchain runtime a hub's Node-RED flows drive (DESIGN §8; paper
 * §III-A roles, Alg. 2 upload path, Alg. 3 keys, Alg. 4 diagnosis). Every
 * Healthchain node type is a thin adapter over one part of this interface;
 * the `healthchain-runtime` config node hands the flow the object injected
 * through the Node-RED setting `healthchainRuntimes` (name → runtime), so the
 * same nodes run on the real roles in the hub and on small real-enough
 * parts in tests. A part a role does not host is left out; a node needing it
 * reports MissingCapabilityError.
 */
import type { Identity, TxDiag, TxIoT, TxKey, Tx } from '../core/index.ts'
import type { EpochChange, GrantScope, UserKeys } from '../roles/user/keys.ts'
import type { DoctorKeyTracker } from '../roles/doctor/keys.ts'
import { MissingCapabilityError } from './errors.ts'
import type { Recorder, Sealer } from './seal.ts'

/** One verified device reading (the shared serial/MQTT line contract: d, b, s, t, v, u, ts). */
export interface SensorReading {
  readonly d: string
  readonly b: number
  readonly s: number
  readonly t: string
  readonly v: number | readonly number[]
  readonly u: string
  readonly ts: number
  /** When the hub received it (ms since 1970); `ts` is the device's ms since boot. */
  readonly at?: number
}

/** Verified readings from serial, MQTT and Firmata (hub/src/ingest). */
export interface ReadingsSource {
  /** Calls onReading per verified reading and onError per rejected line; returns the unsubscribe function. */
  subscribe: (onReading: (r: SensorReading) => void, onError: (err: Error, raw?: string) => void) => () => void
}

export interface UploadReceipt {
  /** CIDv1 raw sha2-256 of the stored bytes (base32). */
  readonly cid: string
  /** Storage nodes that acknowledged pinning it. */
  readonly acked: readonly string[]
}

/** Encrypted blocks on IPFS (hub/src/ipfs): upload resolves only after the replication acks. */
export interface IpfsStore {
  upload: (bytes: Uint8Array) => Promise<UploadReceipt>
  get: (cid: string) => Promise<Uint8Array>
}

export interface Submitted { readonly id: string }
export interface Confirmed { readonly id: string, readonly height: number, readonly block: string }

/** The Userchain mempool of a core user node (hub/src/roles/core): rejects with a typed error. */
export interface TxSubmitter {
  submit: (tx: Tx) => Promise<Submitted>
  /** Resolves once the transaction is in a block of the best chain. */
  confirmed?: (id: string) => Promise<Confirmed>
}

export interface MinerStatus {
  readonly running: boolean
  /** Height of the best chain's tip. */
  readonly height: number
  /** Blocks this miner found since the process started. */
  readonly mined: number
}

/** A closed batch from the hub's durable ingest store, with what is already done for it. */
export interface DurableBatch {
  /** the ingest store's batch id */
  readonly id: string
  readonly readings: SensorReading[]
  /** why ingest closed it (window, size, event, manual) */
  readonly reason: string
  /** set when it was sealed before (a resumed batch): upload these bytes, never seal again */
  readonly sealed?: Uint8Array
  readonly epoch?: number
  readonly cid?: string
}

/**
 * The durable batches of the hub's ingest store (hub/src/ingest/batches.ts):
 * each batch is handed out until its tx_IoT is confirmed, each step
 * recorded before the next (sealed bytes before the upload, the signed
 * tx_IoT before it is submitted).
 */
export interface BatchStore {
  /** Calls onBatch with every open batch now, each newly closed one, and each one due for a retry; returns the unsubscribe function. */
  subscribe: (onBatch: (b: DurableBatch) => void) => () => void
  /** Closes the readings acknowledged so far into batches now. */
  close: () => Promise<number>
  /** Records the sealed bytes (a batch sealed before keeps its first bytes: those are returned). */
  sealed: (id: string, sealed: Uint8Array, epoch: number) => Promise<{ readonly sealed: Uint8Array, readonly epoch: number }>
  uploaded: (id: string, cid: string) => Promise<void>
  /** Builds, persists, then submits the batch's tx_IoT (the stored one if it has one). */
  record: (id: string, heiot: Uint8Array, epoch: number) => Promise<{ readonly id: string, readonly tx: TxIoT }>
  /** Resolves when the batch's tx_IoT is deep enough for the batch to leave the store. */
  confirmed: (id: string) => Promise<{ readonly id: string }>
}

/** The PoW miner of a core user node (paper Alg. 1). */
export interface MinerControl {
  start: () => void | Promise<void>
  stop: () => void | Promise<void>
  status: () => MinerStatus
  /** Subscribes to status changes (a block found, start, stop); returns the unsubscribe function. */
  watch?: (onChange: (s: MinerStatus) => void) => () => void
}

/** Docchain (hub/src/roles/accounting): resolves when the accounting nodes committed the tx_diag. */
export interface PbftSubmitter {
  submit: (tx: TxDiag) => Promise<Confirmed>
}

/** A tx_diag about one of this user's tx_IoT, with the key epoch of its first cause. */
export interface DiagnosisEvent {
  readonly tx: TxDiag
  readonly epoch: number
}

/** Committed tx_diag naming this user's transactions (user side). */
export interface DiagnosisSource {
  subscribe: (onDiagnosis: (e: DiagnosisEvent) => void) => () => void
}

/** New tx_IoT of users who granted this doctor their current epoch (doctor side, from Userchain). */
export interface IotTxSource {
  subscribe: (onTx: (tx: TxIoT) => void) => () => void
}

/** A key epoch a tx_key published (paper Alg. 3): its number, htxk (hex) and the doctors it names (hex IDs). */
export interface PublishedEpoch {
  readonly epoch: number
  readonly tx: string
  readonly doctors: readonly string[]
  /** The tx_key itself, where it was built in this process. */
  readonly txKey?: TxKey
}

/**
 * Key-epoch changes where the user's keys are (paper Alg. 3, §IV-B5): in the
 * hub its key service (app/hub-service.ts keysService, the one the CLI, the
 * page and the control API call), in another Node-RED the hub's control API.
 * Doctors are named by ID or identity record (hex).
 */
export interface KeyEpochs {
  /** The first epoch, naming no doctor; absent where the hub publishes it itself at its first start. */
  init?: () => Promise<PublishedEpoch>
  /** scope: from-now (default, a fresh Ik) or history (the current Ik) — roles/user/keys.ts GrantScope */
  grant: (doctor: string, scope?: GrantScope) => Promise<PublishedEpoch>
  revoke: (doctor: string) => Promise<PublishedEpoch>
  rotate: () => Promise<PublishedEpoch>
  /** The latest epoch (0: none yet) and the doctors it grants. */
  doctors: () => Promise<{ readonly epoch: number, readonly doctors: readonly string[] }>
}

/** A diagnosis opened with dk_ij (paper §IV-B5): what the diagnosis in node emits. */
export interface OpenedDiagnosis {
  readonly diagnosis: unknown
  /** ID_D (hex) */
  readonly doctor: string
  /** htxI of the batches it is about (hex) */
  readonly causes: readonly string[]
  /** htxd (hex) */
  readonly id: string
}

/** Opens a committed tx_diag about this user where the keys are (in the hub, or through its control API). */
export interface DiagnosisReader {
  open: (e: DiagnosisEvent) => Promise<OpenedDiagnosis>
}

/** What a doctor (human in the editor, or hub/src/ai) concludes from one batch of readings. */
export type Analyzer = (readings: readonly SensorReading[], cause: TxIoT) => unknown | Promise<unknown>

export interface HealthchainRuntime {
  readonly role: 'user' | 'doctor'
  /** The node's identity: ID_U on a hub, ID_D on a doctor node. */
  readonly identity: Identity
  /** Seconds since 1970 (transaction timestamps). */
  readonly now: () => number
  /** Cryptographic randomness (nonces). */
  readonly rng: (n: number) => Uint8Array
  readonly keys?: UserKeys
  /** The hub's epoch committer (roles/user/commit.ts): key-epoch changes applied only once accepted, persisted, re-broadcast until mined. */
  readonly epochs?: { commit: (change: EpochChange) => Promise<{ readonly tx: TxKey, readonly id: string }> }
  readonly readings?: ReadingsSource
  readonly ipfs?: IpfsStore
  readonly txs?: TxSubmitter
  readonly miner?: MinerControl
  /** The hub's durable batches (a hub only; the shipped batch node takes its batches from here). */
  readonly batches?: BatchStore
  readonly pbft?: PbftSubmitter
  readonly diagnoses?: DiagnosisSource
  readonly doctorKeys?: DoctorKeyTracker
  readonly iotTxs?: IotTxSource
  readonly analyze?: Analyzer
  /** Seals batches where the keys are (a hub reached through its control API); default: over `keys`. */
  readonly sealer?: Sealer
  /** Signs and submits tx_IoT where the identity is; default: over `identity` and `txs`. */
  readonly recorder?: Recorder
  /** Changes key epochs where the keys are; default: over `keys` and `txs` (nodered/epochs.ts). */
  readonly keyEpochs?: KeyEpochs
  /** Opens diagnoses where the keys are; default: over `keys` and `ipfs` (nodered/diagnosis.ts). */
  readonly diagnosisReader?: DiagnosisReader
}

export type Capability = 'keys' | 'readings' | 'ipfs' | 'txs' | 'miner' | 'batches' | 'pbft' | 'diagnoses' | 'doctorKeys' | 'iotTxs' | 'analyze'

/** The part `cap` of the runtime, or MissingCapabilityError. */
export function need<K extends Capability> (rt: HealthchainRuntime, cap: K): NonNullable<HealthchainRuntime[K]> {
  const part = rt[cap]
  if (part === undefined || part === null) throw new MissingCapabilityError(cap, rt.role)
  return part as NonNullable<HealthchainRuntime[K]>
}

/** The setting through which the embedding process injects runtimes into the flows. */
export const RUNTIMES_SETTING = 'healthchainRuntimes'
export type RuntimeTable = Record<string, HealthchainRuntime>

export type { TxKey }
