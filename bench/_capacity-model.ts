/**
 * The pure parts of the Userchain capacity model (bench/capacity.ts): a
 * random peer graph, hop-by-hop propagation of one block from one miner, and
 * Poisson mining over the propagation delays, counting stale (orphan) blocks.
 * No clock, I/O or Math.random: every draw comes from the seeded generator
 * passed in (`rng`), so a run replays from its seed.
 *
 * Times are seconds, sizes bytes, bandwidths bytes/s.
 */

/** The seeded generator (mulberry32) the PBFT simulator also uses. */
export { rng } from '../test/fuzz/pbft-sim.ts'

/** A lognormal draw with the given median and sigma (Box–Muller). */
export function lognormal (rand: () => number, median: number, sigma: number): number {
  const u = 1 - rand(); const v = rand()
  return median * Math.exp(sigma * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v))
}

/**
 * An undirected peer graph in adjacency-array form. Each node's neighbours
 * are in the order it serves them a block (shuffled once); `lat[e]` is the
 * one-way latency of edge e = adj position, the same both ways.
 */
export interface Graph {
  n: number
  start: Int32Array
  adj: Int32Array
  lat: Float64Array
  /** Upload and download bandwidth of each node (bytes/s). */
  up: Float64Array
  down: Float64Array
}

export interface LinkModel {
  outbound: number
  latencyMedianS: number
  latencySigma: number
  uploadMedianBps: number
  uploadSigma: number
  downloadMedianBps: number
  downloadSigma: number
}

function fromEdges (n: number, edges: Array<[number, number, number]>, up: Float64Array, down: Float64Array, rand: (() => number) | null): Graph {
  const deg = new Int32Array(n)
  for (const [a, b] of edges) { deg[a]!++; deg[b]!++ }
  const start = new Int32Array(n + 1)
  for (let i = 0; i < n; i++) start[i + 1] = start[i]! + deg[i]!
  const adj = new Int32Array(start[n]!); const lat = new Float64Array(start[n]!)
  const fill = start.slice(0, n)
  for (const [a, b, l] of edges) {
    adj[fill[a]!] = b; lat[fill[a]!++] = l
    adj[fill[b]!] = a; lat[fill[b]!++] = l
  }
  if (rand !== null) {
    // each node serves its peers in a random order
    for (let i = 0; i < n; i++) {
      for (let j = start[i + 1]! - 1; j > start[i]!; j--) {
        const k = start[i]! + Math.floor(rand() * (j - start[i]! + 1))
        const ta = adj[j]!; adj[j] = adj[k]!; adj[k] = ta
        const tl = lat[j]!; lat[j] = lat[k]!; lat[k] = tl
      }
    }
  }
  return { n, start, adj, lat, up, down }
}

/** Every node opens `outbound` connections to distinct random peers (as Bitcoin Core's outbound full-relay connections). */
export function randomGraph (n: number, m: LinkModel, rand: () => number): Graph {
  const edges: Array<[number, number, number]> = []
  const seen = new Set<number>()
  const k = Math.min(m.outbound, n - 1)
  for (let a = 0; a < n; a++) {
    const mine = new Set<number>()
    while (mine.size < k) {
      const b = Math.floor(rand() * n)
      if (b === a || mine.has(b)) continue
      mine.add(b)
      const key = Math.min(a, b) * n + Math.max(a, b)
      if (seen.has(key)) continue // b already opened the same connection to a
      seen.add(key)
      edges.push([a, b, lognormal(rand, m.latencyMedianS, m.latencySigma)])
    }
  }
  const up = new Float64Array(n); const down = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    up[i] = lognormal(rand, m.uploadMedianBps, m.uploadSigma)
    down[i] = lognormal(rand, m.downloadMedianBps, m.downloadSigma)
  }
  return fromEdges(n, edges, up, down, rand)
}

