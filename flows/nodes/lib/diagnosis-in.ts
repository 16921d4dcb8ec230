/**
 * diagnosis in (user side; paper §IV-B5: the user reads the doctor's
 * diagnosis EDM with dk_ij): for every committed tx_diag about this user's
 * data — from the runtime's diagnosis source, or a msg.payload {tx, epoch}
 * on the input — fetches HEdm from IPFS, derives dk_ij for the doctor and
 * the epoch of the first cause, opens it (AAD: doctor ‖ htxI) and emits
 * msg.payload = the diagnosis, msg.doctor, msg.causes, msg.id (htxd).
 */
import { cidStringFromDigest, openDiagnosis, toHex, txId } from '../../../hub/src/core/index.ts'
import { BadMessageError } from '../../../hub/src/nodered/errors.ts'
import { defineNode, runtimeOf, status, type Msg, type RedApi } from '../../../hub/src/nodered/kit.ts'
import { intOf, txOf } from '../../../hub/src/nodered/msg.ts'
import { need, type DiagnosisEvent } from '../../../hub/src/nodered/runtime.ts'

export default function (RED: RedApi): void {
  defineNode(RED, 'healthchain-diagnosis-in', (node, def) => {
    const rt = runtimeOf(RED, def)
    const keys = need(rt, 'keys')
    const ipfs = need(rt, 'ipfs')
    let received = 0
    const read = async (e: DiagnosisEvent, msg: Msg): Promise<Msg> => {
      const dk = keys.diagnosisKey(e.epoch, e.tx.doctor)
      const sealed = await ipfs.get(cidStringFromDigest(e.tx.hedm))
      const text = new TextDecoder('utf-8', { fatal: true }).decode(openDiagnosis(dk, e.tx.doctor, e.tx.causes[0]!, sealed))
      let diagnosis: unknown
      try { diagnosis = JSON.parse(text) } catch { throw new BadMessageError('payload', 'the diagnosis is not JSON') }
      node.status(status.ok(`${++received} received`))
      msg.payload = diagnosis
      msg.doctor = toHex(e.tx.doctor)
      msg.causes = e.tx.causes.map(toHex)
      msg.id = toHex(txId(e.tx))
      return msg
    }
    node.status(status.idle('waiting'))
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
