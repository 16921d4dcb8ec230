/**
 * miner (paper Alg. 1; §III-A core user node): starts and stops the hub's
 * PoW miner. Input msg.payload (or msg.topic) "start", "stop" or "status";
 * output msg.payload = {running, height, mined}. The status dot follows the
 * miner: green while mining, grey when stopped, with the tip height.
 */
import { BadMessageError } from '../../../hub/src/nodered/errors.ts'
import { defineNode, prop, runtimeOf, status, type RedApi } from '../../../hub/src/nodered/kit.ts'
import { need, type MinerStatus } from '../../../hub/src/nodered/runtime.ts'

const COMMANDS = ['start', 'stop', 'status'] as const
type Command = typeof COMMANDS[number]

export default function (RED: RedApi): void {
  defineNode(RED, 'healthchain-miner', (node, def) => {
    const miner = need(runtimeOf(RED, def), 'miner')
    const show = (s: MinerStatus): void => {
      node.status(s.running ? status.ok(`mining · height ${s.height} · ${s.mined} found`) : status.idle(`stopped · height ${s.height}`))
    }
    show(miner.status())
    const unwatch = miner.watch?.(show)
    const fallback = prop(def, 'command', 'status')
    return {
      input: async (msg) => {
        const raw = typeof msg.payload === 'string' && msg.payload !== '' ? msg.payload : typeof msg.topic === 'string' && msg.topic !== '' ? msg.topic : fallback
        if (!(COMMANDS as readonly string[]).includes(raw)) throw new BadMessageError('payload', `miner command must be one of ${COMMANDS.join(', ')}, got ${JSON.stringify(raw)}`)
        const cmd = raw as Command
        if (cmd === 'start') await miner.start()
        if (cmd === 'stop') await miner.stop()
        const s = miner.status()
        show(s)
        msg.payload = { ...s }
        return msg
      },
      close: () => { unwatch?.() }
    }
  })
}
