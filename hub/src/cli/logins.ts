/**
 * `healthchain logins reset`: replaces a lost login of the hub — the
 * patient page's, the Node-RED editor's, or both — without touching any
 * data (chain, keys, readings, flows and their stored credentials stay).
 * The new logins go to <dataDir>/logins.txt (0600) as at first start; a
 * running hub takes them at its next start.
 */
import type { Command } from 'commander'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { loadHubConfig } from '../hub-config.ts'
import { resetAdminPassword } from '../nodered/admin-auth.ts'
import { loadOrCreateCredentials, setPassword } from '../web/credentials.ts'
import { writeLoginsFile, type Login } from '../web/logins.ts'
import { dataDir } from './_common.ts'

export function register (program: Command): void {
  const logins = program.command('logins').description('the hub\'s logins (patient page, Node-RED editor)')
  logins.command('reset')
    .description('replace a lost login (page, editor or both) without touching the data; the new one goes to <dataDir>/logins.txt (0600)')
    .option('--config <file>', 'the hub config (its dataDir is used)')
    .option('--data-dir <dir>', 'data directory (default $HEALTHCHAIN_DATA or ~/.healthchain); ignored with --config')
    .option('--page', 'only the patient page\'s login')
    .option('--editor', 'only the Node-RED editor\'s login')
    .addHelpText('after', '\nExample:\n  healthchain logins reset --config /etc/healthchain/hub.json && sudo systemctl restart healthchain-hub\n')
    .action(async (o: { config?: string, dataDir?: string, page?: boolean, editor?: boolean }) => {
      const dir = o.config !== undefined ? (await loadHubConfig(o.config)).dataDir : dataDir(o.dataDir)
      const both = o.page !== true && o.editor !== true
      const made: { web?: Login, editor?: Login } = {}
      if (both || o.page === true) {
        // the existing user name is kept (a first login is made if there was none)
        const cur = await loadOrCreateCredentials(dir)
        if (cur.created !== undefined) made.web = cur.created
        else {
          const password = randomBytes(15).toString('base64url')
          await setPassword(dir, cur.record.username, password)
          made.web = { username: cur.record.username, password }
        }
      }
      if (both || o.editor === true) made.editor = await resetAdminPassword(join(dir, 'node-red'))
      const file = await writeLoginsFile(dir, made)
      console.log(`new ${[made.web === undefined ? '' : 'page', made.editor === undefined ? '' : 'editor'].filter((x) => x !== '').join(' and ')} login in ${file} (readable by you only; delete it once stored)\nrestart the hub for it to take effect; no data was changed`)
    })
}
