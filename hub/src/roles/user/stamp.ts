/**
 * The proof-of-work stamp on a user's first tx_key (paper §IV-B5: the user
 * publishes its key epochs in tx_key; roles/core/relay-policy.ts: a peer
 * relays a new identity's first tx_key only if its id has `bits` leading
 * zero bits — where the Sybil cost lands). The stamp is ground through the
 * HPKE ephemeral seed, the one free input: the epoch, its Ik and key secret
 * (read back from the tx_key's own Env_U) and its doctors stay as built, so
 * the stamped tx_key yields the same epoch keys as the one it replaces
 * (whoever applied that one needs to apply nothing else).
 *
 * `stampTxKey` is pure (a bounded number of tries from a given counter);
 * `stampFirstTx` runs it in slices off the event loop's critical path, with
 * progress; `firstTxStamper` decides when a tx to submit needs it.
 */
import {
  buildTxKey, concatBytes, equalBytes, InvalidFieldError, openAsUser, sha256, txId, utf8Bytes,
  type DoctorKey, type Identity, type Tx, type TxKey
} from '../../core/index.ts'
import { meetsStamp } from '../core/relay-policy.ts'
import type { DoctorDirectory } from './keys.ts'

/** Tries per slice of stampFirstTx: each is an X25519 key pair, an HPKE seal per envelope and a signature (≈ 1.3 ms of CPU here), so a slice holds the event loop ~10 ms. */
const SLICE = 8

function u32 (n: number): Uint8Array { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, n); return b }

/**
 * Tries `count` HPKE seeds from number `from` on (seed i = SHA-256(domain ‖
 * seed ‖ i), `seed` ≥ 32 secret random bytes): the first re-sealed `tx`
 * whose id has `bits` leading zero bits, or null. `doctors` gives the X25519
 * key of each doctor the tx_key names.
 */
export function stampTxKey (user: Identity, tx: TxKey, bits: number, f: { readonly seed: Uint8Array, readonly from: number, readonly count: number, readonly doctors: DoctorDirectory }): TxKey | null {
  const { ik, epochSecret } = openAsUser(tx, user)
  const doctors: DoctorKey[] = tx.envelopes.map((e, i) => {
    const d = f.doctors.lookup(e.doctor)
    if (d === undefined) throw new InvalidFieldError(`envelopes[${i}].doctor`, 'no X25519 key known for this doctor: cannot re-seal its envelope')
    return d
  })
  for (let i = f.from; i < f.from + f.count; i++) {
    const ikmE = sha256(concatBytes(utf8Bytes('healthchain/tx-key-stamp'), f.seed, u32(i)))
    // the escrow has its own enc (core tx/escrow.ts): kept as it is
    const t = buildTxKey(user, { ts: tx.ts, epoch: tx.epoch, ikFrom: tx.ikFrom, ik, epochSecret, doctors, ikmE, ...(tx.escrow == null ? {} : { escrow: tx.escrow }) })
    if (meetsStamp(txId(t), bits)) return t
  }
  return null
}

export interface StampOptions {
  readonly rng: (n: number) => Uint8Array
  readonly doctors: DoctorDirectory
  /** A progress line now and then (tries so far, of about 2^bits expected). */
  readonly log?: (line: string) => void
  /** Between slices, the event loop runs (default: setImmediate). */
  readonly yieldNow?: () => Promise<void>
}

/** `tx` with a stamp of `bits` zero bits (itself when it has one already), ground SLICE tries at a time. */
export async function stampFirstTx (user: Identity, tx: TxKey, bits: number, o: StampOptions): Promise<TxKey> {
  if (meetsStamp(txId(tx), bits)) return tx
  const seed = o.rng(32)
  const yieldNow = o.yieldNow ?? (async () => { await new Promise((resolve) => setImmediate(resolve)) })
  const started = Date.now()
  let loggedAt = started
  o.log?.(`tx_key epoch ${tx.epoch}: grinding the first-transaction stamp peers ask for (${bits} zero bits, ~${2 ** bits} tries)`)
  for (let from = 0; ; from += SLICE) {
    const t = stampTxKey(user, tx, bits, { seed, from, count: SLICE, doctors: o.doctors })
    if (t !== null) {
      o.log?.(`tx_key epoch ${tx.epoch}: stamped after ≤ ${from + SLICE} tries in ${((Date.now() - started) / 1000).toFixed(1)} s`)
      return t
    }
    if (Date.now() - loggedAt >= 5000) { loggedAt = Date.now(); o.log?.(`tx_key epoch ${tx.epoch}: stamp: ${from + SLICE} tries so far`) }
    await yieldNow()
  }
}

/**
 * What a node's own submit applies to a tx before handing it to its core
 * node: a tx_key of `user` that would be its first on the branch (no key
 * epoch of the user there, pool included) is stamped when the network's
 * relay policy asks for `bits` > 0; anything else passes unchanged.
 */
export function firstTxStamper (user: Identity, node: { readonly relay: { readonly stampBits: number }, readonly mempool: { readonly view: { latestEpoch: (user: Uint8Array) => number } } }, o: StampOptions): <T extends Tx>(tx: T) => Promise<T> {
  return async <T extends Tx>(tx: T): Promise<T> => {
    const bits = node.relay.stampBits
    if (bits <= 0 || tx.kind !== 'key' || !equalBytes(tx.user, user.id)) return tx
    if (node.mempool.view.latestEpoch(tx.user) !== 0) return tx
    return await stampFirstTx(user, tx, bits, o) as T
  }
}
