/**
 * Worker thread of the signature pool (./verify-pool.ts): verifies Ed25519
 * (RFC 8032) signatures of transactions, so block validation uses every core
 * (DESIGN §5). Receives {id, items: [pub, msg, sig][]}, answers {id, bad}
 * with the index of the first failing item or -1.
 */
import { parentPort } from 'node:worker_threads'
import { verify } from '../../core/index.ts'

parentPort!.on('message', (m: { id: number, items: Array<[Uint8Array, Uint8Array, Uint8Array]> }) => {
  let bad = -1
  for (let i = 0; i < m.items.length; i++) {
    const [pub, msg, sig] = m.items[i]!
    if (!verify(pub, msg, sig)) { bad = i; break }
  }
  parentPort!.postMessage({ id: m.id, bad })
})
