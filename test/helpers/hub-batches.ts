/**
 * Test hubs running the shipped pipeline, and what their user has on
 * Userchain, read back as a doctor would: every
 * tx_IoT of the user on the best chain of the hub's chain store, its batch
 * fetched by CID and decrypted under its key epoch (rebuilt from Userchain),
 * each reading counted by device/seq. The hub must be stopped (its chain
 * store is opened here).
 */
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { NETWORKS, openBatch, toHex, type Identity, type TxIoT } from '../../hub/src/core/index.ts'
import { ingestDbPath } from '../../hub/src/ingest/hub.ts'
import { Ingest } from '../../hub/src/ingest/pipeline.ts'
import { FLOWS_DIR } from '../../hub/src/nodered/embed.ts'
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

/**
 * A hub data dir ready for startHub: `devices` paired with the user (their
 * MQTT secrets returned) and the shipped flows/hub.json with its batch
 * window shortened to 1 s, so that many batches close in a short run.
 */
export async function prepareHubDataDir (dataDir: string, user: Identity, devices: readonly string[]): Promise<Record<string, string>> {
  const secrets: Record<string, string> = {}
  const ing = await Ingest.open(ingestDbPath(dataDir))
  for (const d of devices) secrets[d] = (await ing.registry.add(d, { user: toHex(user.id), sensors: ['hr'] })).secret
  await ing.close()
  const flow = JSON.parse(await readFile(join(FLOWS_DIR, 'hub.json'), 'utf8')) as Array<Record<string, unknown>>
  for (const n of flow) if (n.id === 'hub-batch') n.window = 1
  await mkdir(join(dataDir, 'node-red'), { recursive: true, mode: 0o700 })
  await writeFile(join(dataDir, 'node-red', 'flows.json'), JSON.stringify(flow))
  return secrets
}

/** The config of a test hub on loopback: mining, 2 confirmations, one storage node, the embedded broker on `mqttPort`. */
export const testHubConfig = (dataDir: string, storageNode: string, mqttPort: number): Record<string, unknown> => ({
  dataDir,
  network: 'devnet',
  listen: ['/ip4/127.0.0.1/tcp/0'],
  mine: true,
  threads: 1,
  keyRotationDays: 0,
  batchConfirmations: 2,
  storageNodes: [storageNode],
  replication: 1,
  broker: { embedded: { host: '127.0.0.1', port: mqttPort } },
  http: { host: '127.0.0.1', port: 0, tls: false },
  editor: { host: '127.0.0.1', port: 0 }
})
