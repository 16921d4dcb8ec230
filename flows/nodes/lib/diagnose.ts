/**
 * diagnose (doctor side; paper §IV-B5 Disease diagnosis, Alg. 4): for a
 * tx_IoT in msg.payload (object or encoding), fetches its batch from IPFS,
 * opens it with the Ik the user granted this doctor for that epoch, and
 * takes the diagnosis from msg.diagnosis (a human doctor's, e.g. from a
 * dashboard) or from the runtime's analyzer (hub/src/ai). The diagnosis is
 * sealed with dk_ij (AAD: doctor ‖ htxI), uploaded with replication acks,
 * and tx_diag = {ID_D, ts, [htxI], HEdm, Sig} is built. Output:
 * msg.payload = the tx_diag (for pbft submit), msg.diagnosis, msg.readings.
 * With "watch" on, every new tx_IoT of a user who granted this doctor
 * (the runtime's iotTxs source) is diagnosed too.
 */
import { cidStringFromDigest, digestFromCidString, openBatch, toHex, txId } from '../../../hub/src/core/index.ts'
import { sealDiagnosisTx } from '../../../hub/src/roles/doctor/doctor.ts'
import { decodeBatch } from '../../../hub/src/nodered/batcher.ts'
import { defineNode, runtimeOf, status, type Msg, type RedApi } from '../../../hub/src/nodered/kit.ts'
import { asBuffer, txOf } from '../../../hub/src/nodered/msg.ts'
import { need } from '../../../hub/src/nodered/runtime.ts'

export default function (RED: RedApi): void {
  defineNode(RED, 'healthchain-diagnose', (node, def) => {
    const rt = runtimeOf(RED, def)
    const tracker = need(rt, 'doctorKeys')
    const ipfs = need(rt, 'ipfs')
    let done = 0
    node.status(status.idle('ready'))
    const diagnose = async (msg: Msg): Promise<Msg> => {
      const cause = txOf(msg.payload, 'iot')
      const { ik, dk } = tracker.keysFor(cause.user, cause.epoch)
      node.status(status.busy('fetching batch'))
      const sealed = await ipfs.get(cidStringFromDigest(cause.heiot))
      const readings = decodeBatch(openBatch(ik, cause.user, cause.epoch, sealed))
      const diagnosis = msg.diagnosis !== undefined ? msg.diagnosis : await need(rt, 'analyze')(readings, cause)
      const htxI = txId(cause)
      node.status(status.busy('uploading diagnosis'))
      const upload = async (b: Uint8Array): Promise<Uint8Array> => digestFromCidString((await ipfs.upload(b)).cid)
      const { tx, sealed: sealedDiag, hedm } = await sealDiagnosisTx(rt.identity, dk, [htxI], diagnosis, { upload, rng: rt.rng, now: rt.now })
      const cid = cidStringFromDigest(hedm)
      node.status(status.ok(`${++done} diagnosed`))
      msg.payload = tx
      msg.diagnosis = diagnosis
      msg.readings = readings
      msg.cause = toHex(htxI)
      msg.cid = cid
      msg.sealed = asBuffer(sealedDiag)
      return msg
    }
    let chain: Promise<unknown> = Promise.resolve()
    const unsubscribe = def.watch === true
      ? need(rt, 'iotTxs').subscribe((tx) => {
        const msg: Msg = { payload: tx }
        chain = chain.then(() => diagnose(msg)).then((m) => { node.send(m) }, (err: unknown) => { node.status(status.fail(err)); node.error(err, msg) })
      })
      : undefined
    return { input: diagnose, close: () => { unsubscribe?.() } }
  })
}