/** Nodes 0 – 1 – … – n−1 in a line, every link alike: for checking the propagation against a sum by hand. */
export function lineGraph (n: number, latencyS: number, bandwidthBps: number): Graph {
  const edges: Array<[number, number, number]> = []
  for (let i = 0; i + 1 < n; i++) edges.push([i, i + 1, latencyS])
  return fromEdges(n, edges, new Float64Array(n).fill(bandwidthBps), new Float64Array(n).fill(bandwidthBps), null)
}

/**
 * How one block crosses one hop.
 *  - full relay: the receiver validates the whole block, then announces it;
 *    each peer asks for it and gets the body (inv, getdata, block: 3 one-way
 *    latencies), the sender's uplink serving one peer after another.
 *  - compact relay (BIP 152): the header and short ids; the first
 *    `pushPeers` peers get it unsolicited (1 latency), the others announce
 *    and ask (3); a receiver missing txs fetches them in one more round trip;
 *    it relays once the block is rebuilt and accepts after checking it.
 */
export interface Hop {
  /** Bytes sent to each peer. */
  sendBytes: number
  /** Seconds from having the block to serving peers (full relay: validation). */
  relayAfterS: number
  /** Seconds from having the block to accepting it (mining on it). */
  acceptAfterS: number
  /** Peers served unsolicited, with `pushLatencies` one-way latencies; the rest get `pullLatencies`. */
  pushPeers: number
  pushLatencies: number
  pullLatencies: number
  /** Bytes fetched in one more round trip after the first transfer (missing txs); 0 = none. */
  fetchBytes: number
}

/** Binary min-heap of (time, node). */
class Heap {
  private t: number[] = []
  private v: number[] = []
  get size (): number { return this.t.length }
  push (time: number, node: number): void {
    const t = this.t; const v = this.v
    let i = t.length
    t.push(time); v.push(node)
    while (i > 0) {
      const p = (i - 1) >> 1
      if (t[p]! <= time) break
      t[i] = t[p]!; v[i] = v[p]!; i = p
    }
    t[i] = time; v[i] = node
  }

  /** Pops the minimum; returns its node, its time in `out[0]`. */
  pop (out: Float64Array): number {
    const t = this.t; const v = this.v
    const top = v[0]!; out[0] = t[0]!
    const lt = t.pop()!; const lv = v.pop()!
    const n = t.length
    if (n > 0) {
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        if (l >= n) break
        const c = l + 1 < n && t[l + 1]! < t[l]! ? l + 1 : l
        if (t[c]! >= lt) break
        t[i] = t[c]!; v[i] = v[c]!; i = c
      }
      t[i] = lt; v[i] = lv
    }
    return top
  }
}

/**
 * Propagation of one block mined by `src` at time 0, event by event: a node
 * that has the block (rebuilt, ready to relay) serves its peers in its own
 * order, one transfer after another on its uplink. Push peers get the block
 * unless they already have it; a pull peer asks only when it has the block
 * neither received nor on its way (it asks one peer, as Bitcoin's block
 * download does). Returns when each node accepts the block (has it +
 * acceptAfterS; the miner at 0).
 */
export function propagate (g: Graph, src: number, hop: Hop): Float64Array {
  const n = g.n
  const have = new Float64Array(n).fill(Infinity)
  const done = new Uint8Array(n)
  const next = new Int32Array(n)
  // event ids: v < n = v receives the block; n + u = u's uplink is free
  const heap = new Heap()
  const out = new Float64Array(1)
  have[src] = 0
  heap.push(0, src)
  while (heap.size > 0) {
    const id = heap.pop(out)
    const now = out[0]!
    if (id < n) {
      if (done[id] === 1 || now > have[id]!) continue
      done[id] = 1
      next[id] = g.start[id]!
      heap.push(now + (id === src ? 0 : hop.relayAfterS), n + id)
      continue
    }
    const u = id - n
    for (let e = next[u]!; e < g.start[u + 1]!; e++) {
      const v = g.adj[e]!
      const push = e - g.start[u]! < hop.pushPeers
      if (done[v] === 1 || (!push && have[v]! < Infinity)) continue
      const bw = Math.min(g.up[u]!, g.down[v]!)
      const end = now + hop.sendBytes / bw
      const lat = g.lat[e]!
      let t = end + lat * (push ? hop.pushLatencies : hop.pullLatencies)
      if (hop.fetchBytes > 0) t += 2 * lat + hop.fetchBytes / bw
      if (t < have[v]!) { have[v] = t; heap.push(t, v) }
      next[u] = e + 1
      heap.push(end, id)
      break
    }
  }
  for (let i = 0; i < n; i++) if (i !== src) have[i]! += hop.acceptAfterS
  return have
}

