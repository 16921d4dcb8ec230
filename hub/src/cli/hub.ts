/**
 * `healthchain hub --config <file>`: the hub on a real Raspberry Pi (see
 * hub/hub.example.json and hub/healthchain-hub.service).
 */
import type { Command } from 'commander'
import { join } from 'node:path'
import { NETWORKS, toHex } from '../core/index.ts'
import { CoreNode } from '../roles/core/node.ts'
import { checkRecoveredSync } from '../app/recovery.ts'
import { openKeystore } from '../store/keystore.ts'
import { checkHubConfigOffline, loadHubConfig } from '../hub-config.ts'
import { doctorBook } from './keys.ts'
import { passphrase, stamped } from './_common.ts'
import { writeLoginsFile } from '../web/logins.ts'

export function register (program: Command): void {
  program.command('hub')
    .description('run the hub: ingest (serial, MQTT), core node with libp2p and optional miner, IPFS, Node-RED pipeline, patient page')
    .requiredOption('--config <file>', 'hub config (JSON; see hub/hub.example.json)')
    .option('--passphrase-file <file>', 'read the keystore passphrase from this file (else $HEALTHCHAIN_PASSPHRASE, else a prompt)')
    .option('--check', 'validate the config and exit')
    .action(async (o: { config: string, passphraseFile?: string, check?: boolean }) => {
      const cfg = await loadHubConfig(o.config)
      if (o.check === true) {
        const problems = await checkHubConfigOffline(cfg)
        if (problems.length > 0) throw new Error(`${o.config}:\n${problems.map((p) => `  ${p.message}`).join('\n')}`)
        console.log(`config ok: data dir ${cfg.dataDir}, ${cfg.network}, broker ${'embedded' in cfg.broker ? `embedded on ${cfg.broker.embedded.host}:${cfg.broker.embedded.port}` : cfg.broker.url}, ${cfg.serial.length} serial port(s)`)
        return
      }
      // V8's young generation sized to the board: only on the command line, so the process replaces itself once with the flag
      if (withSemiSpace(cfg.memory.semiSpaceMB)) return
      // the hub pulls in Node-RED, Helia and libp2p: loaded only when it starts
      const { startHub } = await import('../hub.ts')
      const user = await openKeystore(join(cfg.dataDir, 'keystore.json'), await passphrase(o))
      const book = await doctorBook(cfg.dataDir)
      // a light hub learns its key epochs from the core nodes' proofs: it keeps no Userchain to check
      if (cfg.mode === 'core') await checkRecoveredSync(cfg.dataDir, async () => {
        const node = await CoreNode.open({ dir: join(cfg.dataDir, 'userchain', NETWORKS[cfg.network].name), params: NETWORKS[cfg.network] })
        try { return node.store.latestEpoch(user.id) } finally { await node.close() }
      })
      const hub = await startHub(cfg, user, (id) => book.get(toHex(id)), { activity: stamped })
      console.log(`hub ready
  user ID        ${toHex(user.id)}
  patient page   ${hub.urls.patient}
  Node-RED       ${hub.urls.editor}
  libp2p         ${hub.peer}
  control API    ${hub.api.socket}${hub.api.url === null ? '' : ` and ${hub.api.url}`}${hub.mqttPort === null ? '' : `\n  MQTT broker    port ${hub.mqttPort}`}${hub.mqttsPort === null ? '' : `\n  MQTT over TLS  port ${hub.mqttsPort}`}${hub.tls === null ? '' : `\n  certificate    SHA-256 ${hub.tls.fingerprint}${hub.tls.caFile === undefined ? '' : `\n  hub CA         ${hub.tls.caFile} (devices and browsers trust this)`}`}`)
      // logins go to a 0600 file, never to stdout (the journal under systemd)
      if (hub.logins.web !== undefined || hub.logins.editor !== undefined) {
        const file = await writeLoginsFile(cfg.dataDir, hub.logins, hub.urls)
        console.log(`  logins         made on this start: in ${file} (readable by you only; delete it once stored)`)
      }
      await new Promise<void>((resolve) => { process.once('SIGINT', resolve); process.once('SIGTERM', resolve) })
      console.log('stopping …')
      await hub.stop()
      process.exit(0) // Node-RED keeps a session timer after stop (nodered/embed.ts)
    })
}

/**
 * V8 keeps the young generation (new objects) in two semi-spaces of up to
 * 16 MB each by default, and they stay resident once grown: on the idle hub
 * that was some 85 MB of 280 (README "What the hub costs in memory"). The
 * size can only be given on the command line, so the first start replaces
 * the process (execve: same pid, nothing left behind) with the flag added.
 * Returns true when it did not return (never, in practice); false when the
 * flag is in force, not asked (0), or execve is missing (Node < 22.15).
 */
export function withSemiSpace (mb: number): boolean {
  const flag = '--max-semi-space-size'
  if (mb === 0 || process.execArgv.some((a) => a.startsWith(flag)) || process.env.HEALTHCHAIN_SEMI_SPACE !== undefined) return false
  const execve = (process as { execve?: (file: string, args: string[], env: NodeJS.ProcessEnv) => never }).execve
  if (execve === undefined) return false
  execve(process.execPath, [process.execPath, ...process.execArgv, `${flag}=${mb}`, ...process.argv.slice(1)], { ...process.env, HEALTHCHAIN_SEMI_SPACE: String(mb) })
  return true
}
