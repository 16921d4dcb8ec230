/**
 * keys (paper §IV-B5 Key management, Alg. 3; §V-C): publishes the user's
 * tx_key for a key-epoch change — init (first epoch, no doctors), grant
 * (a doctor reads the current key period), revoke (fresh Ik: the doctor
 * reads nothing sealed afterwards), rotate (fresh Ik, same doctors) — and
 * submits it to the mempool. Input: msg.payload = {action, doctor (hex ID)}
 * or msg.payload = doctor ID with the action set on the node.
 * Output msg.payload = {action, epoch, id (htxk), doctors[]}.
 */
import { fromHex, toHex, type TxKey } from '../../../hub/src/core/index.ts'
import { BadMessageError } from '../../../hub/src/nodered/errors.ts'
import { defineNode, prop, runtimeOf, status, type RedApi } from '../../../hub/src/nodered/kit.ts'
import { need } from '../../../hub/src/nodered/runtime.ts'
import { publishEpoch } from '../../../hub/src/roles/user/keys.ts'

const ACTIONS = ['init', 'grant', 'revoke', 'rotate'] as const
type Action = typeof ACTIONS[number]

function doctorId (x: unknown): Uint8Array {
  if (typeof x !== 'string' || !/^[0-9a-f]{64}$/i.test(x)) throw new BadMessageError('payload.doctor', 'must be the doctor\'s 32-byte ID in hex')
  return fromHex('payload.doctor', x)
}

export default function (RED: RedApi): void {
  defineNode(RED, 'healthchain-keys', (node, def) => {
    const rt = runtimeOf(RED, def)
    const keys = need(rt, 'keys')
    const txs = need(rt, 'txs')
    const dflt = prop(def, 'action', 'grant')
    const show = (): void => {
      const e = keys.current
      node.status(e === null ? status.warn('no key epoch') : status.ok(`epoch ${e.epoch} · ${e.doctors.length} doctor(s)`))
    }
    show()
    return {
      input: async (msg) => {
        const p = msg.payload
        const obj = typeof p === 'object' && p !== null && !Array.isArray(p) ? p as Record<string, unknown> : { doctor: p }
        const action = (typeof obj.action === 'string' ? obj.action : dflt)
        if (!(ACTIONS as readonly string[]).includes(action)) throw new BadMessageError('payload.action', `must be one of ${ACTIONS.join(', ')}, got ${JSON.stringify(action)}`)
        let tx: TxKey
        switch (action as Action) {
          case 'init': tx = keys.init(); break
          case 'grant': tx = keys.grant(doctorId(obj.doctor)); break
          case 'revoke': tx = keys.revoke(doctorId(obj.doctor)); break
          default: tx = keys.rotate()
        }
        const { id } = await publishEpoch(keys, tx, async (x) => await txs.submit(x))
        show()
        msg.payload = { action, epoch: tx.epoch, id, doctors: tx.envelopes.map((e) => toHex(e.doctor)) }
        msg.tx = tx
        return msg
      }
    }
  })
}
