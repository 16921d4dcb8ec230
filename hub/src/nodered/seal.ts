/**
 * The two steps of the upload path that need the user's secrets (paper
 * Alg. 2): sealing a batch under the current key epoch (line 2, EIoT =
 * Enc(Ik, IoT)) and signing its tx_IoT (lines 4–7). They run where the
 * keys are — in the hub — whether the encrypt and tx iot nodes run in the
 * hub's own Node-RED (these functions directly) or in another Node-RED that
 * reaches the hub through its control API (the API calls these functions):
 * keys never leave the hub.
 */
import { buildTxIoT, sealBatch, toHex, type Identity, type TxIoT } from '../core/index.ts'
import type { UserKeys } from '../roles/user/keys.ts'
import { encodeBatch } from './batcher.ts'
import { NoKeyEpochError } from './errors.ts'
import { need, type HealthchainRuntime, type SensorReading, type Submitted, type TxSubmitter } from './runtime.ts'

export interface Sealed {
  readonly sealed: Uint8Array
  /** the key epoch it is sealed under (tx_IoT's keyRef) */
  readonly epoch: number
}

/** Seals a batch of readings (in the process holding the keys). */
export interface Sealer { seal: (readings: readonly SensorReading[]) => Promise<Sealed> }

export interface Recorded extends Submitted {
  readonly tx: TxIoT
}

/** Builds, signs and submits a tx_IoT naming sealed data (in the process holding the identity). */
export interface Recorder { record: (heiot: Uint8Array, epoch: number) => Promise<Recorded> }

export function localSealer (keys: UserKeys, user: Identity, rng: (n: number) => Uint8Array): Sealer {
  return {
    seal: async (readings) => {
      const e = keys.current
      if (e === null) throw new NoKeyEpochError()
      return { sealed: sealBatch(e.ik, rng(12), user.id, e.epoch, encodeBatch(readings)), epoch: e.epoch }
    }
  }
}

export function localRecorder (user: Identity, txs: TxSubmitter, now: () => number): Recorder {
  return {
    record: async (heiot, epoch) => {
      const tx = buildTxIoT(user, { ts: now(), heiot, epoch })
      return { ...await txs.submit(tx), tx }
    }
  }
}

/** The runtime's sealer: its own (a remote hub's), else one over its keys. */
export function sealerOf (rt: HealthchainRuntime): Sealer { return rt.sealer ?? localSealer(need(rt, 'keys'), rt.identity, rt.rng) }

/** The runtime's recorder: its own (a remote hub's), else one over its identity and mempool. */
export function recorderOf (rt: HealthchainRuntime): Recorder { return rt.recorder ?? localRecorder(rt.identity, need(rt, 'txs'), rt.now) }

export const hexUser = (rt: HealthchainRuntime): string => toHex(rt.identity.id)
