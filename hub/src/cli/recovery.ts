/**
 * `healthchain keys guardians | guardian-reseal | recover …`: m-of-n backup
 * of the patient's identity among guardians, and its recovery on a new hub
 * (app/recovery.ts). They act on keystores, never through a running hub's
 * control API: splitting or releasing the root secret takes the passphrase,
 * not just the API cookie.
 */
import { randomBytes } from 'node:crypto'
import { join, resolve } from 'node:path'
import type { Command } from 'commander'
import { openKeystore } from '../store/keystore.ts'
import { checkNewPassphrase } from '../store/passphrase-policy.ts'
import { addRecoveryShares, recoveryStatus, resealGuardianShare, startRecovery, writeGuardianShares, type RecoveryStatus } from '../app/recovery.ts'
import { output } from './_daemon.ts'
import { dataDir, keystorePath, passphrase } from './_common.ts'

interface Opts { keystore?: string, dataDir?: string, passphraseFile?: string, json?: boolean }
const random = { rng: (n: number): Uint8Array => new Uint8Array(randomBytes(n)), now: (): number => Math.floor(Date.now() / 1000) }
const paths = (o: Opts): { dataDir: string, keystore: string } => ({ dataDir: dataDir(o.dataDir), keystore: keystorePath(o) })

function statusText (s: RecoveryStatus): string {
  return `patient   ${s.patient}\nsession   ${s.session}\nshares    ${s.have.length === 0 ? 'none yet' : `${s.have.join(', ')}${s.need === null ? '' : ` (${s.need} needed)`}`}\nrecord    ${s.record}`
}

export function registerRecovery (keys: Command, withStoreOptions: (c: Command) => Command): void {
  withStoreOptions(keys.command('guardians'))
    .description('split this identity\'s seed m-of-n among guardians (Shamir; share i HPKE-sealed to guardian i, bound to this patient and this share set): one file per guardian')
    .requiredOption('--guardian <record...>', 'each guardian\'s identity record (hex, from `keys export-public` on the guardian\'s node), in share order')
    .requiredOption('--threshold <m>', 'shares needed to recover (2 ≤ m ≤ number of guardians)', (v) => Number.parseInt(v, 10))
    .option('--out <dir>', 'where the share files go (default <data-dir>/guardian-shares)')
    .option('--json', 'machine-readable output')
    .action(async (o: Opts & { guardian: string[], threshold: number, out?: string }) => {
      const outDir = resolve(o.out ?? join(dataDir(o.dataDir), 'guardian-shares'))
      const r = await writeGuardianShares({ keystore: keystorePath(o), passphrase: await passphrase(o), guardians: o.guardian, threshold: o.threshold, outDir, ...random })
      output(o, r, () => `share set ${r.set}: any ${r.threshold} of ${r.guardians.length} guardians recover patient ${r.patient}\n${r.guardians.map((g) => `  share ${g.index} → guardian ${g.id}: ${g.file}`).join('\n')}\nHand each guardian its file (it opens only with that guardian's key), then delete the files here.`)
    })

  withStoreOptions(keys.command('guardian-reseal'))
    .description('as a guardian: reseal your share of a patient\'s identity to the temporary record of the patient\'s recovery session (your keystore opens the share)')
    .requiredOption('--share <file>', 'the guardian share file the patient gave you')
    .requiredOption('--to <record>', 'the recovery session\'s temporary record (hex, printed by `keys recover start` on the patient\'s new hub)')
    .option('--out <file>', 'where the resealed share goes (default ./recovery-share.json)')
    .option('--json', 'machine-readable output')
    .action(async (o: Opts & { share: string, to: string, out?: string }) => {
      const guardian = await openKeystore(keystorePath(o), await passphrase(o))
      const r = await resealGuardianShare({ guardian, share: o.share, to: o.to, out: resolve(o.out ?? 'recovery-share.json'), ...random })
      output(o, r, () => `resealed share ${r.index} of set ${r.set} (patient ${r.patient}) for recovery session ${r.session}: ${r.file}\nGive this file to the patient; it opens only in that session.`)
    })

  const recover = keys.command('recover').description('restore this patient\'s identity on a new hub from m guardians\' shares (then every key epoch, grant and diagnosis comes back from the chains)')

  withStoreOptions(recover.command('start'))
    .description('open a recovery session: a temporary identity (encrypted with the new passphrase) whose record each guardian reseals its share to')
    .requiredOption('--patient <id>', 'the patient\'s ID (64 hex digits) being recovered')
    .option('--restart', 'discard an open session (shares resealed to it are refused afterwards)')
    .option('--json', 'machine-readable output')
    .action(async (o: Opts & { patient: string, restart?: boolean }) => {
      const pass = await passphrase(o, 'New passphrase: ')
      await checkNewPassphrase(pass)
      const s = await startRecovery({ ...paths(o), patient: o.patient, passphrase: pass, restart: o.restart === true, ...random })
      output(o, s, () => `recovery session ${s.session} for patient ${s.patient}\nEach guardian runs, with its own keystore:\n  healthchain keys guardian-reseal --share <its share file> --to ${s.record}\nthen add the files here: healthchain keys recover add <file>…`)
    })

  withStoreOptions(recover.command('add'))
    .description('add guardians\' resealed shares; with m of them the identity is restored into the data dir\'s keystore')
    .argument('<files...>', 'recovery share files (from `keys guardian-reseal`)')
    .option('--json', 'machine-readable output')
    .action(async (files: string[], o: Opts) => {
      const r = await addRecoveryShares({ ...paths(o), passphrase: await passphrase(o), files: files.map((f) => resolve(f)) })
      output(o, r, () => `identity restored: ${r.restored.id} (${r.restored.keystore}) from shares ${r.have.join(', ')} of set ${r.set ?? ''}\nSync Userchain (healthchain node --bootstrap <peer>), then start the hub: it rebuilds every key epoch from the chain.`)
    })

  withStoreOptions(recover.command('status'))
    .description('the open recovery session: its temporary record and the shares collected')
    .option('--json', 'machine-readable output')
    .action(async (o: Opts) => {
      const s = await recoveryStatus(paths(o))
      output(o, s, () => statusText(s))
    })
}
