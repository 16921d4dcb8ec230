/**
 * keys (paper §IV-B5 Key management, Alg. 3; §V-C): publishes the user's
 * tx_key for a key-epoch change — init (first epoch, no doctors), grant
 * (a doctor reads the current key period), revoke (fresh Ik: the doctor
 * reads nothing sealed afterwards), rotate (fresh Ik, same doctors) — and
 * submits it to the mempool. Input: msg.payload = {action, doctor (hex ID)}
 * or msg.payload = doctor ID with the action set on the node.
 * A grant takes msg.payload.scope: from-now (the default, a fresh Ik) or
 * history (the current Ik). The tx_key is built without changing the keys
 * and applied only once the node accepted it; on a hub it goes through the
 * hub's epoch committer (roles/user/commit.ts: persisted before broadcast,
 * re-broadcast until mined, issued again if it expires), the same code
 * path as the CLI and the patient page.
 * Output msg.payload = {action, epoch, id (htxk), doctors[]}.
 */
import { fromHex, toHex, type TxKey } from '../../../hub/src/core/index.ts'
import { BadMessageError } from '../../../hub/src/nodered/errors.ts'
import { defineNode, prop, runtimeOf, status, type RedApi } from '../../../hub/src/nodered/kit.ts'
import { need } from '../../../hub/src/nodered/runtime.ts'
import type { EpochChange, GrantScope } from '../../../hub/src/roles/user/keys.ts'

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
    // on a hub: its epoch committer; elsewhere: build, submit, apply once accepted
    const commit = rt.epochs?.commit ?? (async (change: EpochChange): Promise<{ tx: TxKey, id: string }> => {
      const tx = keys.prepare(change)
      const { id } = await need(rt, 'txs').submit(tx)
      keys.apply(tx)
      return { tx, id }
    })
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
        let change: EpochChange
        switch (action as Action) {
          case 'init': change = { kind: 'init' }; break
          case 'grant': {
            const scope = obj.scope ?? 'from-now'
            if (scope !== 'from-now' && scope !== 'history') throw new BadMessageError('payload.scope', 'must be from-now or history')
            change = { kind: 'grant', doctor: doctorId(obj.doctor), scope: scope as GrantScope }
            break
          }
          case 'revoke': change = { kind: 'revoke', doctor: doctorId(obj.doctor) }; break
          default: change = { kind: 'rotate' }
        }
        const { tx, id } = await commit(change)
        show()
        msg.payload = { action, epoch: tx.epoch, id, doctors: tx.envelopes.map((e) => toHex(e.doctor)) }
        msg.tx = tx
        return msg
      }
    }
  })
}
