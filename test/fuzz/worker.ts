/**
 * Worker side of engine.ts `runInWorker`: runs one target, mirroring each
 * input into shared memory for the watchdog and reporting progress.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { fuzz } from './engine.ts'
import { TARGETS } from './targets.ts'

const { name, inputs, seed, shared } = workerData as { name: string, inputs: number, seed: number, shared: SharedArrayBuffer }
// '__hang' is the engine's own check that a stuck target is caught (targets.test.ts)
const HANG = { name: '__hang', seeds: () => [Uint8Array.of(0)], clean: () => true, run: () => { for (;;);} }
const target = name === HANG.name ? HANG : TARGETS.find((t) => t.name === name)
if (target === undefined) throw new Error(`no fuzz target ${name}`)
const view = new DataView(shared)
const bytes = new Uint8Array(shared, 4)
parentPort!.postMessage({ ready: true }) // loaded: the watchdog's stall clock starts now
const stats = fuzz(target, inputs, seed, {
  onInput: (b) => { const n = Math.min(b.length, bytes.length); bytes.set(b.subarray(0, n)); view.setUint32(0, n) },
  onProgress: (done) => parentPort!.postMessage({ progress: done })
})
parentPort!.postMessage({ done: stats })
