/**
 * Seeded simulated network for the PBFT replica (DESIGN §5, §9): virtual time,
 * random delays, drops, duplicates, reordering and partitions until the
 * network stabilises at `gst`, and Byzantine replicas (equivocating or
 * malicious leader, silent/crashed replica, bad signatures, stale-view
 * replays). Real Ed25519 signatures throughout. Checks safety on every commit
 * (no two honest replicas hold different Dblocks at a height, every
 * certificate has 2f+1 valid member signatures) and liveness at the end
 * (every submitted tx_diag committed at every honest replica).
 * Used by test/fuzz/pbft-sim-*.test.ts, test/unit/pbft-*.test.ts and bench/pbft.ts.
 */
import {
  buildTxDiag, buildTxEmergency, dblockHash, dblockProposal, equalBytes, identityFromSeed, sha256, toHex, txId, verifyCertificate,
  utf8Bytes, verifyTx, type BodyTx, type Dblock, type DocTx, type Identity, type TxDiag
} from '../../hub/src/core/index.ts'
import { Replica, emptySnapshot, type Action, type ReplicaConfig, type ReplicaSnapshot } from '../../hub/src/core/pbft/replica.ts'
import { decodeMessage } from '../../hub/src/core/pbft/messages.ts'
import { signMessage, verifyCached } from '../../hub/src/core/pbft/envelope.ts'
import { prePrepareBody, prePrepareCodec } from '../../hub/src/core/pbft/pre-prepare.ts'
import { prepareCodec } from '../../hub/src/core/pbft/prepare.ts'
import { commitCodec } from '../../hub/src/core/pbft/commit.ts'
import { viewChangeCodec } from '../../hub/src/core/pbft/view-change.ts'

/** mulberry32: a tiny seeded PRNG, so any schedule replays from its seed. */
export function rng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const cache = new Map<string, Identity>()
export function ident (label: string): Identity {
  let i = cache.get(label)
  if (i === undefined) { i = identityFromSeed(sha256(utf8Bytes(`pbft-sim:${label}`))); cache.set(label, i) }
  return i
}

export const DOCTORS = [ident('doctor-0'), ident('doctor-1'), ident('doctor-2')]
let pool: TxDiag[] = []
/** The first `count` tx_diag of a fixed pool (built once, reused by every schedule). */
export function txPool (count: number): TxDiag[] {
  while (pool.length < count) {
    const i = pool.length
    pool = [...pool, buildTxDiag(DOCTORS[i % DOCTORS.length]!, { ts: 1_790_000_000 + i, causes: [sha256(utf8Bytes(`iot-${i}`))], hedm: sha256(utf8Bytes(`diag-${i}`)) })]
  }
  return pool.slice(0, count)
}

let emergencies: DocTx[] = []
/**
 * Emergency requests (core tx/emergency.ts) by the registered doctors: a
 * kind that changes the registry's fold, so the replica re-checks what is
 * ordered after one (changesRegistry); the schedules mix a few in.
 */
export function emergencyPool (count: number): DocTx[] {
  while (emergencies.length < count) {
    const i = emergencies.length
    emergencies = [...emergencies, buildTxEmergency(DOCTORS[i % DOCTORS.length]!, { ts: 1_790_000_000 + i, patient: sha256(utf8Bytes(`patient-${i}`)), epochs: [1 + i], reason: `emergency ${i}` })]
  }
  return emergencies.slice(0, count)
}

const validMemo = new Map<string, string | null>()
/** The sim's tx check: signature (memoized) and a registered doctor (of a tx_diag or an emergency request). */
export function simValidate (t: BodyTx): string | null {
  const k = toHex(t.id)
  let r = validMemo.get(k)
  if (r === undefined) {
    const doctor = t.tx.kind === 'diag' || t.tx.kind === 'emergency' ? t.tx.doctor : null
    r = doctor === null ? 'not a tx_diag or emergency request' : !DOCTORS.some((d) => equalBytes(d.id, doctor)) ? 'doctor not registered' : verifyTx(t.tx) ? null : 'bad signature'
    if (validMemo.size > 100_000) validMemo.clear()
    validMemo.set(k, r)
  }
  return r
}

