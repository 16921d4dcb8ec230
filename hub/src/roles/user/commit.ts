/**
 * Committing the user's key epochs (paper §IV-B5 key management, Alg. 3)
 * so that the hub's keys never run ahead of Userchain:
 *  1. the next tx_key is built without changing any state (UserKeys.prepare);
 *  2. it is written to `<dataDir>/pending-epochs.json` before it is
 *     broadcast — its epoch secret and Ik travel in Env_U, sealed to the
 *     user's own key, so the file holds them encrypted and a restart can
 *     finish what was started (a revocation is never silently undone);
 *  3. it is applied (new batches sealed under it) only once the hub's core
 *     node accepted it; a refusal leaves the keys as they were;
 *  4. until a Ublock of the best chain holds it, it is submitted again on
 *     every tip it is missing from the mempool, and one that expired unmined
 *     (ERR_TX_TIME) is issued again: the same change of the doctor set under
 *     a fresh timestamp (a revocation again with a fresh Ik).
 * At most one tx_key per change is pending at a time, and only the user's own
 * node submits them, so re-broadcasts stay within the relay policy's quota of
 * pending tx_keys per user.
 */
import { EventEmitter } from 'node:events'
import { join } from 'node:path'
import { bodyTx, decodeTx, encodeTx, fromHex, toHex, type TxKey } from '../../core/index.ts'
import { readPrivateJson } from '../../store/private-file.ts'
import { writeFileAtomic } from '../../store/keystore.ts'
import { EpochRefusedError, PendingFileError } from './errors.ts'
import type { EpochChange, GrantScope, UserKeys } from './keys.ts'

/** The core node as the committer needs it (roles/core CoreNode). */
export interface EpochChain {
  submit: (tx: TxKey) => Promise<{ readonly accepted: boolean, readonly code?: string, readonly reason?: string }>
  /** In a Ublock of the best chain. */
  mined: (txid: Uint8Array) => boolean
  pooled: (txid: Uint8Array) => boolean
  /** Calls back on every new tip; returns the unsubscribe function. */
  onTip: (cb: () => void) => () => void
}

/** A tx_key built and broadcast but not yet in a Ublock (API and page: the pending epochs). */
export interface PendingEpoch {
  readonly epoch: number
  /** htxk (hex) */
  readonly id: string
  readonly kind: EpochChange['kind']
  readonly doctor?: string
  readonly scope?: GrantScope
  /** accepted by the hub's core node (the keys use it) */
  readonly accepted: boolean
  /** times it was issued again after expiring unmined */
  readonly reissued: number
}

interface Stored {
  readonly tx: string
  readonly kind: EpochChange['kind']
  readonly doctor?: string
  readonly scope?: GrantScope
  readonly accepted: boolean
  readonly reissued: number
}

const changeOf = (s: Stored): EpochChange => s.kind === 'grant'
  ? { kind: 'grant', doctor: fromHex('doctor', s.doctor!), ...(s.scope === undefined ? {} : { scope: s.scope }) }
  : s.kind === 'revoke' ? { kind: 'revoke', doctor: fromHex('doctor', s.doctor!) } : { kind: s.kind }

export interface EpochCommitterEvents {
  /** a pending tx_key reached a Ublock */
  mined: [PendingEpoch]
  /** a pending tx_key expired unmined and was issued again */
  reissued: [PendingEpoch]
  error: [Error]
}

export class EpochCommitter extends EventEmitter<EpochCommitterEvents> {
  readonly keys: UserKeys
  readonly #chain: EpochChain
  readonly #file: string
  readonly #stamp: (tx: TxKey) => Promise<TxKey>
  #pending: Stored[] = []
  #tail: Promise<unknown> = Promise.resolve()
  readonly #off: () => void

  private constructor (keys: UserKeys, chain: EpochChain, file: string, stamp?: (tx: TxKey) => Promise<TxKey>) {
    super()
    this.keys = keys
    this.#chain = chain
    this.#file = file
    this.#stamp = stamp ?? (async (tx) => tx)
    this.#off = chain.onTip(() => { this.settle().catch((e: Error) => this.emit('error', e)) })
  }

  /**
   * Opens the pending file (`keys` as rebuilt from Userchain and the
   * mempool) and resumes every tx_key in it: those the keys do not have yet
   * are submitted again (and issued again if they expired). `stamp` turns
   * a built tx_key into the one broadcast (roles/user/stamp.ts: the relay
   * policy's proof-of-work stamp on a user's first tx_key); it runs before
   * the tx_key is persisted, so what is stored, broadcast and applied is one
   * transaction with one id.
   */
  static async open (p: { keys: UserKeys, chain: EpochChain, file: string, stamp?: (tx: TxKey) => Promise<TxKey> }): Promise<EpochCommitter> {
    const c = new EpochCommitter(p.keys, p.chain, p.file, p.stamp)
    const raw = await readPrivateJson(p.file, (why) => new PendingFileError(p.file, why))
    if (raw !== undefined) {
      if (!Array.isArray(raw)) throw new PendingFileError(p.file, 'must be a list of pending tx_keys')
      c.#pending = raw as Stored[]
    }
    await c.settle()
    return c
  }

