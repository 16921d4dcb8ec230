/**
 * VIEW-CHANGE ⟨v+1, n, C, P, i⟩ (Castro–Liskov §4.4): replica i leaves view v.
 * n/digest = its last stable checkpoint, C = the 2f+1 checkpoint messages that
 * prove it (empty at genesis), P = for each sequence number above n that i
 * prepared, the pre-prepare and 2f prepares of the highest view it prepared in.
 * Nested messages are carried as their signed encodings.
 */
import type { Reader, Writer } from '../codec.ts'
import { HASH_BYTES } from '../crypto.ts'
import { MAX_PBFT_MESSAGE_BYTES, MAX_PROOF_ITEMS, readList, writeList, type MsgCodec, type Signed } from './envelope.ts'

export interface PreparedProof {
  /** Encoded signed pre-prepare. */
  readonly prePrepare: Uint8Array
  /** Encoded signed prepares, 2f from distinct backups. */
  readonly prepares: readonly Uint8Array[]
}

export interface ViewChangeBody {
  readonly view: number
  readonly stableSeq: number
  readonly stableDigest: Uint8Array
  readonly checkpoints: readonly Uint8Array[]
  readonly prepared: readonly PreparedProof[]
}
export type ViewChangeMsg = Signed<'view-change', ViewChangeBody>

export const viewChangeCodec: MsgCodec<'view-change', ViewChangeBody> = {
  kind: 'view-change',
  type: 7,
  write (w: Writer, b: ViewChangeBody) {
    w.u32('view', b.view).u32('stableSeq', b.stableSeq).fixed('stableDigest', b.stableDigest, HASH_BYTES)
    writeList(w, 'checkpoints', b.checkpoints)
    w.varint('prepared', b.prepared.length, MAX_PROOF_ITEMS)
    b.prepared.forEach((p, i) => {
      w.bytes(`prepared[${i}].prePrepare`, p.prePrepare, MAX_PBFT_MESSAGE_BYTES)
      writeList(w, `prepared[${i}].prepares`, p.prepares)
    })
  },
  read (r: Reader) {
    const view = r.u32('view')
    const stableSeq = r.u32('stableSeq')
    const stableDigest = r.fixed('stableDigest', HASH_BYTES)
    const checkpoints = readList(r, 'checkpoints')
    const n = r.varint('prepared', MAX_PROOF_ITEMS)
    const prepared: PreparedProof[] = []
    for (let i = 0; i < n; i++) {
      prepared.push({ prePrepare: r.bytes(`prepared[${i}].prePrepare`, MAX_PBFT_MESSAGE_BYTES), prepares: readList(r, `prepared[${i}].prepares`) })
    }
    return { view, stableSeq, stableDigest, checkpoints, prepared }
  }
}
