/**
 * What a hub's user has on Userchain, read back as a doctor would: every
 * tx_IoT of the user on the best chain of the hub's chain store, its batch
 * fetched by CID and decrypted under its key epoch (rebuilt from Userchain),
 * each reading counted by device/seq. The hub must be stopped (its chain
 * store is opened here).
 */
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { NETWORKS, openBatch, type Identity, type TxIoT } from '../../hub/src/core/index.ts'
import { cidFromDigest } from '../../hub/src/ipfs/index.ts'
import { CoreNode } from '../../hub/src/roles/core/node.ts'
import { UserKeys } from '../../hub/src/roles/user/keys.ts'
import { keyHistory } from '../../hub/src/roles/user/chain.ts'
import { decodeBatch } from '../../hub/src/nodered/batcher.ts'
import type { CID } from 'multiformats/cid'

export interface ConfirmedReadings {
  /** times each `device/seq` is in a confirmed batch */
  readonly count: Map<string, number>
  readonly batches: number
  /** the chain store's audit on reopening (empty: no problem) */
  readonly audit: unknown[]
}

export async function confirmedReadings (dataDir: string, user: Identity, fetch: (cid: CID) => Promise<Uint8Array>): Promise<ConfirmedReadings> {
  const core = await CoreNode.open({ dir: join(dataDir, 'userchain', 'devnet'), params: NETWORKS.devnet, verifyThreads: 1 })
  const count = new Map<string, number>()
  let batches = 0
  try {
    const audit = await core.store.audit()
    const keys = UserKeys.fromChain(user, await keyHistory(core.store, null, user.id), { rng: (n) => new Uint8Array(randomBytes(n)), now: () => 0, directory: { lookup: () => undefined } })
    for (const loc of await core.store.userTxs(user.id)) {
      const block = (await core.store.getBlock(core.store.hashAt(loc.height)!))!
      const tx = block.txs[loc.pos]!.tx
      if (tx.kind !== 'iot') continue
      const iot = tx as TxIoT
      const readings = decodeBatch(openBatch(keys.epoch(iot.epoch).ik, user.id, iot.epoch, await fetch(cidFromDigest(iot.heiot))))
      batches++
      for (const r of readings) count.set(`${r.d}/${r.s}`, (count.get(`${r.d}/${r.s}`) ?? 0) + 1)
    }
    return { count, batches, audit }
  } finally { await core.close() }
}
