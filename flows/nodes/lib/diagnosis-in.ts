/**
 * diagnosis in (user side; paper §IV-B5: the user reads the doctor's
 * diagnosis EDM with dk_ij): for every committed tx_diag about this user's
 * data — from the runtime's diagnosis source (in the hub: those its
 * Docchain follower verified; elsewhere: the hub's control API stream), or
 * a msg.payload {tx, epoch} on the input — opens it where the keys are
 * (nodered/diagnosis.ts: fetches HEdm from IPFS, derives dk_ij for the
 * doctor and the epoch of the first cause, AAD doctor ‖ htxI) and emits
 * msg.payload = the diagnosis, msg.doctor, msg.causes, msg.id (htxd).
 */
import { toHex, txId } from '../../../hub/src/core/index.ts'
import { BadMessageError } from '../../../hub/src/nodered/errors.ts'
import { defineNode, runtimeOf, status, type Msg, type RedApi } from '../../../hub/src/nodered/kit.ts'
import { intOf, txOf } from '../../../hub/src/nodered/msg.ts'
import { diagnosisReaderOf } from '../../../hub/src/nodered/diagnosis.ts'
import type { DiagnosisEvent } from '../../../hub/src/nodered/runtime.ts'

export default function (RED: RedApi): void {
  defineNode(RED, 'healthchain-diagnosis-in', (node, def) => {
    const rt = runtimeOf(RED, def)
    const reader = diagnosisReaderOf(rt)
    let received = 0
    const read = async (e: DiagnosisEvent, msg: Msg): Promise<Msg> => {
      const d = await reader.open(e)
      node.status(status.ok(`${++received} received`))
      msg.payload = d.diagnosis
      msg.doctor = d.doctor
      msg.causes = [...d.causes]
      msg.id = d.id
      return msg
    }
    node.status(rt.diagnoses === undefined ? status.idle('input only') : status.idle('waiting'))
    let chain: Promise<unknown> = Promise.resolve()
    const unsubscribe = rt.diagnoses?.subscribe((e) => {
      chain = chain.then(() => read(e, {})).then((m) => { node.send(m) }, (err: unknown) => {
        node.status(status.fail(err))
        node.error(err, { payload: { id: toHex(txId(e.tx)), epoch: e.epoch } })
      })
    })
    return {
      input: (msg) => {
        const p = msg.payload as { tx?: unknown, epoch?: unknown } | null
        if (typeof p !== 'object' || p === null) throw new BadMessageError('payload', 'must be {tx: tx_diag, epoch}')
        return read({ tx: txOf(p.tx, 'diag', 'payload.tx'), epoch: intOf(p.epoch, 'payload.epoch') }, msg)
      },
      close: () => { unsubscribe?.() }
    }
  })
}
