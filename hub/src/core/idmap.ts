/**
 * A map keyed by byte strings — tx ids (SHA-256) and user IDs (Ed25519 keys)
 * — without a hex string per key: entries are bucketed by the first 48 bits
 * and compared in full within a bucket, so a collision costs a comparison,
 * never a wrong answer. Block validation keys every tx of a full Ublock this
 * way (duplicates, confirmed-in-this-block, per-user index; paper §IV-B2).
 */
import { equalBytes } from './codec.ts'

interface Entry<V> { readonly id: Uint8Array, value: V, next: Entry<V> | undefined }

function bucketOf (id: Uint8Array): number {
  if (id.length < 6) return -1 - id.length
  return ((id[0]! << 16) | (id[1]! << 8) | id[2]!) * 0x1000000 + ((id[3]! << 16) | (id[4]! << 8) | id[5]!)
}

export class IdMap<V> {
  private readonly buckets = new Map<number, Entry<V>>()
  private count = 0

  get size (): number { return this.count }

  private find (id: Uint8Array, k: number): Entry<V> | undefined {
    let e = this.buckets.get(k)
    while (e !== undefined && !equalBytes(e.id, id)) e = e.next
    return e
  }

  get (id: Uint8Array): V | undefined { return this.find(id, bucketOf(id))?.value }
  has (id: Uint8Array): boolean { return this.find(id, bucketOf(id)) !== undefined }

  set (id: Uint8Array, value: V): this {
    const k = bucketOf(id)
    const e = this.find(id, k)
    if (e !== undefined) { e.value = value; return this }
    this.buckets.set(k, { id, value, next: this.buckets.get(k) })
    this.count++
    return this
  }

  /** Removes the id; whether it was there. */
  delete (id: Uint8Array): boolean {
    const k = bucketOf(id)
    let prev: Entry<V> | undefined
    for (let e = this.buckets.get(k); e !== undefined; prev = e, e = e.next) {
      if (!equalBytes(e.id, id)) continue
      if (prev !== undefined) prev.next = e.next
      else if (e.next !== undefined) this.buckets.set(k, e.next)
      else this.buckets.delete(k)
      this.count--
      return true
    }
    return false
  }

  /** Values, bucket by bucket (not insertion order). */
  * values (): IterableIterator<V> {
    for (const head of this.buckets.values()) {
      for (let e: Entry<V> | undefined = head; e !== undefined; e = e.next) yield e.value
    }
  }
}
