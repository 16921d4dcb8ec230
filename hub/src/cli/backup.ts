/**
 * `healthchain backup` and `healthchain restore` (README "Backup and
 * restore"): one encrypted archive of what a hub cannot get back from the
 * network (app/backup.ts). A running hub writes the archive itself through
 * its control API (its stores are open in it); a stopped one is read here.
 */
import type { Command } from 'commander'
import { readFile, stat } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { NETWORKS, toHex } from '../core/index.ts'
import { archiveName, restoreBackup, writeBackup, type BackupSummary, type RestoreSummary } from '../app/backup.ts'
import { archiveKey } from '../store/backup-archive.ts'
import { keystoreId } from '../store/keystore.ts'
import { ApiClient } from '../api/client.ts'
import { RestoreTargetError } from '../app/errors.ts'
import { loadHubConfig } from '../hub-config.ts'
import { dataDir, passphrase } from './_common.ts'
import { output, viaDaemon } from './_daemon.ts'

/** The user's latest key epoch on the stopped data dir's Userchain(s) (0 without one). */
async function latestEpoch (dir: string, user: Uint8Array): Promise<number> {
  let best = 0
  for (const params of Object.values(NETWORKS)) {
    const chainDir = join(dir, 'userchain', params.name)
    if (!await stat(chainDir).then(() => true, () => false)) continue
    const { CoreNode } = await import('../roles/core/node.ts')
    const node = await CoreNode.open({ dir: chainDir, params })
    try { best = Math.max(best, node.store.latestEpoch(user)) } finally { await node.close() }
  }
  return best
}

const summary = (s: BackupSummary): string =>
  `backup written: ${s.file} (${s.bytes} bytes: ${s.files} files, ${Object.entries(s.stores).map(([k, n]) => `${k} ${n} entries`).join(', ') || 'no stores'})\nrestore it on a fresh data dir with: healthchain restore ${s.file}`

export function register (program: Command): void {
  program.command('backup')
    .description('write one encrypted archive of the hub: keystore, devices and their secrets, acknowledged readings, pending key epochs, logins, flows, TLS, config')
    .option('--config <file>', 'the hub config (its data dir is backed up, and the config goes into the archive)')
    .option('--data-dir <dir>', 'data directory, without --config (default $HEALTHCHAIN_DATA or ~/.healthchain)')
    .option('--out <file>', 'the archive to write, ending in .hcb; never over an existing file (default ./healthchain-backup-<time>.hcb)')
    .option('--passphrase-file <file>', 'the archive\'s passphrase from this file (else $HEALTHCHAIN_PASSPHRASE, else a prompt); the keystore\'s is a good choice')
    .option('--json', 'machine-readable output')
    .action(async (o: { config?: string, dataDir?: string, out?: string, passphraseFile?: string, json?: boolean }) => {
      const cfg = o.config === undefined ? null : await loadHubConfig(o.config)
      const dir = cfg?.dataDir ?? dataDir(o.dataDir)
      const out = resolve(o.out ?? archiveName())
      const pass = await passphrase(o, 'Backup passphrase: ')
      const s = await viaDaemon(dir, async (c) => await c.call<BackupSummary>('POST', '/v1/backup', { out, passphrase: pass }), async () => {
        const id = await keystoreId(join(dir, 'keystore.json'))
        return await writeBackup({
          dataDir: dir,
          user: toHex(id),
          latestEpoch: await latestEpoch(dir, id),
          ...(o.config === undefined ? {} : { config: { path: resolve(o.config), text: await readFile(o.config, 'utf8') } })
        }, out, await archiveKey(pass))
      })
      output(o, s, () => summary(s))
    })

  program.command('restore <archive>')
    .description('restore a backup archive onto a fresh data dir (and its config); the hub then starts from it')
    .option('--data-dir <dir>', 'where to restore (default: the data dir the backup was made of)')
    .option('--config-out <file>', 'where to write the hub config (default: where it was)')
    .option('--force', 'restore over a non-empty data dir or another config: they are moved aside to <name>.before-restore-<time>, not deleted')
    .option('--passphrase-file <file>', 'the archive\'s passphrase from this file (else $HEALTHCHAIN_PASSPHRASE, else a prompt)')
    .option('--json', 'machine-readable output')
    .action(async (archive: string, o: { dataDir?: string, configOut?: string, force?: boolean, passphraseFile?: string, json?: boolean }) => {
      const s: RestoreSummary = await restoreBackup({
        file: resolve(archive),
        passphrase: await passphrase(o, 'Backup passphrase: '),
        ...(o.dataDir === undefined ? {} : { dataDir: resolve(o.dataDir) }),
        ...(o.configOut === undefined ? {} : { configOut: o.configOut }),
        force: o.force === true,
        check: async (d) => {
          const c = await ApiClient.running(d)
          if (c !== null) { c.close(); throw new RestoreTargetError(d, 'is in use by a running hub: stop it first') }
        }
      })
      output(o, s, () => [
        `restored ${s.dataDir} from the backup of ${s.createdAt} (user ${s.user})`,
        `  ${s.files} files, ${Object.entries(s.stores).map(([k, n]) => `${k} ${n} entries`).join(', ') || 'no stores'}`,
        ...(s.config === null ? [] : [`  config ${s.config}`]),
        ...s.movedAside.map((m) => `  moved aside ${m}`),
        s.syncEpoch > 0
          ? `Userchain is not in the archive: the hub starts once its chain holds key epoch ${s.syncEpoch} again (healthchain node --data-dir ${s.dataDir} --bootstrap <peer>)`
          : `start the hub: healthchain hub --config ${s.config ?? '<file>'}`
      ].join('\n'))
    })
}