/** The q-quantile of the values (the smallest x with at least q of them ≤ x). */
export function quantile (values: Float64Array, q: number): number {
  const s = Float64Array.from(values).sort()
  return s[Math.max(0, Math.ceil(q * s.length) - 1)]!
}

export interface MiningResult {
  /** Blocks counted (those at least `depth` below the final tip). */
  blocks: number
  /** Of those, blocks not on the final main chain. */
  orphans: number
  orphanRate: number
}

/**
 * Poisson mining: blocks are found at exponential intervals of mean
 * `intervalS` by one of the miners, equally likely; the finder extends the
 * best block it has accepted (the highest; of equal heights, the one it
 * accepted first). `delays[s][m]` is when miner m accepts a block mined by
 * miner s, after it was found; a block is accepted only after its parent. A
 * block found by a miner that had not yet accepted a competing block at the
 * same height forks the chain; the branch that loses is orphaned. The final
 * main chain is the best block's ancestry; blocks within `depth` of its tip
 * are not counted (their fate is still open).
 */
export function mine (delays: readonly Float64Array[], intervalS: number, count: number, rand: () => number, depth = 6): MiningResult {
  if (count === 0) return { blocks: 0, orphans: 0, orphanRate: 0 }
  const M = delays.length
  const maxDelay = delays.map((d) => d.reduce((a, b) => Math.max(a, b), 0))
  const height: number[] = []; const parent: number[] = []; const found: number[] = []
  const accept: Float64Array[] = []; const settleAt: number[] = []
  // blocks every miner has accepted, best first as of now: the best of them is `settledBest`
  let settledBest = -1; let settledUpTo = 0
  let t = 0
  for (let b = 0; b < count; b++) {
    t += -Math.log(1 - rand()) * intervalS
    const m = Math.floor(rand() * M)
    while (settledUpTo < b && settleAt[settledUpTo]! <= t) {
      if (settledBest < 0 || height[settledUpTo]! > height[settledBest]!) settledBest = settledUpTo
      settledUpTo++
    }
    let tip = settledBest
    for (let i = settledUpTo; i < b; i++) {
      const a = accept[i]![m]!
      if (a > t) continue
      if (tip < 0 || height[i]! > height[tip]! || (height[i] === height[tip] && a < accept[tip]![m]!)) tip = i
    }
    const acc = new Float64Array(M)
    const d = delays[m]!
    let settle = 0
    for (let j = 0; j < M; j++) {
      acc[j] = Math.max(t + d[j]!, tip < 0 ? 0 : accept[tip]![j]!)
      if (acc[j]! > settle) settle = acc[j]!
    }
    height.push(tip < 0 ? 0 : height[tip]! + 1); parent.push(tip); found.push(t); accept.push(acc)
    // settled once every miner has it (monotone in b up to the tail, which the scan covers)
    settleAt.push(Math.max(settle, t + maxDelay[m]!))
  }
  let best = 0
  for (let i = 1; i < count; i++) if (height[i]! > height[best]! || (height[i] === height[best] && found[i]! < found[best]!)) best = i
  const main = new Uint8Array(count)
  for (let i = best; i >= 0; i = parent[i]!) main[i] = 1
  const top = height[best]!
  let blocks = 0; let orphans = 0
  for (let i = 0; i < count; i++) {
    if (height[i]! > top - depth) continue
    blocks++
    if (main[i] === 0) orphans++
  }
  return { blocks, orphans, orphanRate: blocks === 0 ? 0 : orphans / blocks }
}