/**
 * The sim's Userchain for charges (paper §IV-B4, roles/accounting/validate.ts
 * checkCredit): the user each cause belongs to (default: one user for the
 * whole pool) and each user's prepaid credit in diagnoses (default: plenty).
 */
export const SIM_USER_OF = new Map<string, string>()
export const SIM_CREDIT = new Map<string, number>()
const POOL_USER = 'pool-user'

/** The account a tx_diag draws on: the user of its first cause. */
export function simAccount (t: BodyTx): string | null {
  return t.tx.kind === 'diag' ? SIM_USER_OF.get(toHex(t.tx.causes[0]!)) ?? POOL_USER : null
}

/** The sim's whole admission rule: simValidate, then the user's credit after `charged` diagnoses. */
export function simAdmit (t: BodyTx, charged: number): string | null {
  const bad = simValidate(t)
  if (bad !== null) return bad
  const user = simAccount(t)
  const credit = user === null ? Infinity : SIM_CREDIT.get(user) ?? 1_000_000
  return charged + 1 <= credit ? null : `user ${user} has not paid enough for a diagnosis (${charged} ahead, credit ${credit})`
}

export const GENESIS: Dblock = dblockProposal({ index: 0, gtime: 1_790_000_000, prehash: new Uint8Array(32), view: 0, leader: new Uint8Array(32), txs: [] })

export type Behavior = 'silent' | 'equivocate' | 'badsig' | 'stale' | 'crash-later' | 'collude'
/**
 * collude: equivocates when leading, votes PREPARE and COMMIT for every
 * pre-prepare it sees (conflicting ones included), and lies by omission in
 * its view-changes (reports nothing prepared). Several colluders act together.
 */
export const BEHAVIORS: readonly Behavior[] = ['silent', 'equivocate', 'badsig', 'stale', 'crash-later', 'collude', 'collude']

export interface SimOptions {
  readonly seed: number
  readonly n: number
  readonly byzantine?: ReadonlyArray<{ readonly index: number, readonly behavior: Behavior }>
  /** Network misbehaves until this virtual ms. */
  readonly gst?: number
  readonly maxDelay?: number
  readonly pDrop?: number
  readonly pDup?: number
  readonly partitions?: boolean
  readonly tickMs?: number
  readonly replica?: Partial<Omit<ReplicaConfig, 'key' | 'members' | 'genesis'>>
  /** Per-node overrides (e.g. a Byzantine replica that skips a rule). */
  readonly replicaOf?: (i: number) => Partial<Omit<ReplicaConfig, 'key' | 'members' | 'genesis'>>
}

interface Ev { at: number, order: number, run: () => void }

/** Binary min-heap of events by (time, insertion order): deterministic. */
class Queue {
  private h: Ev[] = []
  get size (): number { return this.h.length }
  push (e: Ev): void {
    const h = this.h
    h.push(e)
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (less(h[p]!, h[i]!)) break
      ;[h[p], h[i]] = [h[i]!, h[p]!]
      i = p
    }
  }

  pop (): Ev | undefined {
    const h = this.h
    if (h.length === 0) return undefined
    const top = h[0]!
    const last = h.pop()!
    if (h.length > 0) {
      h[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < h.length && less(h[l]!, h[m]!)) m = l
        if (r < h.length && less(h[r]!, h[m]!)) m = r
        if (m === i) break
        ;[h[m], h[i]] = [h[i]!, h[m]!]
        i = m
      }
    }
    return top
  }

  peek (): Ev | undefined { return this.h[0] }
}
function less (a: Ev, b: Ev): boolean { return a.at < b.at || (a.at === b.at && a.order < b.order) }

