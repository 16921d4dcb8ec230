/**
 * The user reads a doctor's diagnosis (paper §IV-B5: EDM opened with dk_ij,
 * derived for the doctor and the key epoch of the first cause; AAD: doctor
 * ‖ htxI). It runs where the keys are: over the runtime's UserKeys and IPFS
 * in the hub's own Node-RED, or as a control API call (the hub runs this
 * same function) from another Node-RED — dk_ij never leaves the hub.
 */
import { cidStringFromDigest, openDiagnosis, toHex, txId } from '../core/index.ts'
import type { UserKeys } from '../roles/user/keys.ts'
import { BadMessageError } from './errors.ts'
import { need, type DiagnosisReader, type HealthchainRuntime, type IpfsStore } from './runtime.ts'

export function localDiagnosisReader (keys: UserKeys, ipfs: IpfsStore): DiagnosisReader {
  return {
    open: async ({ tx, epoch }) => {
      const dk = keys.diagnosisKey(epoch, tx.doctor)
      const sealed = await ipfs.get(cidStringFromDigest(tx.hedm))
      const text = new TextDecoder('utf-8', { fatal: true }).decode(openDiagnosis(dk, tx.doctor, tx.causes[0]!, sealed))
      let diagnosis: unknown
      try { diagnosis = JSON.parse(text) } catch { throw new BadMessageError('payload', 'the diagnosis is not JSON') }
      return { diagnosis, doctor: toHex(tx.doctor), causes: tx.causes.map(toHex), id: toHex(txId(tx)) }
    }
  }
}

/** The runtime's diagnosis reader: its own, else over its keys and IPFS. */
export function diagnosisReaderOf (rt: HealthchainRuntime): DiagnosisReader { return rt.diagnosisReader ?? localDiagnosisReader(need(rt, 'keys'), need(rt, 'ipfs')) }
