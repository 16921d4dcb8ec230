/**
 * State transfer (Castro–Liskov §4.3 "a replica that is behind fetches the
 * state"): committed Dblocks carry their 2f+1 certificates, so a lagging
 * replica simply fetches them from any peer and checks each certificate and
 * prehash link — no trust in the sender. STATUS is a heartbeat carrying the
 * sender's certified height so a replica that missed the tail learns it.
 */
import type { Reader, Writer } from '../codec.ts'
import { MAX_PBFT_MESSAGE_BYTES, readList, writeList, type MsgCodec, type Signed } from './envelope.ts'

export interface FetchBody { readonly from: number }
export type FetchMsg = Signed<'fetch', FetchBody>
export const fetchCodec: MsgCodec<'fetch', FetchBody> = {
  kind: 'fetch',
  type: 9,
  write (w: Writer, b: FetchBody) { w.u32('from', b.from) },
  read (r: Reader) { return { from: r.u32('from') } }
}

export interface BlocksBody { readonly blocks: readonly Uint8Array[] }
export type BlocksMsg = Signed<'blocks', BlocksBody>
export const blocksCodec: MsgCodec<'blocks', BlocksBody> = {
  kind: 'blocks',
  type: 10,
  write (w: Writer, b: BlocksBody) {
    let total = 0
    for (const x of b.blocks) total += x.length
    if (total > MAX_PBFT_MESSAGE_BYTES) throw new RangeError('blocks: too large for one message')
    writeList(w, 'blocks', b.blocks)
  },
  read (r: Reader) { return { blocks: readList(r, 'blocks') } }
}

export interface StatusBody { readonly height: number, readonly view: number }
export type StatusMsg = Signed<'status', StatusBody>
export const statusCodec: MsgCodec<'status', StatusBody> = {
  kind: 'status',
  type: 11,
  write (w: Writer, b: StatusBody) { w.u32('height', b.height).u32('view', b.view) },
  read (r: Reader) { return { height: r.u32('height'), view: r.u32('view') } }
}
