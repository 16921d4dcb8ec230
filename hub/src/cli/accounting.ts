/**
 * `healthchain accounting --config <file>`: one consortium accounting node
 * (paper §III-A, §IV-B2, §IV-B3) as its own process — identity from the
 * encrypted keystore, libp2p on the configured address, PBFT with the
 * configured accounting nodes, its LevelDB Docchain and PBFT log, a Userchain
 * view synced from the configured core nodes, and doctors' submissions
 * (`/healthchain/diag/2.0.0`). hub/accounting.example.json documents the
 * config. It prints progress; SIGTERM or Ctrl-C stops it cleanly, and after
 * a crash it restarts from its log and catches up by state transfer. Its
 * control API (api/server.ts, routes in api/daemon-routes.ts) answers
 * `healthchain accounting status|members|block <height> --data-dir <dir>`.
 */
import { createInterface } from 'node:readline'
import type { Command } from 'commander'
import { dblockHash, InvalidFieldError, toHex } from '../core/index.ts'
import { ed25519Backend } from '../core/ed25519.ts'
import { openKeystore } from '../store/keystore.ts'
import { loadAccountingConfig, type AccountingConfig } from '../roles/accounting/config.ts'
import { passphrase } from './_common.ts'
import { accountingRoutes } from '../api/daemon-routes.ts'
import { accountingDaemon, type AccountingMember, type AccountingStatus } from '../app/accounting.ts'
import { EXIT, registerGet, startDaemonApi } from './_daemon.ts'

interface Opts { config?: string, passphraseFile?: string, listen?: string[], peersStdin?: boolean, check?: boolean }

/** The first line of stdin: a JSON object of accounting ID (hex) → multiaddr with /p2p/<peer id>. */
async function peersFromStdin (): Promise<Map<string, string>> {
  const rl = createInterface({ input: process.stdin })
  const line = await new Promise<string>((resolve, reject) => {
    rl.once('line', resolve)
    rl.once('close', () => { reject(new InvalidFieldError('--peers-stdin', 'stdin closed before the peer list')) })
  })
  rl.close()
  let j: unknown
  try { j = JSON.parse(line) } catch (err) { throw new InvalidFieldError('--peers-stdin', `not JSON: ${(err as Error).message}`) }
  if (j === null || typeof j !== 'object' || Array.isArray(j) || !Object.values(j).every((v) => typeof v === 'string')) {
    throw new InvalidFieldError('--peers-stdin', 'must be one line: {"<accounting id hex>": "<multiaddr>/p2p/<peer id>", …}')
  }
  return new Map(Object.entries(j as Record<string, string>).map(([k, v]) => [k.toLowerCase(), v]))
}

