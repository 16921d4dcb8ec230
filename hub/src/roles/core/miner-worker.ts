/**
 * One mining thread (paper Alg. 1 lines 5–8): hashes the whole 89-byte
 * Ublock header (DESIGN §4), rewriting only the nonce in its last 8 bytes
 * (big-endian), for nonces start, start + stride, start + 2·stride, …
 * Between chunks of CHUNK hashes it reads the shared job word: when the
 * main thread has moved it on (a better tip arrived, or stop), the thread
 * abandons the job — a chunk takes a few milliseconds, well under 50 ms.
 * Hashes done are added to a shared counter, so hashrate needs no messages.
 * The nonce lies in the header's second SHA-256 block (bytes 64–88), so the
 * state after the first 64 bytes (the midstate) is computed once per job and
 * each try costs one compression, as in Bitcoin miners.
 */
import { parentPort } from 'node:worker_threads'
import { sha256 } from '@noble/hashes/sha2.js'

const CHUNK = 1024
const NONCE_OFFSET = 81

interface Job {
  readonly job: number
  readonly header: Uint8Array
  readonly target: Uint8Array
  readonly start: number
  readonly stride: number
  /** Int32Array over a SharedArrayBuffer: [0] = current job number. */
  readonly control: Int32Array
  /** Float64Array over a SharedArrayBuffer: [thread] = hashes done. */
  readonly counter: Float64Array
  readonly thread: number
  /** Stop after this many hashes (benchmarks); 0 = never. */
  readonly maxHashes: number
}

/** hash ≤ target, both 32-byte big-endian. */
function meets (hash: Uint8Array, target: Uint8Array): boolean {
  for (let i = 0; i < 32; i++) {
    if (hash[i]! !== target[i]!) return hash[i]! < target[i]!
  }
  return true
}

parentPort!.on('message', (j: Job) => {
  const h = new Uint8Array(j.header)
  const dv = new DataView(h.buffer, h.byteOffset)
  const mid = sha256.create().update(h.subarray(0, 64))
  const tail = h.subarray(64)
  const work = sha256.create()
  const hash = new Uint8Array(32)
  let nonce = j.start
  let done = 0
  for (;;) {
    if (Atomics.load(j.control, 0) !== j.job) { parentPort!.postMessage({ job: j.job, type: 'stopped' }); return }
    for (let i = 0; i < CHUNK; i++) {
      dv.setUint32(NONCE_OFFSET, Math.floor(nonce / 0x100000000))
      dv.setUint32(NONCE_OFFSET + 4, nonce >>> 0)
      mid._cloneInto(work)
      work.update(tail).digestInto(hash)
      if (meets(hash, j.target)) {
        j.counter[j.thread] = j.counter[j.thread]! + i + 1
        parentPort!.postMessage({ job: j.job, type: 'found', nonce })
        return
      }
      nonce += j.stride
    }
    j.counter[j.thread] = j.counter[j.thread]! + CHUNK
    done += CHUNK
    if (j.maxHashes > 0 && done >= j.maxHashes) { parentPort!.postMessage({ job: j.job, type: 'stopped' }); return }
    if (nonce > Number.MAX_SAFE_INTEGER - CHUNK * j.stride) { parentPort!.postMessage({ job: j.job, type: 'exhausted' }); return }
  }
})
