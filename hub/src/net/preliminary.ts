/**
 * Preliminary findings (paper §IV-B5, the real-time path): a doctor that
 * has analysed a batch while its tx_IoT is still in the mempool gossips the
 * tx_diag it signed at once, before any accounting node can admit it (they
 * admit only causes confirmed on Userchain, §IV-B2). The message is the
 * signed tx_diag itself — what Docchain publishes later anyway, so it tells
 * an eavesdropper nothing more; its HEdm opens only under dk_ij. The
 * patient's hub checks it in order of cost (size, decoding, one of its own
 * tx_IoT as first cause, a doctor active in the registry folded from
 * Docchain, the signature) before it fetches HEdm, and shows the finding
 * marked preliminary until the certified diagnosis is read from Docchain.
 */
import type { Message } from '@libp2p/gossipsub'
import { decodeTx, MAX_TX_BYTES, verifyTx, type TxDiag } from '../core/index.ts'
import type { NetNode } from './node.ts'
import { topicsFor } from './topics.ts'

export function preliminaryTopic (network: string): string { return topicsFor(network).prelim }

/** Gossips a signed tx_diag as a preliminary finding. */
export async function publishPreliminary (net: NetNode, network: string, tx: Uint8Array): Promise<void> {
  await net.pubsub.publish(preliminaryTopic(network), tx)
}

export interface PreliminaryChecks {
  /** Cheap checks before the signature: a tx_diag citing one of the user's own tx_IoT, by an active doctor. */
  readonly wanted: (tx: TxDiag) => boolean | Promise<boolean>
  readonly onFinding: (tx: TxDiag) => Promise<void>
  /** Messages dropped, by reason. */
  readonly dropped?: (reason: string) => void
}

/** Subscribes to preliminary findings; returns the unsubscribe. */
export function onPreliminary (net: NetNode, network: string, c: PreliminaryChecks): () => void {
  const topic = preliminaryTopic(network)
  const drop = (why: string): void => { c.dropped?.(why) }
  const handler = (e: CustomEvent<Message>): void => {
    const msg = e.detail
    if (msg.topic !== topic) return
    if (msg.data.length > MAX_TX_BYTES) { drop('oversize'); return }
    void (async () => {
      let tx
      try { tx = decodeTx(msg.data) } catch { drop('malformed'); return }
      if (tx.kind !== 'diag') { drop('not a tx_diag'); return }
      if (!await c.wanted(tx)) { drop('not for this user'); return }
      if (!verifyTx(tx, msg.data)) { drop('bad signature'); return }
      await c.onFinding(tx)
    })().catch(() => { drop('unreadable') })
  }
  net.pubsub.addEventListener('message', handler)
  net.pubsub.subscribe(topic)
  return () => { net.pubsub.removeEventListener('message', handler); net.pubsub.unsubscribe(topic) }
}
