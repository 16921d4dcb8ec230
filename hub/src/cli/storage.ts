/**
 * `healthchain storage --config <file>`: one of the consortium's storage
 * nodes (paper §III-A, §IV-B2; DESIGN §6) as its own process — Helia with
 * LevelDB blocks and pins under `dataDir`, uploads acknowledged once pinned,
 * blocks served to any peer, and every CID Userchain names pinned
 * (app/storage.ts). hub/storage.example.json documents the config.
 * Output: a `ready` block with one `peer <multiaddr>` line per address
 * (what hubs, doctors and the other replicas put in their configs), then
 * timestamped progress lines; SIGTERM or Ctrl-C stops it cleanly.
 */
import type { Command } from 'commander'
import { loadStorageConfig } from '../config/storage.ts'
import { stamped, untilSignal } from './_common.ts'
import { storageRoutes } from '../api/daemon-routes.ts'
import { registerStatus, startDaemonApi } from './_daemon.ts'

export function register (program: Command): void {
  program.command('storage')
    .description('run a consortium storage node: pins and serves the encrypted batches, pins every CID named on Userchain (SIGTERM stops)')
    .requiredOption('--config <file>', 'storage node config (see hub/storage.example.json)')
    .option('--check', 'check the config and exit')
    .action(async (o: { config: string, check?: boolean }) => {
      const cfg = await loadStorageConfig(o.config)
      if (o.check === true) {
        process.stdout.write(`config ok: ${cfg.network}, data in ${cfg.dataDir}, ${cfg.replicas.length} replica(s), ${cfg.userchain.bootstrap.length} Userchain bootstrap peer(s), uploads held ${cfg.uploads.deadlineSeconds} s for a transaction (quota ${cfg.uploads.quotaUploads} uploads, ${cfg.uploads.quotaBytes} bytes per identity)${cfg.docchain === undefined ? ', no Docchain (doctors cannot upload)' : ''}${cfg.pinningApi === undefined ? '' : `, pinning API on ${cfg.pinningApi.host}:${cfg.pinningApi.port}${cfg.pinningApi.tls === undefined ? ' (plain HTTP)' : ' (HTTPS)'}`}\n`)
        return
      }
      const out = stamped
      // Helia and libp2p are loaded only by the commands that use them
      const { startStorage } = await import('../app/storage.ts')
      const daemon = await startStorage(cfg, { log: out })
      const api = await startDaemonApi(cfg.dataDir, 'storage', storageRoutes(daemon), async () => { await daemon.stop() })
      const st = await daemon.status()
      process.stdout.write([
        'storage ready',
        `  peer id          ${st.peerId}`,
        ...st.multiaddrs.map((a) => `  peer ${a}`),
        `  pinned           ${st.pinned} (pending ${st.pending}, failed ${st.failed}, unconfirmed uploads ${st.unconfirmed})`,
        ...(st.pinningApi === null ? [] : [`  pinning API      ${st.pinningApi}`]),
        ...(st.docchainHeight === null ? [] : [`  docchain         height ${st.docchainHeight}`]),
        `  userchain        ${cfg.network} height ${st.userchainHeight}`,
        `  data             ${cfg.dataDir}`,
        `  control API      ${api.socket}`
      ].join('\n') + '\n')
      await untilSignal(async () => { await api.close(); await daemon.stop() }, out)
    })

  registerStatus(program, 'storage-status', 'the running storage node\'s status, through its control API')
}
