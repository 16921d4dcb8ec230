/**
 * The two FHIR sources (source.ts): the hub's, over the user's own keys
 * (UserKeys: every epoch, Env_U opens each) and the diagnoses PatientReader
 * read from certified Dblocks; and the doctor node's, over the DoctorNode's
 * key tracker (only the epochs a tx_key granted it; after a revocation no
 * key for anything sealed later, paper §V-C) and the tx_diag it signed that
 * Docchain committed, opened with its dk_ij.
 */
import { decodeTx, fromHex, HealthchainError, openDiagnosis, toHex, txId, type TxDiag } from '../core/index.ts'
import type { Diagnosis } from '../ai/analyzer.ts'
import type { UserKeys } from '../roles/user/keys.ts'
import type { PatientReader } from '../roles/user/diagnoses.ts'
import type { DoctorNode } from '../roles/doctor/doctor.ts'
import { chainSource, type ChainView, type DiagnosisRef, type FhirSource } from './source.ts'

export function hubFhirSource (o: { chain: ChainView, keys: UserKeys, reader: Pick<PatientReader, 'diagnoses'>, fetch: (digest: Uint8Array) => Promise<Uint8Array> }): FhirSource {
  const me = toHex(o.keys.user.id)
  return chainSource({
    kind: 'hub',
    chain: o.chain,
    fetch: o.fetch,
    ik: (p, epoch) => {
      if (p !== me) return undefined
      try { return o.keys.epoch(epoch).ik } catch { return undefined }
    },
    patients: () => [me],
    access: (p) => p === me ? { ok: true } : { ok: false, status: 404, reason: 'this hub serves its own user\'s data only' },
    diagnoses: async (p) => p !== me
      ? []
      : o.reader.diagnoses.map((d) => ({ id: d.htxd, patient: me, doctor: d.doctor, causes: d.causes.map((c) => toHex(txId(c))), diagnosis: d.diagnosis, issued: d.ts * 1000 }))
  })
}

/** What the doctor's journal keeps of each tx_diag it signed (store/doctor-journal.ts DiagRecord). */
export interface SignedDiag { readonly htxd: string, readonly tx: string, readonly user: string, readonly status: string }

export function doctorFhirSource (o: { chain: ChainView, node: DoctorNode, diags: () => Iterable<SignedDiag>, fetch: (digest: Uint8Array) => Promise<Uint8Array>, log?: (line: string) => void }): FhirSource {
  const keys = o.node.keys
  const opened = new Map<string, DiagnosisRef | null>()
  return chainSource({
    kind: 'doctor',
    chain: o.chain,
    fetch: o.fetch,
    ik: (p, epoch) => {
      const u = fromHex('patient', p)
      return keys.holds(u, epoch) ? keys.keysFor(u, epoch).ik : undefined
    },
    patients: () => keys.patientsEverGranted().map(toHex),
    access: (p, txs) => {
      const st = keys.status(fromHex('patient', p))
      if (st === undefined || st.epochs.length === 0) return { ok: false, status: 403, reason: 'this doctor was never granted access: no tx_key of this patient names it' }
      if (st.revokedAt === undefined) return { ok: true }
      const k = txs.keys.find((x) => x.epoch === st.revokedAt)
      return { ok: true, revoked: { epoch: st.revokedAt, at: (k?.ts ?? 0) * 1000 } }
    },
    // the tx_diag this doctor signed that Docchain committed, opened with dk_ij of the first cause's epoch (Alg. 4)
    diagnoses: async (p, txs) => {
      const iot = new Map((await txs(p)).iot.map((tx) => [toHex(txId(tx)), tx]))
      const out: DiagnosisRef[] = []
      for (const d of o.diags()) {
        if (d.user !== p || d.status !== 'committed') continue
        let ref = opened.get(d.htxd)
        if (ref === undefined) {
          const tx = decodeTx(fromHex('tx', d.tx)) as TxDiag
          const causes = tx.causes.map(toHex)
          const first = iot.get(causes[0]!)
          if (first === undefined) continue // its cause not on this node's chain yet: try again later
          try {
            const { dk } = keys.keysFor(first.user, first.epoch)
            const plain = openDiagnosis(dk, tx.doctor, txId(first), await o.fetch(tx.hedm))
            ref = { id: d.htxd, patient: p, doctor: toHex(tx.doctor), causes, diagnosis: JSON.parse(new TextDecoder().decode(plain)) as Diagnosis, issued: tx.ts * 1000 }
          } catch (err) {
            if (!(err instanceof HealthchainError) && !(err instanceof SyntaxError)) throw err
            o.log?.(`fhir: tx_diag ${d.htxd.slice(0, 12)}… does not open: ${(err as Error).message}`)
            ref = null
          }
          opened.set(d.htxd, ref)
        }
        if (ref !== null) out.push(ref)
      }
      return out
    }
  })
}
