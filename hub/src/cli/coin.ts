/**
 * `healthchain coin …`: Healthcoin (paper §IV-B4). A user prepays the
 * consortium for diagnoses with a transfer; miners earn coinbases; the
 * consortium pays doctors per committed diagnosis.
 */
import type { Command } from 'commander'
import { buildTxCoin, fromHex, InvalidFieldError, toHex } from '../core/index.ts'
import { openKeystore, keystoreId } from '../store/keystore.ts'
import { CoreNode } from '../roles/core/node.ts'
import { DIAGNOSIS_PRICE } from '../roles/consortium/credit.ts'
import { chainDir, network, withCommon } from './chain.ts'
import { keystorePath, passphrase } from './_common.ts'

interface CoinOpts { dataDir?: string, network?: string, json?: boolean, keystore?: string, passphraseFile?: string, fee?: string }

function amountArg (field: string, v: string): number {
  const n = Number(v)
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidFieldError(field, `must be a whole number of Healthcoin units, got "${v}"`)
  return n
}

export function register (program: Command): void {
  const coin = program.command('coin').description(`Healthcoin balances and payments (a diagnosis costs ${DIAGNOSIS_PRICE} units of prepaid credit)`)

  withCommon(coin.command('balance'))
    .argument('[id]', 'an ID (64 hex digits); default: this node\'s keystore ID')
    .option('--keystore <file>', 'keystore file (default <data-dir>/keystore.json)')
    .description('confirmed balance, plus transfers still in the mempool')
    .action(async (idArg: string | undefined, o: CoinOpts) => {
      const id = idArg === undefined ? await keystoreId(keystorePath(o)) : fromHex('id', idArg)
      const node = await CoreNode.open({ dir: chainDir(o), params: network(o.network) })
      try {
        const a = node.store.account(id)
        const pending = node.mempool.list().map((e) => e.bt.tx).filter((tx) => tx.kind === 'coin' && (toHex(tx.from) === toHex(id) || toHex(tx.to) === toHex(id)))
        const out = { id: toHex(id), balance: a.balance, nonce: a.nonce, pending: pending.length }
        console.log(o.json === true ? JSON.stringify(out) : `balance ${a.balance}${pending.length > 0 ? `  (${pending.length} transfer(s) pending)` : ''}`)
      } finally { await node.close() }
    })

  withCommon(coin.command('pay'))
    .argument('<to>', 'recipient ID (64 hex digits), e.g. the consortium account')
    .argument('<amount>', 'Healthcoin units')
    .option('--fee <n>', 'fee for the miner', '0')
    .option('--keystore <file>', 'keystore file (default <data-dir>/keystore.json)')
    .option('--passphrase-file <file>', 'read the passphrase from this file (else $HEALTHCHAIN_PASSPHRASE, else a prompt)')
    .description('sign a transfer from this node\'s ID and queue it in the local mempool')
    .action(async (to: string, amount: string, o: CoinOpts) => {
      const who = await openKeystore(keystorePath(o), await passphrase(o))
      const node = await CoreNode.open({ dir: chainDir(o), params: network(o.network) })
      try {
        const pendingFromMe = node.mempool.list().filter((e) => e.bt.tx.kind === 'coin' && toHex(e.bt.tx.from) === toHex(who.id)).length
        const tx = buildTxCoin(who, { to: fromHex('to', to), amount: amountArg('amount', amount), fee: amountArg('--fee', o.fee ?? '0'), nonce: node.store.account(who.id).nonce + pendingFromMe })
        const r = await node.submitTx(tx)
        if (!r.accepted) throw new InvalidFieldError('transfer', `refused: ${r.reason}`)
        await node.mempool.flush()
        console.log(o.json === true ? JSON.stringify({ id: r.id, nonce: tx.nonce }) : `queued transfer ${r.id} (nonce ${tx.nonce}); the node mines it`)
      } finally { await node.close() }
    })
}
