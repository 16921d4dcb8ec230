/**
 * Worker thread of the signature pool (./verify-pool.ts): verifies Ed25519
 * (RFC 8032) signatures, so block validation uses every core (DESIGN §5).
 * Two kinds of job, each answered {id, bad} (index of the first failing
 * item, or -1):
 * - {id, items: [pub, msg, sig][]}: prepared triples;
 * - {id, data, starts, ends, ctl, chunk, all}: canonical transactions in
 *   shared memory (tx i = data[starts[i], ends[i])), shared by all workers.
 *   Each worker takes the next `chunk` indices from ctl[0] (Atomics) until
 *   none is left, and lowers ctl[1] (the first failing index, n while none)
 *   on a failure; without `all` it takes no chunk after a known failure,
 *   with `all` it answers every failing index it found ({id, bad, all}).
 *   The worker rebuilds each signing message itself (core verifyTx), so
 *   the calling thread only copies bytes once.
 */
import { parentPort } from 'node:worker_threads'
import { decodeTx, verify, verifyTx } from '../../core/index.ts'

type Job = { id: number, items: Array<[Uint8Array, Uint8Array, Uint8Array]> }
  | { id: number, data: Uint8Array, starts: Uint32Array, ends: Uint32Array, ctl: Int32Array, chunk: number, all: boolean }

function checkTx (bytes: Uint8Array): boolean {
  try {
    return verifyTx(decodeTx(bytes), bytes)
  } catch {
    return false
  }
}

/** ctl[1] = min(ctl[1], i), atomically. */
function lowerFirst (ctl: Int32Array, i: number): void {
  let cur = Atomics.load(ctl, 1)
  while (i < cur) {
    const was = Atomics.compareExchange(ctl, 1, cur, i)
    if (was === cur) return
    cur = was
  }
}

parentPort!.on('message', (m: Job) => {
  if ('items' in m) {
    let bad = -1
    for (let i = 0; i < m.items.length; i++) {
      const [pub, msg, sig] = m.items[i]!
      if (!verify(pub, msg, sig)) { bad = i; break }
    }
    parentPort!.postMessage({ id: m.id, bad })
    return
  }
  const n = m.ends.length
  const all: number[] = []
  for (;;) {
    const from = Atomics.add(m.ctl, 0, m.chunk)
    if (from >= n || (!m.all && from >= Atomics.load(m.ctl, 1))) break
    const to = Math.min(n, from + m.chunk)
    for (let i = from; i < to; i++) {
      if (checkTx(m.data.subarray(m.starts[i]!, m.ends[i]!))) continue
      lowerFirst(m.ctl, i)
      if (!m.all) break
      all.push(i)
    }
  }
  parentPort!.postMessage({ id: m.id, bad: all[0] ?? -1, all })
})