interface Node {
  replica: Replica
  readonly cfg: ReplicaConfig
  readonly key: Identity
  readonly behavior: Behavior | null
  up: boolean
  chain: Dblock[]
  snapshot: ReplicaSnapshot
  appended: Uint8Array[]
  sent: Uint8Array[]
  /** Diagnoses executed per user (the host's part of the credit rule). */
  charged: Map<string, number>
  /** Ids of every tx this node executed (its store, as the host's `isCommitted` reads it). */
  committed: Set<string>
}

export class Sim {
  readonly opts: SimOptions
  readonly n: number
  readonly f: number
  readonly nodes: Node[]
  readonly members: Uint8Array[]
  private readonly rand: () => number
  private readonly q = new Queue()
  private order = 0
  now = 0
  messages = 0
  viewChanges = 0
  /** First safety violation seen, if any. */
  safety: string | null = null
  private readonly heights = new Map<number, string>()
  private readonly committedAt = new Map<string, number>()
  readonly submittedAt = new Map<string, number>()
  /** Observers: every commit at every node. */
  onCommit: ((node: number, block: Dblock, now: number) => void) | null = null
  private readonly split = new Map<string, boolean>()
  private readonly forgeries = new Map<string, Uint8Array>()
  private readonly forkTips = new Map<string, Uint8Array>()
  /** Partition: nodes in the set cannot talk to nodes outside it, until `partitionEnd`. */
  private partition: Set<number> | null = null
  private partitionEnd = 0
  /** Extra per-link filter for targeted tests: return false to drop. */
  filter: ((from: number, to: number, bytes: Uint8Array) => boolean) | null = null
  /** Targeted tests: replace what node `from` sends to `to` (a Byzantine of the test's making). */
  tamper: ((from: number, to: number, bytes: Uint8Array) => Uint8Array[] | null) | null = null

  constructor (opts: SimOptions) {
    this.opts = opts
    this.n = opts.n
    this.f = Math.floor((opts.n - 1) / 3)
    this.rand = rng(opts.seed)
    const keys = Array.from({ length: opts.n }, (_, i) => ident(`replica-${i}`))
    this.members = keys.map((k) => k.id)
    this.nodes = keys.map((key, i) => {
      const charged = new Map<string, number>()
      const committed = new Set<string>()
      const cfg: ReplicaConfig = {
        key: key.signing,
        members: this.members,
        genesis: GENESIS,
        checkpointInterval: 2,
        window: 8,
        maxBatch: 2,
        batchDelayMs: 5,
        requestTimeoutMs: 300,
        viewChangeTimeoutMs: 300,
        fetchTimeoutMs: 100,
        statusEveryMs: 1000,
        validate: (t, _before, spent) => simAdmit(t, (charged.get(simAccount(t) ?? '') ?? 0) + spent),
        costOf: simAccount,
        onExecute: (b) => { chargeBlock(charged, b); for (const t of b.txs) committed.add(toHex(t.id)) },
        isCommitted: (id) => committed.has(toHex(id)),
        ...opts.replica,
        ...opts.replicaOf?.(i)
      }
      const behavior = opts.byzantine?.find((b) => b.index === i)?.behavior ?? null
      return { replica: new Replica(cfg), cfg, key, behavior, up: behavior !== 'silent', chain: [GENESIS], snapshot: emptySnapshot(GENESIS), appended: [], sent: [], charged, committed }
    })
    if (opts.partitions === true && this.rand() < 0.5) {
      const size = 1 + Math.floor(this.rand() * (this.n - 1))
      this.partition = new Set(Array.from({ length: size }, () => Math.floor(this.rand() * this.n)))
      this.partitionEnd = Math.floor(this.rand() * (opts.gst ?? 0))
    }
    const tick = opts.tickMs ?? 10
    for (let i = 0; i < this.n; i++) this.schedule(Math.floor(this.rand() * tick), () => this.tickLoop(i, tick))
    for (let i = 0; i < this.n; i++) {
      if (this.nodes[i]!.behavior === 'crash-later') this.schedule(Math.floor(this.rand() * Math.max(1, opts.gst ?? 500)), () => { this.nodes[i]!.up = false })
    }
  }

