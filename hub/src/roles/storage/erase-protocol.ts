/**
 * A patient asks the storage nodes to drop its data (paper §III-A: storage
 * nodes keep the encrypted data for the patient; a patient who withdraws
 * consent takes it back). `/healthchain/erase/1.0.0` over net/reqresp.ts:
 * the request is one frame, the patient's signed tx_withdrawal (core
 * tx/withdrawal.ts) — the same bytes it commits on Docchain; the answer one
 * frame, the number of CIDs unpinned.
 * A request costs nothing before it is checked: its size bounds the frame
 * before it is read, then strict decoding, then the patient's signature.
 * Only the patient signs for its own ID, so no one else can erase its data;
 * a replayed withdrawal only erases again what is already erased. Refusals
 * are counted by reason and the peer is scored down (net/reqresp.ts).
 */
import type { Libp2p, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { BadSignatureError, decodeTx, encodeTx, InvalidFieldError, Reader, toHex, verifyTx, Writer, type TxWithdrawal } from '../../core/index.ts'
import { request, serve, type ProtocolSpec, type RateLimit } from '../../net/reqresp.ts'
import type { StorageNode } from './storage-node.ts'

/** A withdrawal is ~105 bytes: type, version, ID, ts, signature. */
export const ERASE_PROTOCOL: ProtocolSpec = { id: '/healthchain/erase/1.0.0', maxRequestBytes: 256, maxFrameBytes: 16, maxFrames: 1 }

/** Why an erase request was refused. */
export type EraseRefusal = 'malformed' | 'bad-signature'

/** Strict decode of an erase request: a tx_withdrawal whose signature is the patient's (typed errors otherwise). */
export function parseWithdrawal (bytes: Uint8Array): TxWithdrawal {
  const tx = decodeTx(bytes)
  if (tx.kind !== 'withdrawal') throw new InvalidFieldError('type', `a ${tx.kind} transaction is not a withdrawal of consent`)
  if (!verifyTx(tx, bytes)) throw new BadSignatureError('sig')
  return tx
}

export interface EraseService {
  /** Requests refused since start, by reason. */
  readonly refused: Readonly<Record<EraseRefusal, number>>
  stop: () => Promise<void>
}

/** Serves erase requests for `node` on its libp2p node. */
export async function serveErase (libp2p: Libp2p, node: StorageNode, o: { readonly rate?: RateLimit, readonly log?: (line: string) => void } = {}): Promise<EraseService> {
  const refused: Record<EraseRefusal, number> = { malformed: 0, 'bad-signature': 0 }
  const stop = await serve(libp2p, ERASE_PROTOCOL, async (req) => {
    let tx: TxWithdrawal
    try { tx = parseWithdrawal(req) } catch (err) {
      refused[err instanceof BadSignatureError ? 'bad-signature' : 'malformed']++
      throw err
    }
    const gone = await node.erase(toHex(tx.patient))
    o.log?.(`erased patient ${toHex(tx.patient).slice(0, 12)}… at its signed withdrawal: ${gone.length} CID(s) unpinned and collected`)
    return { frames: [new Writer(8).varint('unpinned', gone.length).finish()] }
  }, { rate: o.rate ?? { perSecond: 1, burst: 4 } })
  return { refused, stop }
}

/** Asks one storage node to erase the patient of `tx`; answers how many CIDs it unpinned. */
export async function requestErase (libp2p: Libp2p, peer: PeerId | Multiaddr, tx: TxWithdrawal, timeoutMs?: number): Promise<number> {
  const [frame] = await request(libp2p, peer, ERASE_PROTOCOL, encodeTx(tx), timeoutMs === undefined ? {} : { timeoutMs })
  const r = new Reader(frame ?? new Uint8Array(0))
  const n = r.varint('unpinned', Number.MAX_SAFE_INTEGER)
  r.end('erase answer')
  return n
}
