/**
 * Withdrawing consent (README "Withdrawing consent (erasure)"): the patient
 * signs a tx_withdrawal (core tx/withdrawal.ts) and the hub
 *  1. records it in <dataDir>/withdrawal.json first — from then on the data
 *     dir never starts a hub again, and a start finishes a destruction that
 *     a crash interrupted (finishErasure);
 *  2. commits it on Docchain through an accounting node (when the hub follows
 *     Docchain): every accounting node then refuses emergency requests for
 *     the patient and releases of its escrow shares, for good;
 *  3. sends it to every storage node it uploads to (erase-protocol.ts): each
 *     unpins and collects the patient's batches and pins none again;
 *  4. unpins and collects its own IPFS copies of the batches;
 *  5. destroys every key that opens the patient's data: the epoch keys in
 *     memory (UserKeys.destroy), and, once the hub has stopped, the keystore
 *     (the identity key opens Env_U — Ik ‖ s of every epoch — in the tx_keys
 *     on Userchain, so the epoch keys cannot be kept from being derived
 *     again in any other way) and the batch-key file (the readings at rest).
 *     Each file is overwritten with zeros, synced, then removed.
 * The withdrawal is final for the identity: the hub stops, and a new start
 * needs a new identity in a fresh data dir. What stays, and why, is on the
 * page and in the README: the ciphertext digests (HEIoT, tx_keys with their
 * sealed envelopes and escrow shares) on Userchain, which no chain can
 * forget; diagnoses doctors already wrote on Docchain; copies that a doctor
 * granted access, or guardians holding shares of the identity seed, keep.
 */
import { existsSync } from 'node:fs'
import { open, readFile, stat, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import type { Libp2p } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { buildTxWithdrawal, encodeTx, toHex, txId, type Identity } from '../core/index.ts'
import type { IpfsNode } from '../ipfs/index.ts'
import { batchKeysPath } from '../ingest/batch-keys.ts'
import { writeFileAtomic } from '../store/keystore.ts'
import { requestErase } from '../roles/storage/erase-protocol.ts'
import { submitDiags } from '../roles/accounting/diag-protocol.ts'
import type { UserKeys } from '../roles/user/keys.ts'
import { ConsentWithdrawnDataDirError, WithdrawalUnconfirmedError } from './errors.ts'

const MARKER = 'withdrawal.json'

/** What a withdrawal did, as the page, the API and the CLI show it. */
export interface WithdrawalReport {
  /** The tx_withdrawal's id (hex). */
  readonly tx: string
  readonly ts: number
  /** Docchain: committed in a Dblock, refused, unreachable — or null when the hub follows no Docchain. */
  readonly docchain: { readonly ok: true, readonly height: number } | { readonly ok: false, readonly reason: string } | null
  /** Each storage node: how many CIDs it unpinned, or why it could not be asked. */
  readonly storage: ReadonlyArray<{ readonly node: string, readonly unpinned?: number, readonly error?: string }>
  /** CIDs unpinned and collected on the hub itself. */
  readonly localUnpinned: number
  /** Files destroyed when the hub stops. */
  readonly destroys: readonly string[]
}

export interface ErasureDeps {
  readonly dataDir: string
  readonly user: Identity
  readonly keys: UserKeys
  readonly libp2p: Libp2p
  /** The hub's own IPFS node (its copies of the uploaded batches). */
  readonly ipfs: IpfsNode
  readonly storageNodes: readonly string[]
  /** Accounting nodes to submit to, in order, when the hub follows Docchain (null otherwise). */
  readonly accounting: readonly string[] | null
  readonly now: () => number
  readonly timeoutMs?: number
}

/** The files whose destruction leaves no key to the patient's data on the hub. */
export function keyFiles (dataDir: string): string[] { return [join(dataDir, 'keystore.json'), batchKeysPath(dataDir)] }

/** When the data dir's patient withdrew consent (the marker's ts, s), or null. */
export async function withdrawnAt (dataDir: string): Promise<number | null> {
  const f = join(dataDir, MARKER)
  if (!existsSync(f)) return null
  const j = JSON.parse(await readFile(f, 'utf8')) as { ts?: unknown }
  return typeof j.ts === 'number' ? j.ts : 0
}

/**
 * Steps 1–5 but the files: the marker, Docchain, the storage nodes, the
 * hub's own copies, the epoch keys in memory. The caller stops the hub and
 * then calls destroyKeyFiles.
 */
export async function withdrawConsent (d: ErasureDeps, o: { readonly confirm: boolean }): Promise<WithdrawalReport> {
  if (!o.confirm) throw new WithdrawalUnconfirmedError()
  const tx = buildTxWithdrawal(d.user, { ts: d.now() })
  const bytes = encodeTx(tx)
  await writeFileAtomic(join(d.dataDir, MARKER), JSON.stringify({ tx: toHex(bytes), ts: tx.ts }))
  const timeoutMs = d.timeoutMs ?? 30_000
  let docchain: WithdrawalReport['docchain'] = null
  if (d.accounting !== null) {
    docchain = { ok: false, reason: 'no accounting node address configured' }
    for (const addr of d.accounting) {
      try {
        const [r] = await submitDiags(d.libp2p, addr, [bytes], { timeoutMs })
        docchain = r!.ok ? { ok: true, height: r!.height } : { ok: false, reason: `${r!.code}: ${r!.reason}` }
        break
      } catch (err) { docchain = { ok: false, reason: `${addr}: ${(err as Error).message}` } }
    }
  }
  const storage = await Promise.all(d.storageNodes.map(async (node) => {
    try { return { node, unpinned: await requestErase(d.libp2p, multiaddr(node), tx, timeoutMs) } } catch (err) { return { node, error: (err as Error).message } }
  }))
  const pins: string[] = []
  for await (const p of d.ipfs.pins()) pins.push(p.cid.toString())
  for (const cid of pins) await d.ipfs.unpin(cid)
  await d.ipfs.gc()
  d.keys.destroy()
  return { tx: toHex(txId(tx)), ts: tx.ts, docchain, storage, localUnpinned: pins.length, destroys: keyFiles(d.dataDir) }
}

/** Overwrites each key file with zeros, syncs it and removes it (the hub has stopped). */
export async function destroyKeyFiles (dataDir: string): Promise<string[]> {
  const gone: string[] = []
  for (const f of keyFiles(dataDir)) {
    const size = await stat(f).then((s) => s.size, () => null)
    if (size === null) continue
    const fh = await open(f, 'r+')
    try {
      await fh.write(new Uint8Array(size), 0, size, 0)
      await fh.sync()
    } finally { await fh.close() }
    await unlink(f)
    gone.push(f)
  }
  return gone
}

/**
 * At a start: a data dir whose patient withdrew consent finishes destroying
 * its key files (a crash may have come between the marker and the end) and
 * is refused with ConsentWithdrawnDataDirError.
 */
export async function refuseWithdrawn (dataDir: string): Promise<void> {
  const at = await withdrawnAt(dataDir)
  if (at === null) return
  await destroyKeyFiles(dataDir)
  throw new ConsentWithdrawnDataDirError(dataDir, new Date(at * 1000).toISOString())
}
