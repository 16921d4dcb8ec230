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
 * (the runtime's iotTxs source) is analysed too; an analyzer diagnosis
 * (hub/src/ai) steps the patient's episode (ai/episodes.ts) and a tx_diag
 * follows only a change that matters (opened, worsened, new finding,
 * resolved), as on the doctor daemon: one desaturation, one episode.
 */
import { EpisodeTracker } from '../../../hub/src/ai/episodes.ts'
import type { Diagnosis } from '../../../hub/src/ai/analyzer.ts'
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
    const episodes = new EpisodeTracker()
    node.status(status.idle('ready'))
    const diagnose = async (msg: Msg, watched = false): Promise<Msg | null> => {
      const cause = txOf(msg.payload, 'iot')
      const { ik, dk } = tracker.keysFor(cause.user, cause.epoch)
      node.status(status.busy('fetching batch'))
      const sealed = await ipfs.get(cidStringFromDigest(cause.heiot))
      const readings = decodeBatch(openBatch(ik, cause.user, cause.epoch, sealed))
      const htxI = txId(cause)
      let diagnosis = msg.diagnosis !== undefined ? msg.diagnosis : await need(rt, 'analyze')(readings, cause)
      if (watched && isAnalysis(diagnosis)) {
        const step = episodes.step(toHex(cause.user), { id: toHex(htxI), diagnosis })
        if (!step.matters) {
          node.status(status.idle(`${done} diagnosed; episode ${step.change}`))
          return null
        }
        if (step.ref !== undefined) diagnosis = { ...diagnosis, episode: step.ref }
      }
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
        chain = chain.then(() => diagnose(msg, true)).then((m) => { if (m !== null) node.send(m) }, (err: unknown) => { node.status(status.fail(err)); node.error(err, msg) })
      })
      : undefined
    return { input: (msg) => diagnose(msg), close: () => { unsubscribe?.() } }
  })
}

/** The analyzer's diagnosis (hub/src/ai), as opposed to a custom analyzer's result, which is signed as it comes. */
function isAnalysis (d: unknown): d is Diagnosis {
  return typeof d === 'object' && d !== null && Array.isArray((d as Diagnosis).findings) && typeof (d as Diagnosis).severity === 'string'
}