  get honest (): number[] { return this.nodes.map((_, i) => i).filter((i) => this.nodes[i]!.behavior === null) }

  schedule (delay: number, run: () => void): void { this.q.push({ at: this.now + delay, order: this.order++, run }) }

  private tickLoop (i: number, every: number): void {
    const node = this.nodes[i]!
    if (node.up) this.apply(i, node.replica.tick(this.now))
    this.schedule(every, () => this.tickLoop(i, every))
  }

  /** Submissions refused (tx id → reason) when submitted with mayRefuse. */
  readonly refused = new Map<string, string>()

  /** A doctor submits tx to accounting node i at virtual time `at` (a refusal throws, unless mayRefuse: then it is recorded). */
  submit (tx: DocTx, i: number, at = this.now, mayRefuse = false): void {
    this.schedule(Math.max(0, at - this.now), () => {
      const node = this.nodes[i]!
      const id = toHex(txId(tx))
      if (!this.submittedAt.has(id)) this.submittedAt.set(id, this.now)
      if (!node.up) return
      const r = node.replica.submit(tx, this.now)
      if (r.reason !== null && mayRefuse) { this.submittedAt.delete(id); this.refused.set(id, r.reason) }
      else if (r.reason !== null && !r.reason.startsWith('already')) throw new Error(`sim: valid tx rejected: ${r.reason}`)
      this.apply(i, r.actions)
    })
  }

  crash (i: number): void { this.nodes[i]!.up = false }

  /**
   * Restart node i from its persisted Docchain, snapshot and appended log —
   * the sim's in-memory copy, or `state` as loaded from store/pbft-log.ts.
   */
  restart (i: number, state?: { tip: Dblock, txIds: string[], snapshot: ReplicaSnapshot, appended: Uint8Array[], chain: Dblock[] }): void {
    const node = this.nodes[i]!
    node.replica = new Replica(node.cfg)
    if (state !== undefined) {
      node.chain = state.chain
      node.snapshot = state.snapshot
      node.appended = state.appended
    }
    node.replica.loadChain(state?.tip ?? node.chain.at(-1)!, state?.txIds ?? node.chain.flatMap((b) => b.txs.map((t) => toHex(t.id))))
    node.charged.clear()
    node.committed.clear()
    for (const b of node.chain) { chargeBlock(node.charged, b); for (const t of b.txs) node.committed.add(toHex(t.id)) }
    node.up = true
    this.apply(i, node.replica.restore(node.snapshot, node.appended, this.now))
  }

  /** Observer of every action list a node produces (e.g. to persist it for real). */
  onActions: ((node: number, actions: Action[]) => void) | null = null

  private delay (): number {
    const stable = this.now >= (this.opts.gst ?? 0)
    const max = this.opts.maxDelay ?? 20
    return stable ? 1 + Math.floor(this.rand() * Math.min(max, 5)) : Math.floor(this.rand() * max)
  }

  private deliver (from: number, to: number, bytes: Uint8Array): void {
    if (from === to) return
    const stable = this.now >= (this.opts.gst ?? 0)
    if (this.filter !== null && !this.filter(from, to, bytes)) return
    if (!stable) {
      if (this.rand() < (this.opts.pDrop ?? 0)) return
      if (this.partition !== null && this.now < this.partitionEnd && this.partition.has(from) !== this.partition.has(to)) return
      if (this.rand() < (this.opts.pDup ?? 0)) this.schedule(this.delay(), () => this.arrive(to, bytes))
    }
    this.messages++
    this.schedule(this.delay(), () => this.arrive(to, bytes))
  }

