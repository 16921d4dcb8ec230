/**
 * In-process runtime parts for tests and the flow bench (DESIGN §8): content-addressed block storage with
 * named replicas, a verifying transaction pool with explicit block
 * confirmation, a PBFT stand-in committing in order, and a push readings
 * source. They keep the real checks — CIDs are the sha2-256 of the bytes
 * (core contentDigest), signatures verify (core verifyTx), duplicates are
 * refused — and leave out the network, so the unit tests and the flow bench
 * exercise the node types without libp2p. The hub itself wires the real
 * roles (hub/src/nodered/wire.ts).
 */
import { EventEmitter } from 'node:events'
import {
  BadSignatureError, DuplicateTxError, cidStringFromDigest, contentDigest, digestFromCidString, equalBytes, toHex, txId, verifyTx,
  type Tx, type TxDiag
} from '../../hub/src/core/index.ts'
import { ReplicationError, CidMismatchError, BlockUnavailableError } from '../../hub/src/ipfs/errors.ts'
import type { Confirmed, IpfsStore, MinerControl, MinerStatus, PbftSubmitter, ReadingsSource, SensorReading, Submitted, TxSubmitter, UploadReceipt } from '../../hub/src/nodered/runtime.ts'

export class MemoryIpfs implements IpfsStore {
  readonly blocks = new Map<string, Uint8Array>()
  readonly replicas: readonly string[]
  readonly replication: number
  /** Replicas that refuse to acknowledge (a storage node that is down). */
  readonly down = new Set<string>()

  constructor (replicas: readonly string[] = ['storage-1', 'storage-2'], replication = 2) {
    this.replicas = replicas
    this.replication = replication
  }

  async upload (bytes: Uint8Array): Promise<UploadReceipt> {
    const cid = cidStringFromDigest(contentDigest(bytes))
    this.blocks.set(cid, Uint8Array.from(bytes))
    const acked = this.replicas.filter((r) => !this.down.has(r))
    if (acked.length < this.replication) {
      throw new ReplicationError(cid, this.replication, acked, [...this.down].map((peer) => ({ peer, error: new Error('unreachable') })))
    }
    return { cid, acked: acked.slice(0, this.replication) }
  }

  async get (cid: string): Promise<Uint8Array> {
    const b = this.blocks.get(cid)
    if (b === undefined) throw new BlockUnavailableError(cid, [])
    if (!equalBytes(contentDigest(b), digestFromCidString(cid))) throw new CidMismatchError(cid, 'memory')
    return b
  }
}

/** A pool that admits signed, unseen transactions; `mine()` confirms what is pending in one block. */
export class MemoryChain extends EventEmitter implements TxSubmitter, MinerControl {
  readonly pending: Tx[] = []
  readonly confirmedAt = new Map<string, Confirmed>()
  private readonly seen = new Set<string>()
  private running = false
  height = 0
  mined = 0

  async submit (tx: Tx): Promise<Submitted> {
    const id = toHex(txId(tx))
    if (this.seen.has(id)) throw new DuplicateTxError('tx', id)
    if (!verifyTx(tx)) throw new BadSignatureError('tx.sig')
    this.seen.add(id)
    this.pending.push(tx)
    this.emit('tx', tx)
    return { id }
  }

  private readonly waiting = new Map<string, Array<(c: Confirmed) => void>>()

  async confirmed (id: string): Promise<Confirmed> {
    const c = this.confirmedAt.get(id)
    if (c !== undefined) return c
    return await new Promise((resolve) => { this.waiting.set(id, [...(this.waiting.get(id) ?? []), resolve]) })
  }

  /** Confirms every pending transaction in a new block. */
  mine (): Tx[] {
    const txs = this.pending.splice(0)
    this.height++
    this.mined++
    const block = toHex(contentDigest(Uint8Array.of(...txs.flatMap((t) => [...txId(t)]), this.height & 0xff)))
    for (const t of txs) {
      const id = toHex(txId(t))
      const c = { id, height: this.height, block }
      this.confirmedAt.set(id, c)
      for (const resolve of this.waiting.get(id) ?? []) resolve(c)
      this.waiting.delete(id)
    }
    this.emit('block', txs)
    this.emit('status', this.status())
    return txs
  }

  start (): void { this.running = true; this.emit('status', this.status()) }
  stop (): void { this.running = false; this.emit('status', this.status()) }
  status (): MinerStatus { return { running: this.running, height: this.height, mined: this.mined } }
  watch (onChange: (s: MinerStatus) => void): () => void {
    this.on('status', onChange)
    return () => { this.off('status', onChange) }
  }
}

/** Commits tx_diag in arrival order, one per Dblock, after checking the doctor's signature. */
export class MemoryDocchain implements PbftSubmitter {
  readonly committed: TxDiag[] = []

  async submit (tx: TxDiag): Promise<Confirmed> {
    if (!verifyTx(tx)) throw new BadSignatureError('tx.sig')
    const id = toHex(txId(tx))
    if (this.committed.some((t) => toHex(txId(t)) === id)) throw new DuplicateTxError('tx', id)
    this.committed.push(tx)
    return { id, height: this.committed.length, block: toHex(contentDigest(txId(tx))) }
  }
}

/** Readings pushed by the caller (a test, the bench, an ingest bridge). */
export class PushReadings implements ReadingsSource {
  private readonly subs = new Set<{ r: (x: SensorReading) => void, e: (err: Error, raw?: string) => void }>()

  subscribe (onReading: (r: SensorReading) => void, onError: (err: Error, raw?: string) => void): () => void {
    const s = { r: onReading, e: onError }
    this.subs.add(s)
    return () => { this.subs.delete(s) }
  }

  get subscribers (): number { return this.subs.size }
  push (r: SensorReading): void { for (const s of this.subs) s.r(r) }
  reject (err: Error, raw?: string): void { for (const s of this.subs) s.e(err, raw) }
}
