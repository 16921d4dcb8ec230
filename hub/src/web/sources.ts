/**
 * What a hub feeds its patient page beyond the user's keys and diagnoses
 * (adapt.ts patientModel): the vitals its ingest accepted, the doctors of
 * the registry folded from Docchain (paper §III-A, §IV-B3) and the user's
 * Healthcoin payments on Userchain (§IV-B4: users prepay the consortium
 * for diagnoses). The devnet and the production hub build their pages from
 * these same sources, each from its own ingest, registry and core node.
 */
import { equalBytes, toHex, type Tx, type TxCoin } from '../core/index.ts'
import type { Ingest } from '../ingest/pipeline.ts'
import type { DoctorRegistry } from '../core/pbft/registry.ts'
import type { DoctorView, PaymentView, ReadingView } from './model.ts'

/** The latest readings the hub's ingest accepted (at most `max`, oldest dropped first), stamped with their receive time. */
export function recentReadings (ingest: Pick<Ingest, 'on' | 'off'>, opts: { max?: number, now?: () => number } = {}): { readonly readings: () => readonly ReadingView[], readonly close: () => void } {
  const max = opts.max ?? 2000
  const now = opts.now ?? Date.now
  const seen: ReadingView[] = []
  const on = (r: { device: string, type: string, value: number | number[], unit: string }): void => {
    seen.push({ device: r.device, type: r.type, value: r.value, unit: r.unit, at: now() })
    if (seen.length > max) seen.splice(0, seen.length - max)
  }
  ingest.on('reading', on)
  return { readings: () => seen, close: () => { ingest.off('reading', on) } }
}

/** The message of each device's last dropped line per error code (ingest's 'dropped' events since start), for the page and the hub's status. */
export function lastDrops (ingest: Pick<Ingest, 'on' | 'off'>): { readonly last: (device: string, code: string) => string | undefined, readonly close: () => void } {
  const seen = new Map<string, string>()
  const on = (err: { code: string, message: string }, ctx: { device?: string, source: string }): void => { seen.set(`${ctx.device ?? ctx.source} ${err.code}`, err.message) }
  ingest.on('dropped', on)
  return { last: (device, code) => seen.get(`${device} ${code}`), close: () => { ingest.off('dropped', on) } }
}

/** The active doctors of a Docchain registry, for the grant buttons (a suspended one cannot be granted); `name` gives the display names known locally. */
export function registeredDoctors (registry: Pick<DoctorRegistry, 'list'>, name: (id: string) => string | undefined = () => undefined): DoctorView[] {
  return registry.list().filter((d) => d.status === 'active').map(({ record }) => {
    const id = toHex(record.id)
    const n = name(id)
    return n === undefined ? { id } : { id, name: n }
  })
}

/** What userPayments reads of a chain: a core node's store and mempool, or a light node's own transactions (app/light-hub.ts). */
export interface UserTxsView {
  readonly store: { userTxs: (id: Uint8Array) => Promise<Array<{ txid: Uint8Array }>>, confirmedTx: (id: Uint8Array) => Promise<Tx | undefined> }
  readonly mempool: { list: () => Iterable<{ bt: { id: Uint8Array, tx: Tx } }> }
}

/**
 * The user's Healthcoin transfers (tx_coin from the user), newest first:
 * pending ones from the mempool, then confirmed ones from the best chain.
 * With `to`, only those paying that account (the consortium's prepayments).
 * Each confirmed tx is read once (the user's index is mostly tx_IoT and
 * tx_key); a reorg drops it from the index, so from the list too.
 */
export function userPayments (core: UserTxsView, user: Uint8Array, opts: { to?: Uint8Array, limit?: number } = {}): () => Promise<PaymentView[]> {
  const limit = opts.limit ?? 50
  const pays = (tx: Tx | undefined): tx is TxCoin => tx?.kind === 'coin' && equalBytes(tx.from, user) && (opts.to === undefined || equalBytes(tx.to, opts.to))
  const view = (id: Uint8Array, tx: TxCoin, confirmed: boolean): PaymentView => ({ id: toHex(id), to: toHex(tx.to), amount: tx.amount, fee: tx.fee, confirmed })
  const read = new Map<string, PaymentView | null>()
  return async () => {
    const out: PaymentView[] = []
    for (const e of core.mempool.list()) if (pays(e.bt.tx)) out.push(view(e.bt.id, e.bt.tx, false))
    const confirmed = await core.store.userTxs(user)
    for (let i = confirmed.length - 1; i >= 0 && out.length < limit; i--) {
      const id = confirmed[i]!.txid
      const k = toHex(id)
      let v = read.get(k)
      if (v === undefined) {
        const tx = await core.store.confirmedTx(id)
        v = pays(tx) ? view(id, tx, true) : null
        read.set(k, v)
      }
      if (v !== null) out.push(v)
    }
    return out.slice(0, limit)
  }
}