  private arrive (to: number, bytes: Uint8Array): void {
    const node = this.nodes[to]!
    if (!node.up) return
    if (node.behavior === 'collude') this.colludeVotes(to, bytes)
    this.apply(to, node.replica.receive(bytes, this.now))
  }

  /** A colluder signs prepare and commit for whatever pre-prepare reaches it. */
  private colludeVotes (i: number, bytes: Uint8Array): void {
    let m
    try { m = decodeMessage(bytes) } catch { return }
    if (m.kind !== 'pre-prepare') return
    const key = this.nodes[i]!.key.signing
    const vote = { view: m.body.view, seq: m.body.seq, digest: m.body.digest }
    for (const b of [signMessage(prepareCodec, vote, key).bytes, signMessage(commitCodec, vote, key).bytes]) {
      for (let j = 0; j < this.n; j++) if (j !== i) this.deliver(i, j, b)
    }
  }

  private apply (i: number, actions: Action[]): void {
    const node = this.nodes[i]!
    this.onActions?.(i, actions)
    for (const a of actions) {
      switch (a.type) {
        case 'send': {
          if (!node.up) break
          const targets = a.to === null ? this.members.map((_, j) => j).filter((j) => j !== i) : [this.members.findIndex((m) => equalBytes(m, a.to!))]
          for (const j of targets) for (const b of this.tamper?.(i, j, a.bytes) ?? this.misbehave(i, j, a.bytes)) this.deliver(i, j, b)
          break
        }
        case 'commit': this.onCommitted(i, a.block); break
        case 'persist': node.appended.push(a.bytes); break
        case 'compact': node.snapshot = a.snapshot; node.appended = []; break
        case 'serve': {
          const j = this.members.findIndex((m) => equalBytes(m, a.to))
          const blocks = node.chain.slice(a.from, a.from + 16)
          if (blocks.length > 0) this.deliver(i, j, node.replica.makeBlocksMessage(blocks))
          break
        }
        case 'view': if (i === this.honest[0]) this.viewChanges++; break
      }
    }
  }

  private onCommitted (i: number, block: Dblock): void {
    const node = this.nodes[i]!
    const h = block.header.index
    if (node.behavior !== null) { node.chain.push(block); return }
    if (h !== node.chain.length) this.fail(`node ${i} committed height ${h} after ${node.chain.length - 1}`)
    const hash = toHex(dblockHash(block.header))
    const prev = this.heights.get(h)
    if (prev === undefined) this.heights.set(h, hash)
    else if (prev !== hash) this.fail(`two Dblocks at height ${h}: ${prev.slice(0, 12)} and ${hash.slice(0, 12)} (node ${i})`)
    if (!equalBytes(block.header.prehash, dblockHash(node.chain.at(-1)!.header))) this.fail(`node ${i}: height ${h} does not extend its chain`)
    // Certificate: 2f+1 distinct members, one view, each signature valid (memoized check).
    try { verifyCertificate(block, this.members, verifyCached) } catch (err) { this.fail(`node ${i}: bad certificate at ${h}: ${(err as Error).message}`) }
    node.chain.push(block)
    for (const t of block.txs) {
      const k = `${i}:${toHex(t.id)}`
      if (this.committedAt.has(k)) this.fail(`node ${i}: tx committed twice`)
      this.committedAt.set(k, this.now)
    }
    this.onCommit?.(i, block, this.now)
  }

  private fail (why: string): void { if (this.safety === null) this.safety = why }

