/**
 * A small structure-aware mutation fuzzer (issue "Reliability and security
 * suite": fuzz every decoder and parser, bounded in CI, ≥ 1,000,000 inputs in
 * `npm run fuzz`). Inputs are mutations of valid encodings (the seeds) —
 * bit flips, interesting bytes, varint runs, length edits, inserts, deletes,
 * duplicated ranges, splices of two seeds, truncation and extension — or plain
 * random bytes. A target passes an input when it returns or throws a *clean*
 * error (the typed error of its area); anything else is a crash, kept with
 * the input's hex. Inputs that a target accepts become seeds themselves, so
 * the corpus grows towards deeper structure.
 *
 * `runInWorker` runs a target on a worker thread under a watchdog: the input
 * being tried is mirrored into shared memory, so when a target stops making
 * progress (an infinite loop) the worker is terminated and the input is
 * reported as a hang instead of hanging the run.
 */
import { Worker } from 'node:worker_threads'
import { concatBytes as concat } from '../../hub/src/core/codec.ts'

export interface FuzzTarget {
  readonly name: string
  /** Valid encodings to mutate. */
  readonly seeds: () => Uint8Array[]
  /** Parses `input`; returns normally or throws. */
  readonly run: (input: Uint8Array) => void
  /** Whether a thrown error is a clean rejection. */
  readonly clean: (err: unknown) => boolean
  /** Largest input worth trying (default 4096). */
  readonly maxBytes?: number
}

export interface Crash { readonly input: string, readonly error: string }

export interface FuzzStats {
  readonly target: string
  inputs: number
  accepted: number
  rejected: number
  /** Inputs that crashed the target; the first few are kept in `crashes`. */
  crashed: number
  crashes: Crash[]
  hang: Crash | null
  ms: number
}

/** xorshift32: a small seeded generator, so a failing run can be replayed. */
export function rng (seed: number): () => number {
  let x = (seed >>> 0) || 0x9e3779b9
  return () => {
    x ^= x << 13; x >>>= 0
    x ^= x >>> 17
    x ^= x << 5; x >>>= 0
    return x / 0x100000000
  }
}

const INTERESTING = [0x00, 0x01, 0x7f, 0x80, 0xff, 0xfe, 0x40, 0x20]

function randomBytes (r: () => number, n: number): Uint8Array {
  const b = new Uint8Array(n)
  for (let i = 0; i < n; i++) b[i] = Math.floor(r() * 256)
  return b
}

/** One mutation of a seed (or random bytes); never longer than `max`. */
export function mutate (r: () => number, seeds: readonly Uint8Array[], max: number): Uint8Array {
  const pick = (): Uint8Array => seeds[Math.floor(r() * seeds.length)] ?? new Uint8Array(0)
  const int = (n: number): number => Math.floor(r() * n)
  let b: Uint8Array = pick().slice()
  const rounds = 1 + int(4)
  for (let k = 0; k < rounds; k++) {
    const at = b.length === 0 ? 0 : int(b.length)
    switch (int(11)) {
      case 0: if (b.length > 0) b[at]! ^= 1 << int(8); break
      case 1: if (b.length > 0) b[at] = INTERESTING[int(INTERESTING.length)]!; break
      case 2: if (b.length > 0) b[at] = int(256); break
      case 3: b = concat(b.subarray(0, at), Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x0f).subarray(int(4)), b.subarray(at)); break // an oversize varint
      case 4: b = concat(b.subarray(0, at), randomBytes(r, 1 + int(16)), b.subarray(at)); break
      case 5: b = concat(b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + int(32)))); break
      case 6: { const len = 1 + int(64); b = concat(b.subarray(0, at), b.subarray(at, at + len), b.subarray(at)); break }
      case 7: { const o = pick(); b = concat(b.subarray(0, at), o.subarray(int(o.length + 1))); break }
      case 8: b = b.subarray(0, at); break
      case 9: b = concat(b, randomBytes(r, 1 + int(32))); break
      default: return randomBytes(r, int(Math.min(max, 600)))
    }
  }
  return b.length > max ? b.subarray(0, max) : b
}

function hex (b: Uint8Array): string { return Buffer.from(b).toString('hex') }

/**
 * Runs `inputs` mutations against `target` on this thread. `onInput` sees each
 * input before it runs (the watchdog's mirror); `onProgress` every 100 (so a slow target on a loaded machine is not taken for a hang).
 */
export function fuzz (target: FuzzTarget, inputs: number, seed: number, hooks: { onInput?: (b: Uint8Array) => void, onProgress?: (done: number) => void } = {}): FuzzStats {
  const r = rng(seed)
  const max = target.maxBytes ?? 4096
  const corpus = target.seeds()
  const base = corpus.length
  const stats: FuzzStats = { target: target.name, inputs: 0, accepted: 0, rejected: 0, crashed: 0, crashes: [], hang: null, ms: 0 }
  const t0 = performance.now()
  for (let i = 0; i < inputs; i++) {
    const input = mutate(r, corpus, max)
    hooks.onInput?.(input)
    try {
      target.run(input)
      stats.accepted++
      // accepted inputs that differ from the seeds widen the corpus (bounded)
      if (corpus.length < base + 256 && r() < 0.05) corpus.push(input)
    } catch (err) {
      if (target.clean(err)) stats.rejected++
      else {
        stats.crashed++
        if (stats.crashes.length < 5) stats.crashes.push({ input: hex(input), error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) })
      }
    }
    stats.inputs++
    if (stats.inputs % 100 === 0) hooks.onProgress?.(stats.inputs)
  }
  stats.ms = performance.now() - t0
  return stats
}

/**
 * Runs a target (by name, from ./targets.ts) on a worker thread; a worker
 * silent for `stallMs` is terminated and its current input reported as a hang.
 * The watch starts once the worker has loaded its target (its first message):
 * loading the modules is not a hang, and on a loaded machine it took longer
 * than a stall; a worker that never loads within `startMs` is an error.
 */
export async function runInWorker (name: string, inputs: number, seed: number, stallMs = 15_000, startMs = 300_000): Promise<FuzzStats> {
  const shared = new SharedArrayBuffer(4 + 65_536)
  const w = new Worker(new URL('./worker.ts', import.meta.url), { workerData: { name, inputs, seed, shared } })
  return await new Promise<FuzzStats>((resolve, reject) => {
    let last = Date.now()
    let ready = false
    const timer = setInterval(() => {
      if (!ready) {
        if (Date.now() - last < startMs) return
        clearInterval(timer)
        void w.terminate()
        reject(new Error(`fuzz worker for ${name} did not load its target within ${startMs} ms`))
        return
      }
      if (Date.now() - last < stallMs) return
      clearInterval(timer)
      const view = new DataView(shared)
      const len = Math.min(view.getUint32(0), 65_536)
      const input = hex(new Uint8Array(shared, 4, len))
      void w.terminate()
      resolve({ target: name, inputs: 0, accepted: 0, rejected: 0, crashed: 0, crashes: [], hang: { input, error: `no progress for ${stallMs} ms` }, ms: stallMs })
    }, 250)
    w.on('message', (m: { ready?: true, progress?: number, done?: FuzzStats }) => {
      ready = true
      last = Date.now()
      if (m.done !== undefined) { clearInterval(timer); resolve(m.done); void w.terminate() }
    })
    w.on('error', (err) => { clearInterval(timer); reject(err) })
  })
}
