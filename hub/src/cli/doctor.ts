/**
 * `healthchain doctor --config <file>`: a doctor node (paper §III-A,
 * §IV-B5), AI or human, as its own process — identity from the encrypted
 * keystore, Userchain followed over libp2p, batches fetched from the storage
 * nodes, tx_diag submitted to the accounting nodes, the doctor page
 * (app/doctor.ts). hub/doctor.example.json documents the config.
 * Output: a `doctor ready` block (doctor ID, libp2p address, page URL, the
 * page login on the start that made it), then timestamped progress lines;
 * SIGTERM or Ctrl-C stops it cleanly.
 *
 * `healthchain doctor emergency --patient <id> --epochs 1,3 --reason "…"`
 * asks the running doctor daemon (its control API) for emergency access to a
 * patient's escrowed epochs (README "Emergency access"); `healthchain doctor
 * emergencies` lists the accesses asked, with what was read.
 */
import { InvalidArgumentError, type Command } from 'commander'
import { MAX_EMERGENCY_EPOCHS, toHex } from '../core/index.ts'
import type { DoctorEmergencyInfo } from '../app/doctor-emergency.ts'
import { openKeystore } from '../store/keystore.ts'
import { loadDoctorConfig } from '../config/doctor.ts'
import { passphrase, stamped, untilSignal } from './_common.ts'
import { doctorRoutes } from '../api/daemon-routes.ts'
import { needDaemon, output, registerGet, registerStatus, startDaemonApi } from './_daemon.ts'

export function register (program: Command): void {
  const doctor = program.command('doctor')
    .description('run a doctor node (mode ai or human): follows Userchain, analyses its patients\' batches, submits tx_diag to the accounting nodes, serves the doctor page (SIGTERM stops)')
    // required, but checked here: the subcommands (emergency, emergencies) talk to a running daemon and take no config
    .option('--config <file>', 'doctor node config (see hub/doctor.example.json); required')
    .option('--passphrase-file <file>', 'read the keystore passphrase from this file (else $HEALTHCHAIN_PASSPHRASE, else a prompt)')
    .option('--check', 'check the config and exit')
    .action(async (o: { config?: string, passphraseFile?: string, check?: boolean }, cmd: Command) => {
      if (o.config === undefined) cmd.error('error: required option \'--config <file>\' not specified', { exitCode: 2, code: 'commander.missingMandatoryOptionValue' })
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

  doctor.command('emergency')
    .description('ask for emergency access to a patient\'s escrowed key epochs (a doctor the consortium registered with the emergency role; README "Emergency access"), through the running doctor daemon: the request commits on Docchain, and once t accounting nodes released their shares the daemon reads those epochs\' batches — it reads, it does not diagnose (the escrow holds the IoT key only)')
    .requiredOption('--patient <id>', 'the patient\'s ID (64 hex digits)')
    .requiredOption('--epochs <list>', `the key epochs, comma-separated (e.g. 1,3; at most ${MAX_EMERGENCY_EPOCHS})`, parseEpochs)
    .requiredOption('--reason <text>', 'why (1–280 bytes; audited on Docchain, shown to the patient)')
    .option('--wait <seconds>', 'then wait up to this long for the releases and show what was read', (v) => { const n = Number(v); if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a whole number of seconds'); return n })
    .option('--data-dir <dir>', 'the doctor daemon\'s data directory (its config\'s dataDir)')
    .option('--json', 'machine-readable output')
    .action(async (o: { patient: string, epochs: number[], reason: string, wait?: number, dataDir?: string, json?: boolean }) => {
      const a = await needDaemon(o.dataDir, async (c) => {
        let v = await c.call<DoctorEmergencyInfo>('POST', '/v1/emergency', { patient: o.patient, epochs: o.epochs, reason: o.reason })
        const until = Date.now() + (o.wait ?? 0) * 1000
        while (v.status !== 'open' && v.problem === undefined && Date.now() < until) {
          await new Promise((resolve) => setTimeout(resolve, 250))
          v = (await c.call<DoctorEmergencyInfo[]>('GET', '/v1/emergency')).find((x) => x.id === v.id) ?? v
        }
        return v
      }, 'doctor daemon')
      output(o, a, () => [`emergency request ${a.id} committed on Docchain`, emergencyText(a),
        a.status === 'open' ? '' : `  the accounting nodes release their shares now: \`healthchain doctor emergencies${o.dataDir === undefined ? '' : ` --data-dir ${o.dataDir}`}\` shows when the epochs are open and what was read`
      ].filter(Boolean).join('\n'))
    })
  registerGet(doctor, 'emergencies', 'the emergency accesses this doctor asked, newest first (status, releases, what was read), through the running doctor daemon', () => '/v1/emergency',
    (v) => (v as DoctorEmergencyInfo[]).map((a) => `${a.id}\n${emergencyText(a)}`).join('\n') || 'no emergency access asked', 'doctor daemon')
}

/** `--epochs 1,3`: key epochs ≥ 1, comma-separated, at most MAX_EMERGENCY_EPOCHS. */
export function parseEpochs (v: string): number[] {
  const parts = v.split(',').map((x) => x.trim())
  if (parts.length > MAX_EMERGENCY_EPOCHS) throw new InvalidArgumentError(`at most ${MAX_EMERGENCY_EPOCHS} epochs`)
  return parts.map((x) => {
    if (!/^\d{1,10}$/.test(x) || Number(x) < 1 || Number(x) > 0xffffffff) throw new InvalidArgumentError(`"${x}" is not a key epoch: give epochs ≥ 1, comma-separated (e.g. 1,3)`)
    return Number(x)
  })
}

function emergencyText (a: DoctorEmergencyInfo): string {
  const read = a.batches.reduce((n, b) => n + b.readings, 0)
  return [
    `  patient   ${a.patient}`,
    `  epochs    ${a.epochs.join(', ')}`,
    `  reason    ${a.reason}`,
    `  status    ${a.status}: ${a.released.length} of ${a.threshold} releases${a.problem === undefined ? '' : ` (${a.problem})`}`,
    ...(a.status === 'open' ? [`  read      ${a.batches.length} batch(es), ${read} readings${a.analysis === undefined ? '' : `; analyzer: ${a.analysis.severity} (NEWS2 ${a.analysis.news2})`}`] : []),
    '  note      an emergency access reads, it does not diagnose: the escrow holds the IoT key only, no diagnosis key, so the accounting nodes refuse a tx_diag on it'
  ].join('\n')
}