  /** What a Byzantine sender actually puts on the wire to one peer. */
  private misbehave (i: number, to: number, bytes: Uint8Array): Uint8Array[] {
    const node = this.nodes[i]!
    switch (node.behavior) {
      case null: return [bytes]
      case 'silent': return []
      case 'crash-later': return node.up ? [bytes] : []
      case 'badsig': {
        if (this.rand() < 0.5) return [bytes]
        const bad = bytes.slice()
        bad[bad.length - 1 - Math.floor(this.rand() * 64)]! ^= 1 + Math.floor(this.rand() * 255)
        return [bad]
      }
      case 'stale': {
        node.sent.push(bytes)
        if (node.sent.length > 200) node.sent.shift()
        const old = node.sent[Math.floor(this.rand() * node.sent.length)]!
        return this.rand() < 0.3 ? [bytes, old] : [bytes]
      }
      case 'equivocate':
      case 'collude': {
        let m
        try { m = decodeMessage(bytes) } catch { return [bytes] }
        if (node.behavior === 'collude' && m.kind === 'view-change') {
          return [signMessage(viewChangeCodec, { ...m.body, prepared: [] }, node.key.signing).bytes]
        }
        if (m.kind !== 'pre-prepare') return [bytes]
        // A consistent equivocation: per view a forked chain of conflicting
        // proposals, and per recipient one fixed side, so neither retransmissions
        // nor the prehash links give it away.
        const accomplice = this.nodes[to]!.behavior !== null
        const k = `${m.body.view}:${m.body.seq}`
        const choice = `${to}:${m.body.view}`
        if (!this.split.has(choice)) this.split.set(choice, this.rand() < 0.5)
        if (!accomplice && this.split.get(choice)!) return [bytes]
        let forged = this.forgeries.get(k)
        if (forged === undefined) {
          const b = m.body.block
          // A different time, or (sometimes) a broken prehash.
          const alt = dblockProposal({
            index: b.header.index,
            gtime: b.header.gtime + 1,
            prehash: this.forkTips.get(`${m.body.view}:${m.body.seq - 1}`) ?? (this.rand() < 0.8 ? b.header.prehash : sha256(b.header.prehash)),
            view: b.header.view,
            leader: b.header.leader,
            txs: b.txs.map((t) => t.tx as DocTx)
          })
          forged = signMessage(prePrepareCodec, prePrepareBody(m.body.view, alt), node.key.signing).bytes
          this.forgeries.set(k, forged)
          this.forkTips.set(k, dblockHash(alt.header))
        }
        return accomplice ? [bytes, forged] : [forged] // accomplices get both, to vote for both
      }
    }
  }

  /** Runs events until `done()` holds (checked after each event) or virtual time passes `until`. */
  run (done: () => boolean, until: number): boolean {
    for (;;) {
      if (done()) return true
      const e = this.q.peek()
      if (e === undefined || e.at > until) { this.now = until; return done() }
      this.q.pop()
      this.now = e.at
      e.run()
      if (this.safety !== null) return false
    }
  }

  /** Every submitted tx committed at every honest, running node. */
  allCommitted (): boolean {
    for (const i of this.honest) {
      if (!this.nodes[i]!.up) continue
      for (const id of this.submittedAt.keys()) if (!this.committedAt.has(`${i}:${id}`)) return false
    }
    return true
  }

  /** Commit latency of tx id at node i (virtual ms), if committed. */
  latency (i: number, id: string): number | undefined {
    const c = this.committedAt.get(`${i}:${id}`)
    const s = this.submittedAt.get(id)
    return c === undefined || s === undefined ? undefined : c - s
  }

  random (): number { return this.rand() }
}

function chargeBlock (charged: Map<string, number>, b: Dblock): void {
  for (const t of b.txs) { const u = simAccount(t); if (u !== null) charged.set(u, (charged.get(u) ?? 0) + 1) }
}

export interface ScheduleResult { readonly seed: number, readonly ok: boolean, readonly why: string | null, readonly views: number, readonly height: number, readonly time: number }