export function register (program: Command): void {
  const cmd = program.command('accounting')
    .description('run a consortium accounting node: PBFT on Docchain with the configured accounting nodes, tx_diag checked against Userchain (SIGTERM stops); with a subcommand, ask the running one')
    .option('--config <file>', 'accounting node config (see hub/accounting.example.json); required to run one')
    .option('--passphrase-file <file>', 'read the keystore passphrase from this file (else $HEALTHCHAIN_PASSPHRASE, else a prompt)')
    .option('--listen <multiaddr...>', 'libp2p listen addresses (overrides the config)')
    .option('--peers-stdin', 'read the other members\' addresses as one JSON line on stdin once listening (for orchestration on ephemeral ports)')
    .option('--check', 'check the config and exit')
    .action(async (o: Opts) => {
      // (not a commander requiredOption: the subcommands, which ask a running node, do not take it)
      const file = o.config ?? cmd.error('error: required option \'--config <file>\' not specified', { exitCode: EXIT.usage, code: 'commander.missingMandatoryOptionValue' })
      let cfg: AccountingConfig = await loadAccountingConfig(file)
      if (o.listen !== undefined) cfg = { ...cfg, listen: o.listen }
      const n = cfg.members.length
      const f = Math.floor((n - 1) / 3)
      if (o.check === true) { process.stdout.write(`config ok: ${n} accounting nodes (f = ${f}), data in ${cfg.dataDir}\n`); return }
      const out = (s: string): void => { process.stdout.write(`${new Date().toISOString()} ${s}\n`) }
      const secret = await passphrase(o)
      const identity = await openKeystore(cfg.keystore, secret)
      // the member holding the consortium's key settles doctors' earnings (§IV-B4); its passphrase: its own file, else this node's
      const consortium = cfg.settlement === undefined ? undefined : await openKeystore(cfg.settlement.keystore, cfg.settlement.passphraseFile === undefined ? secret : await passphrase({ passphraseFile: cfg.settlement.passphraseFile }, undefined, 'settlement.passphraseFile'))
      const me = toHex(identity.id)
      const index = cfg.members.findIndex((m) => m.id === me)
      if (index < 0) throw new InvalidFieldError('members', `this node's ID ${me} (from ${cfg.keystore}) is not one of the members`)
      out(`accounting node ${me}: member ${index} of ${n} (f = ${f}), ${cfg.network}, data in ${cfg.dataDir}, Ed25519 on ${ed25519Backend}`)
      // libp2p is loaded only by the commands that use it
      const { AccountingService } = await import('../roles/accounting/service.ts')
      const svc = await AccountingService.start({
        config: cfg,
        identity,
        ...(consortium === undefined ? {} : { consortium }),
        log: out,
        // printed first, so a new member learns its peer id (for the others' configs) even before its own config is complete
        peers: async (self) => {
          out(`peer ${self.peerId} listening ${self.addrs.join(' ')}`)
          if (o.peersStdin !== true) return new Map()
          out('waiting for the peer list on stdin')
          return await peersFromStdin()
        }
      })
      const node = svc.node
      const api = await startDaemonApi(cfg.dataDir, 'accounting', accountingRoutes(accountingDaemon(svc, cfg, identity)), async () => { await svc.stop() })
      out(`ready: Docchain height ${node.height}, view ${node.view}, Userchain height ${svc.core.store.height}, control API ${api.socket}`)
      if (consortium !== undefined) out(`settling doctors' earnings from the consortium account ${toHex(consortium.id)}`)
      node.onCommit = ((prev) => (b) => { prev?.(b); out(`commit ${b.header.index} ${toHex(dblockHash(b.header))} txs ${b.txs.length} view ${b.header.view}`) })(node.onCommit)
      svc.core.on('tip', (e: { height: number, hex: string }) => { out(`userchain ${e.height} ${e.hex}`) })
      let lastView = node.view
      const status = setInterval(() => {
        if (node.view !== lastView) { out(`view ${node.view}, leader ${toHex(node.leader)}`); lastView = node.view }
      }, 200)
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve)
        process.once('SIGTERM', resolve)
      })
      clearInterval(status)
      out('stopping')
      await api.close()
      await svc.stop()
      out('stopped')
    })

  registerGet(cmd, 'status', 'the running accounting node\'s member, view, leader, committed Docchain height, Userchain copy and peers (through its control API)', () => '/v1/status', (v) => {
    const s = v as AccountingStatus
    return [
      `member      ${s.member} of ${s.members} (f = ${s.f}) ${s.id}`,
      `view        ${s.view}, leader ${s.leader}`,
      `docchain    height ${s.docchain.height}${s.docchain.tip === null ? '' : ` ${s.docchain.tip}`}`,
      `userchain   height ${s.userchain.height} ${s.userchain.tip}`,
      `peers       ${s.peers}`
    ].join('\n')
  }, 'accounting node')
  registerGet(cmd, 'members', 'the accounting nodes in leader order, the current view\'s leader marked', () => '/v1/members', (v) => {
    const m = v as { view: number, members: AccountingMember[] }
    return [`view ${m.view}`, ...m.members.map((x) => `${x.leader ? '*' : ' '} ${x.index} ${x.id}${x.self ? ' (this node)' : ''}${x.addr === null ? '' : ` ${x.addr}`}`)].join('\n')
  }, 'accounting node')
  registerGet(cmd, 'block <height>', 'a committed Dblock: header, tx_diag ids, certificate signers', (h) => `/v1/dblocks/${encodeURIComponent(h ?? '')}`, undefined, 'accounting node')
}
