/**
 * Reading Healthchain values out of Node-RED messages. Messages carry bytes
 * as Buffers and transactions either as the decoded object (what our nodes
 * send each other) or as their canonical encoding (bytes or hex), so a user
 * can feed a node from an MQTT, file or HTTP node too.
 */
import { decodeTx, fromHex, type Tx } from '../core/index.ts'
import { BadMessageError } from './errors.ts'

/** A Uint8Array view of bytes (Buffer, Uint8Array) or hex text. */
export function bytesOf (x: unknown, field: string, len?: number): Uint8Array {
  let b: Uint8Array
  if (x instanceof Uint8Array) b = x
  else if (typeof x === 'string' && /^([0-9a-f]{2})*$/i.test(x)) b = fromHex(field, x)
  else throw new BadMessageError(field, len === undefined ? 'must be bytes (Buffer) or hex' : `must be ${len} bytes (Buffer or hex)`)
  if (len !== undefined && b.length !== len) throw new BadMessageError(field, `must be ${len} bytes, got ${b.length}`)
  return b
}

/** A Buffer sharing the bytes (what Node-RED's debug and file nodes expect). */
export function asBuffer (b: Uint8Array): Buffer { return Buffer.from(b.buffer, b.byteOffset, b.byteLength) }

/** A transaction of `kind` from a decoded object or its encoding (bytes or hex). */
export function txOf<K extends Tx['kind']> (x: unknown, kind: K, field = 'payload'): Extract<Tx, { kind: K }> {
  const tx: Tx = typeof x === 'object' && x !== null && !(x instanceof Uint8Array) && 'kind' in x ? x as Tx : decodeTx(bytesOf(x, field))
  if (tx.kind !== kind) throw new BadMessageError(field, `expected a tx_${kind === 'iot' ? 'IoT' : kind}, got ${tx.kind}`)
  return tx as Extract<Tx, { kind: K }>
}

/** A positive integer message field. */
export function intOf (x: unknown, field: string): number {
  if (!Number.isSafeInteger(x) || (x as number) < 1) throw new BadMessageError(field, 'must be an integer ≥ 1')
  return x as number
}

/** The hub's durable batch id a message carries (msg.batch.id, set by the batch node on a hub), if any. */
export function durableId (msg: Record<string, unknown>): string | undefined {
  const b = msg['batch']
  if (b === null || typeof b !== 'object') return undefined
  const id = (b as { id?: unknown }).id
  if (id === undefined) return undefined
  if (typeof id !== 'string' || !id.startsWith('batch!') || id.length > 200) throw new BadMessageError('batch.id', 'must be a batch id of the hub\'s ingest store (batch!…)')
  return id
}

/**
 * Whether a step node may handle the message at once, beside others (kit
 * Adapter.concurrent): a durable batch of a runtime with durable batches —
 * the store serializes each batch's steps, and no batch need wait for
 * another's upload or fsynced write. A malformed id goes the ordinary way,
 * to be refused there.
 */
export function durableConcurrent (rt: { readonly batches?: unknown }): (msg: Record<string, unknown>) => boolean {
  return (msg) => {
    if (rt.batches === undefined) return false
    try { return durableId(msg) !== undefined } catch { return false }
  }
}
