/**
 * `healthchain doctor --config <file>`: a doctor node (paper §III-A,
 * §IV-B5), AI or human, as its own process — identity from the encrypted
 * keystore, Userchain followed over libp2p, batches fetched from the storage
 * nodes, tx_diag submitted to the accounting nodes, the doctor page
 * (app/doctor.ts). hub/doctor.example.json documents the config.
 * Output: a `doctor ready` block (doctor ID, libp2p address, page URL, the
 * page login on the start that made it), then timestamped progress lines;
 * SIGTERM or Ctrl-C stops it cleanly.
 */
import type { Command } from 'commander'
import { toHex } from '../core/index.ts'
import { openKeystore } from '../store/keystore.ts'
import { loadDoctorConfig } from '../config/doctor.ts'
import { passphrase, stamped, untilSignal } from './_common.ts'
import { doctorRoutes } from '../api/daemon-routes.ts'
import { registerStatus, startDaemonApi } from './_daemon.ts'

export function register (program: Command): void {
  program.command('doctor')
    .description('run a doctor node (mode ai or human): follows Userchain, analyses its patients\' batches, submits tx_diag to the accounting nodes, serves the doctor page (SIGTERM stops)')
    .requiredOption('--config <file>', 'doctor node config (see hub/doctor.example.json)')
    .option('--passphrase-file <file>', 'read the keystore passphrase from this file (else $HEALTHCHAIN_PASSPHRASE, else a prompt)')
    .option('--check', 'check the config and exit')
    .action(async (o: { config: string, passphraseFile?: string, check?: boolean }) => {
      const cfg = await loadDoctorConfig(o.config)
      if (o.check === true) {
        process.stdout.write(`config ok: ${cfg.mode} doctor "${cfg.name}", ${cfg.network}, data in ${cfg.dataDir}, ${cfg.storageNodes.length} storage node(s), ${cfg.docchain.members.length} accounting node(s), ${cfg.userchain.bootstrap.length} Userchain bootstrap peer(s)\n`)
        return
      }
      const out = stamped
      const identity = await openKeystore(cfg.keystore, await passphrase(o))
      // Helia and libp2p are loaded only by the commands that use them
      const { startDoctor } = await import('../app/doctor.ts')
      const daemon = await startDoctor(cfg, { identity, log: out })
      const api = await startDaemonApi(cfg.dataDir, 'doctor', doctorRoutes(daemon), daemon.stop)
      const st = await daemon.status()
      process.stdout.write([
        'doctor ready',
        `  doctor ID      ${toHex(identity.id)}`,
        `  mode           ${cfg.mode} ("${cfg.name}")`,
        ...daemon.peer.map((a) => `  peer           ${a}`),
        `  doctor page    ${daemon.pageUrl}`,
        `  control API    ${api.socket}`,
        ...(daemon.login === undefined ? [] : [`  page login     ${daemon.login.username} / ${daemon.login.password}   (shown once; stored hashed)`]),
        `  userchain      ${cfg.network} height ${st.userchain.height}`,
        `  docchain       height ${st.docchain.height}, this doctor ${st.docchain.standing}`,
        `  journal        ${st.batches.done} batch(es) done, ${st.queue} queued, ${st.diagnoses.pending} tx_diag pending, ${st.diagnoses.committed} committed`
      ].join('\n') + '\n')
      await untilSignal(async () => { await api.close(); await daemon.stop() }, out)
    })

  registerStatus(program, 'doctor-status', 'the running doctor node\'s status, through its control API')
}
