/**
 * Worker thread of the signature pool (./verify-pool.ts): verifies Ed25519
 * (RFC 8032) signatures, so block validation uses every core (DESIGN §5).
 * Two kinds of job, each answered {id, bad} with the index of the first
 * failing item or -1:
 * - {id, items: [pub, msg, sig][]}: prepared triples;
 * - {id, txs, ends}: canonical transactions, concatenated (ends[i] = end
 *   offset of tx i). The worker rebuilds each signing message itself
 *   (core txSigningMessage), so the main thread only copies bytes; with
 *   `all`, the answer also lists every failing index ({id, bad, all}).
 */
import { parentPort } from 'node:worker_threads'
import { decodeTx, txSigner, txSigningMessage, verify } from '../../core/index.ts'

type Job = { id: number, items: Array<[Uint8Array, Uint8Array, Uint8Array]> } | { id: number, txs: Uint8Array, ends: Uint32Array, all?: boolean }

function checkTx (bytes: Uint8Array): boolean {
  try {
    const tx = decodeTx(bytes)
    const msg = txSigningMessage(tx)
    return msg === null || verify(txSigner(tx)!, msg, tx.sig)
  } catch {
    return false
  }
}

parentPort!.on('message', (m: Job) => {
  let bad = -1
  if ('items' in m) {
    for (let i = 0; i < m.items.length; i++) {
      const [pub, msg, sig] = m.items[i]!
      if (!verify(pub, msg, sig)) { bad = i; break }
    }
  } else {
    const all: number[] = []
    let start = 0
    for (let i = 0; i < m.ends.length; i++) {
      if (!checkTx(m.txs.subarray(start, m.ends[i]!))) {
        if (bad < 0) bad = i
        if (m.all !== true) break
        all.push(i)
      }
      start = m.ends[i]!
    }
    if (m.all === true) { parentPort!.postMessage({ id: m.id, bad, all }); return }
  }
  parentPort!.postMessage({ id: m.id, bad })
})