  #tx (s: Stored): TxKey { return decodeTx(fromHex('tx', s.tx)) as TxKey }

  async #save (): Promise<void> { await writeFileAtomic(this.#file, JSON.stringify(this.#pending)) }

  async #one<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(fn, fn)
    this.#tail = run.catch(() => {})
    return await run
  }

  /** Builds, persists, broadcasts the tx_key of `change`; applies it once accepted. Throws EpochRefusedError (keys unchanged) if the node refuses it. */
  async commit (change: EpochChange): Promise<{ readonly tx: TxKey, readonly id: string }> {
    return await this.#one(async () => {
      const tx = await this.#stamp(await this.keys.prepareEscrowed(change))
      const s: Stored = { tx: toHex(encodeTx(tx)), kind: change.kind, ...('doctor' in change ? { doctor: toHex(change.doctor) } : {}), ...(change.kind === 'grant' && change.scope !== undefined ? { scope: change.scope } : {}), accepted: false, reissued: 0 }
      this.#pending.push(s)
      await this.#save()
      const r = await this.#chain.submit(tx)
      const id = toHex(bodyTx(tx).id)
      if (!r.accepted && !this.#chain.pooled(bodyTx(tx).id)) {
        this.#pending = this.#pending.filter((x) => x !== s)
        await this.#save()
        throw new EpochRefusedError(id, r.code ?? 'ERR_TX_REJECTED', r.reason ?? 'refused')
      }
      this.keys.apply(tx)
      this.#pending[this.#pending.indexOf(s)] = { ...s, accepted: true }
      await this.#save()
      return { tx, id }
    })
  }

  /** The tx_keys not yet in a Ublock, oldest first. */
  pending (): PendingEpoch[] { return this.#pending.map((s) => this.#view(s)) }

  /**
   * After each tip (and at open): mined tx_keys leave the file; a pending
   * one the keys lack, or the mempool lost, is submitted again; one that
   * expired is issued again, with every later pending change after it.
   */
  async settle (): Promise<void> {
    await this.#one(async () => {
      let changed = false
      const keep: Stored[] = []
      for (const s of this.#pending) {
        const tx = this.#tx(s)
        if (this.#chain.mined(bodyTx(tx).id)) { changed = true; this.emit('mined', this.#view(s)); continue }
        keep.push(s)
      }
      this.#pending = keep
      for (let i = 0; i < this.#pending.length; i++) {
        const s = this.#pending[i]!
        const tx = this.#tx(s)
        const id = bodyTx(tx).id
        const have = this.keys.current !== null && this.keys.current.epoch >= tx.epoch
        if (this.#chain.pooled(id)) {
          if (!have) this.keys.apply(tx)
          if (!s.accepted) { this.#pending[i] = { ...s, accepted: true }; changed = true }
          continue
        }
        const r = await this.#chain.submit(tx)
        if (r.accepted) {
          if (!have) this.keys.apply(tx)
          if (!s.accepted) { this.#pending[i] = { ...s, accepted: true }; changed = true }
          continue
        }
        if (r.code !== 'ERR_TX_TIME') { this.emit('error', new EpochRefusedError(toHex(id), r.code ?? 'ERR_TX_REJECTED', r.reason ?? 'refused')); break }
        // expired unmined: this change and every later one again, on the keys Userchain has
        const rest = this.#pending.slice(i)
        for (let j = this.#pending.length - 1; j >= i; j--) {
          const e = this.#tx(this.#pending[j]!).epoch
          if (this.keys.current?.epoch === e) this.keys.withdraw(e)
        }
        this.#pending = this.#pending.slice(0, i)
        for (const old of rest) {
          const next = await this.#stamp(await this.keys.prepareEscrowed(changeOf(old)))
          const fresh: Stored = { ...old, tx: toHex(encodeTx(next)), accepted: false, reissued: old.reissued + 1 }
          this.#pending.push(fresh)
          await this.#save()
          const again = await this.#chain.submit(next)
          if (!again.accepted) { this.emit('error', new EpochRefusedError(toHex(bodyTx(next).id), again.code ?? 'ERR_TX_REJECTED', again.reason ?? 'refused')); break }
          this.keys.apply(next)
          this.#pending[this.#pending.length - 1] = { ...fresh, accepted: true }
          this.emit('reissued', this.#view(this.#pending.at(-1)!))
        }
        this.#pending.push(...rest.slice(this.#pending.length - i))
        changed = true
        break
      }
      if (changed) await this.#save()
    })
  }

  #view (s: Stored): PendingEpoch {
    const tx = this.#tx(s)
    return { epoch: tx.epoch, id: toHex(bodyTx(tx).id), kind: s.kind, ...(s.doctor === undefined ? {} : { doctor: s.doctor }), ...(s.scope === undefined ? {} : { scope: s.scope }), accepted: s.accepted, reissued: s.reissued }
  }

  stop (): void { this.#off() }
}

/** Where a hub keeps its pending tx_keys. */
export const pendingEpochsPath = (dataDir: string): string => join(dataDir, 'pending-epochs.json')
