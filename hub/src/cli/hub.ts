/**
 * `healthchain hub --config <file>`: the hub on a real Raspberry Pi (see
 * hub/hub.example.json and hub/healthchain-hub.service).
 */
import type { Command } from 'commander'
import { flushCompileCache } from 'node:module'
import { join, resolve } from 'node:path'
import { archiveKey } from '../store/backup-archive.ts'
import { NETWORKS, toHex } from '../core/index.ts'
import { CoreNode } from '../roles/core/node.ts'
import { checkRecoveredSync } from '../app/recovery.ts'
import { refuseWithdrawn } from '../app/erasure.ts'
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
      // V8, Node and malloc tuned to the board: read only at start-up, so the process replaces itself once with them
      if (restartLean(cfg.memory.semiSpaceMB, cfg.dataDir, cfg.mode)) return
      // the hub pulls in Node-RED, Helia and libp2p: loaded only when it starts
      const { startHub } = await import('../hub.ts')
      // a data dir whose patient withdrew consent never starts again (app/erasure.ts)
      await refuseWithdrawn(cfg.dataDir)
      const pass = await passphrase(o)
      const user = await openKeystore(join(cfg.dataDir, 'keystore.json'), pass)
      // scheduled backups are under the keystore passphrase: its scrypt key is kept, not the passphrase (app/backup.ts)
      const backupKey = cfg.backup === undefined ? null : await archiveKey(pass)
      const book = await doctorBook(cfg.dataDir)
      // a light hub learns its key epochs from the core nodes' proofs: it keeps no Userchain to check
      if (cfg.mode === 'core') await checkRecoveredSync(cfg.dataDir, async () => {
        const node = await CoreNode.open({ dir: join(cfg.dataDir, 'userchain', NETWORKS[cfg.network].name), params: NETWORKS[cfg.network] })
        try { return node.store.latestEpoch(user.id) } finally { await node.close() }
      })
      let withdrawn!: () => void
      const ended = new Promise<void>((resolve) => { withdrawn = resolve })
      const hub = await startHub(cfg, user, (id) => book.get(toHex(id)), { activity: stamped, backup: { key: backupKey, configFile: resolve(o.config) }, onWithdrawn: () => { withdrawn() } })
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
      // the compile cache written now, not only at exit: a first start that is killed still leaves it
      flushCompileCache()
      await Promise.race([ended.then(() => { console.log('consent withdrawn: the hub stopped and destroyed its keys') }), new Promise<void>((resolve) => { process.once('SIGINT', resolve); process.once('SIGTERM', resolve) })])
      console.log('stopping …')
      await hub.stop()
      process.exit(0) // Node-RED keeps a session timer after stop (nodered/embed.ts)
    })
}

/**
 * The hub's process tuned to a small board (README "What the hub costs in
 * memory"). V8 and glibc read these only at start-up, so the first start
 * replaces the process (execve: same pid, nothing left behind) with them:
 * - `--max-semi-space-size` (`memory.semiSpaceMB`; 0: V8's default): the
 *   young generation's two semi-spaces grow to 16 MB each by default and
 *   stay resident once grown;
 * - `--v8-pool-size=1`, `--optimize-for-size`: one V8 background thread,
 *   and V8 trading some speed for memory (smaller optimised code, heap
 *   kept tighter);
 * - in light mode, `--max-opt=1`: V8's baseline compiler only, never its
 *   optimising ones (Maglev, TurboFan), whose code in the node binary, and
 *   whose compilation memory, then never become resident. A light hub
 *   validates no block bodies and keeps no mempool; what JavaScript it
 *   runs per reading (parsing, Node-RED) takes well under 1 % of a core at
 *   100 readings/s even so;
 * - NODE_COMPILE_CACHE=<dataDir>/compile-cache: Node keeps the hub's
 *   TypeScript, stripped, and V8's code cache on disk, so from the second
 *   start on Node never loads its TypeScript transformer (a WebAssembly
 *   module resident for the process's life);
 * - MALLOC_ARENA_MAX=1: one malloc arena, not one per thread.
 * Settings the caller made (flags or environment) are kept. Returns true
 * when it did not return (never, in practice); false when already done or
 * execve is missing (Node < 22.15).
 */
export function restartLean (semiSpaceMB: number, dataDir: string, mode: 'core' | 'light' = 'core'): boolean {
  if (process.env.HEALTHCHAIN_LEAN !== undefined) return false
  const execve = (process as { execve?: (file: string, args: string[], env: NodeJS.ProcessEnv) => never }).execve
  if (execve === undefined) return false
  const given = (flag: string): boolean => process.execArgv.some((a) => a.startsWith(flag))
  const flags = [
    ...(semiSpaceMB === 0 || given('--max-semi-space-size') ? [] : [`--max-semi-space-size=${semiSpaceMB}`]),
    ...(given('--v8-pool-size') ? [] : ['--v8-pool-size=1']),
    ...(given('--optimize-for-size') ? [] : ['--optimize-for-size']),
    ...(mode !== 'light' || given('--max-opt') ? [] : ['--max-opt=1'])
  ]
  const env = { NODE_COMPILE_CACHE: join(dataDir, 'compile-cache'), MALLOC_ARENA_MAX: '1', ...process.env, HEALTHCHAIN_LEAN: '1' }
  execve(process.execPath, [process.execPath, ...process.execArgv, ...flags, ...process.argv.slice(1)], env)
  return true
}
