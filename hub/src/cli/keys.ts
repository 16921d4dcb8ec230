/**
 * `healthchain keys …`: the user's identity and its keystore (paper §IV-B5).
 */
import type { Command } from 'commander'
import { buildIdentityRecord, encodeIdentityRecord, toHex } from '../core/index.ts'
import { createKeystore, keystoreId, openKeystore } from '../store/keystore.ts'
import { keystorePath, passphrase } from './_common.ts'

interface KeyOpts { keystore?: string, dataDir?: string, passphraseFile?: string, json?: boolean }

function withStoreOptions (c: Command): Command {
  return c.option('--keystore <file>', 'keystore file (default <data-dir>/keystore.json)')
    .option('--data-dir <dir>', 'data directory (default $HEALTHCHAIN_DATA or ~/.healthchain)')
    .option('--passphrase-file <file>', 'read the passphrase from this file (else $HEALTHCHAIN_PASSPHRASE, else a prompt)')
}

export function register (program: Command): void {
  const keys = program.command('keys').description('create and inspect this node\'s identity (Ed25519 ID + X25519 envelope key)')

  withStoreOptions(keys.command('new'))
    .description('create a new identity and save it encrypted (scrypt + AES-256-GCM, file mode 0600)')
    .action(async (o: KeyOpts) => {
      const file = keystorePath(o)
      const who = await createKeystore(file, await passphrase(o, 'New passphrase: '))
      console.log(`created ${file}\nid: ${toHex(who.id)}`)
    })

  withStoreOptions(keys.command('show'))
    .description('print the public ID (and, with the passphrase, the X25519 envelope key)')
    .option('--json', 'machine-readable output')
    .option('--no-unlock', 'print only the ID, without asking for the passphrase')
    .action(async (o: KeyOpts & { unlock: boolean }) => {
      const file = keystorePath(o)
      if (!o.unlock) { console.log(toHex(await keystoreId(file))); return }
      const who = await openKeystore(file, await passphrase(o))
      const out = { keystore: file, id: toHex(who.id), x25519: toHex(who.agreement.publicKey) }
      console.log(o.json === true ? JSON.stringify(out) : `keystore: ${out.keystore}\nid:       ${out.id}\nx25519:   ${out.x25519}`)
    })

  withStoreOptions(keys.command('export-public'))
    .description('print the signed identity record (hex) that binds the ID to its X25519 key, for registration')
    .action(async (o: KeyOpts) => {
      const who = await openKeystore(keystorePath(o), await passphrase(o))
      console.log(toHex(encodeIdentityRecord(buildIdentityRecord(who, Math.floor(Date.now() / 1000)))))
    })
}
