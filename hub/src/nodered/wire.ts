/**
 * The runtime parts over the hub's real roles (DESIGN §8: node types are
 * thin adapters over roles/): the core user node's mempool and chain
 * (roles/core CoreNode), its PoW miner (roles/core Miner, Alg. 1), IPFS
 * upload with replication acks (ipfs/ uploadBatch, Alg. 2 lines 2–3), and
 * device readings arriving over MQTT in the shared line contract
 * (ingest/line.ts parseLine; topic healthchain/<hubId>/devices/<id>/readings).
 */
import { fromHex, toHex } from '../core/index.ts'
import type { CoreNode } from '../roles/core/node.ts'
import type { Miner } from '../roles/core/miner.ts'
import { uploadBatch, type IpfsNode, type Provider, type UploadOptions } from '../ipfs/index.ts'
import { BadFieldError } from '../ingest/errors.ts'
import { parseLine, readingToWire } from '../ingest/line.ts'
import { TxRejectedError } from './errors.ts'
import type { Confirmed, IpfsStore, MinerControl, MinerStatus, ReadingsSource, SensorReading, TxSubmitter } from './runtime.ts'

/** Submits to the core node's mempool; confirmed() resolves once a best-chain Ublock holds the tx. */
export function coreTxs (node: CoreNode): TxSubmitter {
  const where = (id: string): Confirmed | undefined => {
    const loc = node.store.txLocation(fromHex('id', id))
    if (loc === undefined || !node.store.isOnMainChain(loc.block)) return undefined
    return { id, height: loc.height, block: toHex(loc.block) }
  }
  return {
    submit: async (tx) => {
      const out = await node.submitTx(tx)
      if (!out.accepted) throw new TxRejectedError(out.id, out.code, out.reason)
      return { id: out.id }
    },
    confirmed: async (id) => await new Promise<Confirmed>((resolve) => {
      const check = (): void => {
        const c = where(id)
        if (c !== undefined) { node.off('tip', check); resolve(c) }
      }
      node.on('tip', check)
      check()
    })
  }
}

/** Start/stop/status of the core node's miner; status changes on every new tip and start/stop. */
export function coreMiner (node: CoreNode, miner: Miner): MinerControl {
  let running = false
  let mined = 0
  const watchers = new Set<(s: MinerStatus) => void>()
  const status = (): MinerStatus => ({ running, height: node.store.height, mined })
  const notify = (): void => { const s = status(); for (const w of watchers) w(s) }
  miner.on('mined', (out: { accepted?: boolean, status?: string }) => { if (out.accepted === true && out.status === 'connected') mined++ })
  node.on('tip', notify)
  return {
    start: () => { miner.start(); running = true; notify() },
    stop: async () => { await miner.stop(); running = false; notify() },
    status,
    watch: (cb) => { watchers.add(cb); return () => { watchers.delete(cb) } }
  }
}

/** IPFS over the node's Helia: upload waits for `replication` storage-node acks. */
export function ipfsStore (node: IpfsNode, opts: { storageNodes: Provider[] } & Omit<UploadOptions, 'storageNodes' | 'signal'>): IpfsStore {
  return {
    upload: async (bytes) => {
      const r = await uploadBatch(node, bytes, opts)
      return { cid: r.cid.toString(), acked: r.acked }
    },
    get: async (cid) => await node.get(cid, { providers: opts.storageNodes })
  }
}

/** The MQTT client surface mqttReadings uses (mqtt v5's MqttClient). */
export interface MqttLike {
  subscribe: (topic: string, opts: { qos: 0 | 1 | 2 }) => unknown
  unsubscribe: (topic: string) => unknown
  on: (ev: 'message', cb: (topic: string, payload: Buffer) => void) => unknown
  off: (ev: 'message', cb: (topic: string, payload: Buffer) => void) => unknown
}

/**
 * Readings published by devices to the hub's broker. A line that fails the
 * contract (CRC, JSON, fields) or names another device than its topic is
 * reported to onError with the raw line.
 */
export function mqttReadings (client: MqttLike, hubId: string): ReadingsSource {
  const filter = `healthchain/${hubId}/devices/+/readings`
  return {
    subscribe: (onReading: (r: SensorReading) => void, onError: (err: Error, raw?: string) => void) => {
      const onMessage = (topic: string, payload: Buffer): void => {
        const parts = topic.split('/')
        if (parts.length !== 5 || parts[0] !== 'healthchain' || parts[1] !== hubId || parts[2] !== 'devices' || parts[4] !== 'readings') return
        const raw = payload.toString('utf8')
        try {
          const r = parseLine(raw)
          if (r.device !== parts[3]) throw new BadFieldError('d', `device ${r.device} published on ${parts[3]}'s topic`)
          onReading(readingToWire(r))
        } catch (err) {
          onError(err as Error, raw)
        }
      }
      client.on('message', onMessage)
      client.subscribe(filter, { qos: 1 })
      return () => { client.off('message', onMessage); client.unsubscribe(filter) }
    }
  }
}
