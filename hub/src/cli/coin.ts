/**
 * `healthchain coin …`: Healthcoin (paper §IV-B4). A user prepays the
 * consortium for diagnoses with a transfer; miners earn coinbases; the
 * consortium pays doctors per committed diagnosis. Through the running
 * hub's control API, or on the data dir when it is stopped; the same
 * service call (app/hub-service.ts coinService) either way.
 */
import type { Command } from 'commander'
import { InvalidFieldError, toHex } from '../core/index.ts'
import { openKeystore, keystoreId } from '../store/keystore.ts'
import { CoreNode } from '../roles/core/node.ts'
import { DIAGNOSIS_PRICE } from '../roles/consortium/credit.ts'
import { coinService, submitTo, type CoinService } from '../app/hub-service.ts'
import { chainDir, network, withCommon } from './chain.ts'
import { keystorePath, passphrase } from './_common.ts'
import { output, viaDaemon } from './_daemon.ts'

interface CoinOpts { dataDir?: string, network?: string, json?: boolean, keystore?: string, passphraseFile?: string, fee?: string }

function amountArg (field: string, v: string): number {
  const n = Number(v)
  if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < 0) throw new InvalidFieldError(field, `must be a whole number of Healthcoin units, got "${v}"`)
  return n
}

/** The coin service on a stopped hub's data dir (with the keystore's identity when paying). */
async function withCoin<T> (o: CoinOpts, pay: boolean, fn: (s: CoinService) => Promise<T>): Promise<T> {
  const identity = pay ? await openKeystore(keystorePath(o), await passphrase(o)) : undefined
  const node = await CoreNode.open({ dir: chainDir(o), params: network(o.network) })
  try {
    return await fn(coinService({ store: node.store, mempool: node.mempool, ...(identity === undefined ? {} : { identity }), submit: submitTo(node, async () => { await node.mempool.flush() }) }))
  } finally { await node.close() }
}

export function register (program: Command): void {
  const coin = program.command('coin').description(`Healthcoin balances and payments (a diagnosis costs ${DIAGNOSIS_PRICE} units of prepaid credit)`)

  withCommon(coin.command('balance'))
    .argument('[id]', 'an ID (64 hex digits); default: this node\'s keystore ID')
    .option('--keystore <file>', 'keystore file (default <data-dir>/keystore.json)')
    .description('confirmed balance, plus transfers still in the mempool')
    .action(async (idArg: string | undefined, o: CoinOpts) => {
      const id = idArg ?? toHex(await keystoreId(keystorePath(o)))
      const r = await viaDaemon(o.dataDir, async (c) => await c.call<Awaited<ReturnType<CoinService['balance']>>>('GET', `/v1/coin/balances/${encodeURIComponent(id)}`), async () => await withCoin(o, false, async (s) => await s.balance(id)))
      output(o, r, () => `balance ${r.balance}${r.pending > 0 ? `  (${r.pending} transfer(s) pending)` : ''}`)
    })

  withCommon(coin.command('pay'))
    .argument('<to>', 'recipient ID (64 hex digits), e.g. the consortium account')
    .argument('<amount>', 'Healthcoin units')
    .option('--fee <n>', 'fee for the miner', '0')
    .option('--keystore <file>', 'keystore file (default <data-dir>/keystore.json)')
    .option('--passphrase-file <file>', 'read the passphrase from this file (else $HEALTHCHAIN_PASSPHRASE, else a prompt)')
    .description('sign a transfer from this node\'s ID and queue it in the mempool (through the running hub, which signs it, or on the data dir when it is stopped)')
    .action(async (to: string, amount: string, o: CoinOpts) => {
      const req = { to, amount: amountArg('amount', amount), fee: amountArg('--fee', o.fee ?? '0') }
      const r = await viaDaemon(o.dataDir, async (c) => await c.call<{ id: string, nonce: number }>('POST', '/v1/coin/pay', req), async () => await withCoin(o, true, async (s) => await s.pay(req)))
      output(o, r, () => `queued transfer ${r.id} (nonce ${r.nonce}); the node mines it`)
    })
}
