/**
 * keys (paper §IV-B5 Key management, Alg. 3; §V-C): publishes the user's
 * tx_key for a key-epoch change — init (first epoch, no doctors), grant
 * (a doctor reads the current key period), revoke (fresh Ik: the doctor
 * reads nothing sealed afterwards), rotate (fresh Ik, same doctors) — and
 * submits it to the mempool. It runs where the keys are (nodered/epochs.ts):
 * in the hub through its key service — the call the CLI and the patient
 * page make — and in another Node-RED through the hub's control API.
 * Input: msg.payload = {action, doctor (hex ID or identity record)} or
 * msg.payload = the doctor with the action set on the node. A grant takes
 * msg.payload.scope: from-now (the default, a fresh Ik: the doctor reads
 * from the grant on) or history (the current Ik: also since the last
 * fresh Ik). On a hub the change goes through its epoch committer
 * (roles/user/commit.ts): persisted before broadcast, applied once
 * accepted, re-broadcast until mined, issued again if it expires.
 * Output msg.payload = {action, epoch, id (htxk), doctors[]}; msg.tx = the
 * tx_key where it was built in this process.
 */
import { BadMessageError } from '../../../hub/src/nodered/errors.ts'
import { defineNode, prop, runtimeOf, status, type RedApi } from '../../../hub/src/nodered/kit.ts'
import { keyEpochsOf } from '../../../hub/src/nodered/epochs.ts'
import type { PublishedEpoch } from '../../../hub/src/nodered/runtime.ts'
import type { GrantScope } from '../../../hub/src/roles/user/keys.ts'

const ACTIONS = ['init', 'grant', 'revoke', 'rotate'] as const
type Action = typeof ACTIONS[number]

function doctorOf (x: unknown): string {
  if (typeof x !== 'string' || !/^([0-9a-f]{2}){32,512}$/i.test(x)) throw new BadMessageError('payload.doctor', 'must be the doctor\'s 32-byte ID in hex (or its identity record)')
  return x
}

export default function (RED: RedApi): void {
  defineNode(RED, 'healthchain-keys', (node, def) => {
    const epochs = keyEpochsOf(runtimeOf(RED, def))
    const dflt = prop(def, 'action', 'grant')
    const show = (e: { epoch: number, doctors: readonly string[] }): void => {
      node.status(e.epoch === 0 ? status.warn('no key epoch') : status.ok(`epoch ${e.epoch} · ${e.doctors.length} doctor(s)`))
    }
    const refresh = (): void => { epochs.doctors().then(show, (err: unknown) => { node.status(status.fail(err)) }) }
    node.status(status.idle('…'))
    refresh()
    return {
      input: async (msg) => {
        const p = msg.payload
        const obj = typeof p === 'object' && p !== null && !Array.isArray(p) ? p as Record<string, unknown> : { doctor: p }
        const action = (typeof obj.action === 'string' ? obj.action : dflt)
        if (!(ACTIONS as readonly string[]).includes(action)) throw new BadMessageError('payload.action', `must be one of ${ACTIONS.join(', ')}, got ${JSON.stringify(action)}`)
        node.status(status.busy(action))
        let e: PublishedEpoch
        switch (action as Action) {
          case 'init':
            if (epochs.init === undefined) throw new BadMessageError('payload.action', 'init: this hub published its first key epoch itself at its first start')
            e = await epochs.init(); break
          case 'grant': {
            const scope = obj.scope ?? 'from-now'
            if (scope !== 'from-now' && scope !== 'history') throw new BadMessageError('payload.scope', 'must be from-now or history')
            e = await epochs.grant(doctorOf(obj.doctor), scope as GrantScope); break
          }
          case 'revoke': e = await epochs.revoke(doctorOf(obj.doctor)); break
          default: e = await epochs.rotate()
        }
        show(e)
        msg.payload = { action, epoch: e.epoch, id: e.tx, doctors: [...e.doctors] }
        if (e.txKey !== undefined) msg.tx = e.txKey
        return msg
      }
    }
  })
}