/** One random schedule: up to f Byzantine replicas, a lossy network until gst, then liveness. */
export function randomSchedule (seed: number, n: number): ScheduleResult {
  const { sim, txs, gst } = buildSchedule(seed, n)
  const honest = sim.honest
  const ok = sim.run(() => sim.submittedAt.size === txs.length && sim.allCommitted(), gst + 120_000)
  const why = sim.safety !== null ? `safety: ${sim.safety}` : ok ? null : 'liveness: not every submitted tx_diag committed at every honest replica'
  const height = Math.min(...honest.map((i) => sim.nodes[i]!.chain.length - 1))
  return { seed, ok: ok && sim.safety === null, why, views: sim.viewChanges, height, time: sim.now }
}

/** The random choices of one schedule, before it runs. */
export function buildSchedule (seed: number, n: number): { sim: Sim, txs: DocTx[], gst: number } {
  const r = rng(seed ^ 0x9e3779b9)
  const f = Math.floor((n - 1) / 3)
  const nByz = Math.floor(r() * (f + 1))
  const byzantine: Array<{ index: number, behavior: Behavior }> = []
  const used = new Set<number>()
  while (byzantine.length < nByz) {
    const index = Math.floor(r() * n)
    if (used.has(index)) continue
    used.add(index)
    byzantine.push({ index, behavior: BEHAVIORS[Math.floor(r() * BEHAVIORS.length)]! })
  }
  const gst = Math.floor(r() * 400)
  const sim = new Sim({
    seed,
    n,
    byzantine,
    gst,
    maxDelay: 5 + Math.floor(r() * 40),
    pDrop: r() * 0.3,
    pDup: r() * 0.2,
    partitions: true,
    replica: { rotateEveryBlocks: r() < 0.5 ? 0 : 2 + Math.floor(r() * 3), maxBatch: 1 + Math.floor(r() * 3) }
  })
  const txs = [...txPool(2 + Math.floor(r() * 2)), ...emergencyPool(1)]
  const honest = sim.honest
  for (const tx of txs) sim.submit(tx, honest[Math.floor(r() * honest.length)]!, Math.floor(r() * 300))
  return { sim, txs, gst }
}

/**
 * A longer schedule: 10–24 tx_diag, one per Dblock or two, checkpoints every
 * 2 with a window of 4 (so watermarks and GC move many times under faults),
 * the network stabilising only after 0.5–2 s.
 */
export function longSchedule (seed: number, n: number): ScheduleResult {
  const r = rng(seed * 7919)
  const f = Math.floor((n - 1) / 3)
  const byzantine: Array<{ index: number, behavior: Behavior }> = []
  const used = new Set<number>()
  const nb = Math.floor(r() * (f + 1))
  while (byzantine.length < nb) {
    const index = Math.floor(r() * n)
    if (used.has(index)) continue
    used.add(index)
    byzantine.push({ index, behavior: BEHAVIORS[Math.floor(r() * BEHAVIORS.length)]! })
  }
  const gst = 500 + Math.floor(r() * 1500)
  const sim = new Sim({
    seed, n, byzantine, gst, maxDelay: 30, pDrop: r() * 0.3, pDup: 0.1, partitions: true,
    replica: { checkpointInterval: 2, window: 4, maxBatch: 1 + Math.floor(r() * 2), rotateEveryBlocks: r() < 0.5 ? 0 : 3 }
  })
  const txs = [...txPool(10 + Math.floor(r() * 15)), ...emergencyPool(3)]
  const honest = sim.honest
  txs.forEach((tx) => sim.submit(tx, honest[Math.floor(r() * honest.length)]!, Math.floor(r() * (gst + 500))))
  const ok = sim.run(() => sim.submittedAt.size === txs.length && sim.allCommitted(), gst + 120_000)
  const why = sim.safety !== null ? `safety: ${sim.safety}` : ok ? null : 'liveness: not every submitted tx_diag committed at every honest replica'
  const height = Math.min(...honest.map((i) => sim.nodes[i]!.chain.length - 1))
  return { seed, ok: ok && sim.safety === null, why, views: sim.viewChanges, height, time: sim.now }
}
