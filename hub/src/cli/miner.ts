/**
 * `healthchain miner start|stop|status`: the running hub's PoW miner
 * (paper Alg. 1), through its control API (app/hub-service.ts
 * minerService). On a stopped data dir, `healthchain mine` mines blocks
 * itself and `healthchain node --mine` runs a mining node.
 */
import type { Command } from 'commander'
import { needDaemon, output } from './_daemon.ts'

interface Opts { dataDir?: string, json?: boolean }
interface MinerStatus { mining: boolean, threads?: number, hashes?: number, height?: number }

export function register (program: Command): void {
  const miner = program.command('miner').description('start, stop or show the running hub\'s miner (through its control API)')
  const opts = (c: Command): Command => c.option('--data-dir <dir>', 'data directory (default $HEALTHCHAIN_DATA or ~/.healthchain)').option('--json', 'machine-readable output')
  const show = (s: MinerStatus): string => `miner ${s.mining ? 'running' : 'stopped'}${s.threads === undefined ? '' : ` (${s.threads} thread(s), ${s.hashes ?? 0} hashes, tip height ${s.height ?? 0})`}`
  opts(miner.command('status')).description('is the miner running').action(async (o: Opts) => {
    const s = await needDaemon(o.dataDir, async (c) => await c.call<MinerStatus>('GET', '/v1/miner'))
    output(o, s, () => show(s))
  })
  opts(miner.command('start')).description('start mining on the tip').action(async (o: Opts) => {
    const s = await needDaemon(o.dataDir, async (c) => await c.call<MinerStatus>('POST', '/v1/miner/start', {}))
    output(o, s, () => show(s))
  })
  opts(miner.command('stop')).description('stop mining').action(async (o: Opts) => {
    const s = await needDaemon(o.dataDir, async (c) => await c.call<MinerStatus>('POST', '/v1/miner/stop', {}))
    output(o, s, () => show(s))
  })
}
