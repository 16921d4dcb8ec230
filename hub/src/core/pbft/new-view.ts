/**
 * NEW-VIEW ⟨v+1, V, O⟩ (Castro–Liskov §4.4): the new leader's proof. V = 2f+1
 * view-change messages for v+1; O = its pre-prepares for v+1, which every
 * replica recomputes from V (replica.ts selectNewView) and must match exactly.
 */
import type { Reader, Writer } from '../codec.ts'
import { readList, writeList, type MsgCodec, type Signed } from './envelope.ts'

export interface NewViewBody {
  readonly view: number
  readonly viewChanges: readonly Uint8Array[]
  readonly prePrepares: readonly Uint8Array[]
}
export type NewViewMsg = Signed<'new-view', NewViewBody>

export const newViewCodec: MsgCodec<'new-view', NewViewBody> = {
  kind: 'new-view',
  type: 8,
  write (w: Writer, b: NewViewBody) {
    w.u32('view', b.view)
    writeList(w, 'viewChanges', b.viewChanges)
    writeList(w, 'prePrepares', b.prePrepares)
  },
  read (r: Reader) {
    return { view: r.u32('view'), viewChanges: readList(r, 'viewChanges'), prePrepares: readList(r, 'prePrepares') }
  }
}
