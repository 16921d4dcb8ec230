/**
 * `healthchain withdraw --yes-destroy-my-data` (README "Withdrawing consent
 * (erasure)"): the running hub signs the patient's withdrawal of consent,
 * commits it on Docchain, asks the storage nodes to drop the patient's
 * batches, then stops and destroys its keys (app/erasure.ts). Final.
 */
import type { Command } from 'commander'
import type { WithdrawalReport } from '../app/erasure.ts'
import { WithdrawalUnconfirmedError } from '../app/errors.ts'
import { needDaemon, output } from './_daemon.ts'

export function withdrawalText (r: WithdrawalReport): string {
  const dc = r.docchain === null ? 'no Docchain followed: no accounting node was told' : r.docchain.ok ? `committed on Docchain in Dblock ${r.docchain.height}: no accounting node releases its escrow shares of your keys again` : `NOT on Docchain (${r.docchain.reason}): the accounting nodes may still release escrow shares to an emergency doctor`
  return [
    `withdrawal of consent signed: tx ${r.tx}`,
    `  ${dc}`,
    ...r.storage.map((s) => s.error === undefined ? `  storage node ${s.node}: ${s.unpinned ?? 0} batch(es) unpinned and deleted` : `  storage node ${s.node}: NOT reached (${s.error}); ask its operator, or run the withdrawal's bytes again`),
    `  this hub: ${r.localUnpinned} copie(s) deleted; the hub stops now and destroys ${r.destroys.join(' and ')}`,
    '  what remains: the ciphertext digests and sealed key envelopes on Userchain, and diagnoses already written on Docchain (README "Withdrawing consent (erasure)")'
  ].join('\n')
}

export function register (program: Command): void {
  program.command('withdraw')
    .description('withdraw consent: sign a withdrawal, commit it on Docchain (no more emergency access), have the storage nodes drop your data, and destroy this hub\'s keys. Cannot be undone')
    .option('--data-dir <dir>', 'the running hub\'s data directory (default $HEALTHCHAIN_DATA or ~/.healthchain)')
    .option('--yes-destroy-my-data', 'confirm: this cannot be undone')
    .option('--json', 'machine-readable output')
    .action(async (o: { dataDir?: string, yesDestroyMyData?: boolean, json?: boolean }) => {
      if (o.yesDestroyMyData !== true) throw new WithdrawalUnconfirmedError()
      const r = await needDaemon(o.dataDir, async (c) => await c.call<WithdrawalReport>('POST', '/v1/erasure', { confirm: true }))
      output(o, r, () => withdrawalText(r))
    })
}
