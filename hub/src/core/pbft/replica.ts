/**
 * PBFT replica of an accounting node (Castro & Liskov, "Practical Byzantine
 * Fault Tolerance", OSDI '99, §4; paper §IV-B3, Fig. 5) as a pure state
 * machine: events in (a received message, a doctor's submission, a clock
 * tick — time is only ever an argument), actions out (messages to send,
 * certified Dblocks to store, log records to persist). No I/O, clock or
 * randomness, so the simulated network of the tests can drive it.
 *
 * Sequence number n = Dblock index; one pre-prepare carries one Dblock of
 * tx_diag. Normal case: pre-prepare → prepare → commit → execute; the 2f+1
 * COMMIT votes of one view that decide a Dblock (each an Ed25519 signature
 * over view, index and Dblock hash) are its certificate. Watermarks: only n
 * in (h, h+L] is accepted, h = last stable checkpoint; checkpoints every K
 * blocks, stable with 2f+1 matching
 * messages, then the log below h is discarded. View change on a request
 * timeout, an invalid or equivocating pre-prepare, or the end of the leader's
 * period (`rotateEveryBlocks`: the paper's "one leader each time period",
 * measured in Dblocks so every replica agrees on when it ends).
 *
 * Chaining rule (Dblocks link by prehash, so PBFT's null requests cannot
 * fill gaps): a replica multicasts COMMIT for n only when n−1 is executed or
 * stable with the matching hash, or it already multicast COMMIT for n−1 in the
 * same view with the matching hash. Hence whenever a Dblock is committed, its
 * whole chain of parents is prepared at f+1 correct replicas, and a new-view
 * selects, from the stable checkpoint upwards, for each n the highest-view
 * prepared Dblock whose prehash matches the one selected at n−1, stopping at
 * the first n with none (selectNewView). Committed Dblocks are always selected.
 *
 * Certificates: 2f+1 COMMIT votes of one view for (n, d) mean committed(m, v, n)
 * (Castro–Liskov §4.2), so they are kept with the decision and become the
 * certificate (core dblock.ts signs the view too: votes of different views are
 * never pooled, as a block can collect 2f+1 commit votes across views without
 * ever being committed). Earlier versions had a REPLY round after execution
 * to sign the certificate: one more hop and a quarter more messages per Dblock.
 *
 * Liveness aids, none of which affects safety: 2f+1 commits of any one view
 * decide a Dblock even for a replica that has moved on (recordVote); backups
 * re-send unproposed requests and every replica re-sends its own votes until
 * its Dblocks execute; the view timer also runs while a pre-prepared Dblock
 * waits; a lagging replica
 * fetches certified Dblocks (fetch.ts); STATUS heartbeats carry height and
 * view, and f+1 replicas seen in higher views pull a replica along (noteView);
 * a leader re-sends its new-view, and others their old view-change, to a
 * replica still asking for that view.
 *
 * Registry records (TxReg) are ordered with the tx_diag (paper §IV-B2: the
 * leader checks the doctor is legitimate). What is valid depends on the
 * records ordered before: every validity check gets the records of the
 * proposed, unexecuted Dblocks below it (and those earlier in the same
 * Dblock); the leader leaves a tx that is invalid after them queued; when a
 * Dblock with records executes, the host applies them (onExecute) and pending
 * txs they made invalid are dropped with a 'reject' action.
 *
 * Charges (paper §IV-B4: a diagnosis consumes its user's prepaid credit): a
 * tx may draw one unit from an account (costOf), and validate learns how many
 * units of that account are already drawn by txs ordered ahead of it — every
 * proposed, unexecuted Dblock of the view (those above it too: a backup may
 * get them out of order, and an honest leader counted this one when it built
 * them) and those earlier in its Dblock; on admission, also the txs admitted
 * and not yet proposed. The host adds what is executed. So every replica
 * checks a proposal against the same total before it prepares, and a
 * Byzantine leader cannot spread an overdraft over several Dblocks.
 */
import { equalBytes, toHex } from '../codec.ts'
import type { SigningKey } from '../crypto.ts'
import { changesRegistry, checkDblockStructure, DBLOCK_VERSION, DOC_KINDS, dblockHash, decodeDblock, encodeDblock, verifyCertificate, type CommitSignature, type Dblock } from '../dblock.ts'
import { bodyEntryBytes, bodyTx, type BodyTx } from '../body.ts'
import { decodeTx } from '../tx/index.ts'
import type { DocTx } from '../tx/index.ts'
import { MAX_BLOCK_BODY_BYTES } from '../limits.ts'
import { merkleRoot } from '../merkle.ts'
import { signMessage, verifyCached, verifySigned } from './envelope.ts'
import { decodeMessage, type PbftMessage } from './messages.ts'
import { requestBodies, requestCodec, requestTxs, type RequestMsg } from './request.ts'
import { prePrepareBody, prePrepareCodec, type PrePrepareMsg } from './pre-prepare.ts'
import { prepareCodec, type PrepareMsg } from './prepare.ts'
import { commitCodec, type CommitMsg } from './commit.ts'
import { checkpointCodec, type CheckpointMsg } from './checkpoint.ts'
import { viewChangeCodec, type ViewChangeMsg } from './view-change.ts'
import { newViewCodec, type NewViewMsg } from './new-view.ts'
import { blocksCodec, fetchCodec, statusCodec, type BlocksMsg, type FetchMsg, type StatusMsg } from './fetch.ts'

export interface ReplicaConfig {
  readonly key: SigningKey
  /** The accounting nodes, n = 3f+1, in leader order: leader(v) = members[v mod n]. */
  readonly members: readonly Uint8Array[]
  /** Dblock 0 (no certificate; fixed by configuration). */
  readonly genesis: Dblock
  /** Checkpoint every K Dblocks. */
  readonly checkpointInterval?: number
  /** Watermark window L (a multiple of K). */
  readonly window?: number
  /** Max tx_diag per Dblock. */
  readonly maxBatch?: number
  /**
   * The leader waits up to this long for a batch to fill while an earlier
   * Dblock of its is still unexecuted; with none in flight it proposes at once
   * (a lone tx_diag is not held back; under load, batches fill while the
   * pipeline is busy).
   */
  readonly batchDelayMs?: number
  /** Max proposed but unexecuted Dblocks. */
  readonly maxInFlight?: number
  /** A backup that waits this long for a known request starts a view change. */
  readonly requestTimeoutMs?: number
  /** Base view-change timeout (doubles on each consecutive failed view). */
  readonly viewChangeTimeoutMs?: number
  /** Leader period in Dblocks; 0 = rotate on failure only. */
  readonly rotateEveryBlocks?: number
  readonly fetchTimeoutMs?: number
  readonly statusEveryMs?: number
  /**
   * Application validity of one Docchain tx (signature, registry…): a reason,
   * or null when valid. `before` are the registry records (TxReg) ordered
   * ahead of it but not executed yet, oldest first: a tx_diag after a SUSPEND
   * of its doctor, or a record out of sequence, is invalid there.
   */
  readonly validate?: (tx: BodyTx, before: readonly BodyTx[], spent: number) => string | null
  /**
   * The account a tx draws one unit from (a tx_diag: its user's credit), or
   * null; `spent` passed to validate counts that account's units drawn by the
   * txs ordered (or, on admission, admitted) ahead of it and not executed.
   */
  readonly costOf?: (tx: BodyTx) => string | null
  /**
   * Whether a tx is on Docchain below what this replica still remembers: it
   * keeps the ids of the Dblocks of the last watermark window only (memory
   * stays bounded however long Docchain grows); the host answers for older
   * ones from its store. Without it, every id is kept.
   */
  readonly isCommitted?: (id: Uint8Array) => boolean
  /** A Dblock was executed (committed-local), in height order: apply its registry records now. */
  readonly onExecute?: (block: Dblock) => void
}

export type Action =
  /** Send bytes to one member, or to every other member when `to` is null. */
  | { readonly type: 'send', readonly to: Uint8Array | null, readonly bytes: Uint8Array }
  /** A Dblock with its certificate, in height order: store it, reply to doctors. */
  | { readonly type: 'commit', readonly block: Dblock }
  /** Append this accepted message to the persisted log. */
  | { readonly type: 'persist', readonly bytes: Uint8Array }
  /** Replace the persisted log with this snapshot (after a checkpoint or view change). */
  | { readonly type: 'compact', readonly snapshot: ReplicaSnapshot }
  /** Send `to` certified Dblocks from height `from` on (makeBlocksMessage). */
  | { readonly type: 'serve', readonly to: Uint8Array, readonly from: number }
  /** Entered a view (informational: who leads now). */
  | { readonly type: 'view', readonly view: number, readonly leader: Uint8Array }
  /** A pending tx became invalid when a Dblock executed (its doctor suspended, a record out of sequence): tell its submitter. */
  | { readonly type: 'reject', readonly tx: BodyTx, readonly reason: string }

/** What a restarted replica needs beyond its Docchain (store/pbft-log.ts persists it). */
export interface ReplicaSnapshot {
  readonly view: number
  readonly inViewChange: boolean
  readonly viewStart: number
  readonly stableProof: readonly Uint8Array[]
  readonly stableSeq: number
  readonly stableDigest: Uint8Array
  readonly prepared: ReadonlyArray<{ readonly prePrepare: Uint8Array, readonly prepares: readonly Uint8Array[] }>
  readonly ownViewChange: Uint8Array | null
  readonly newView: Uint8Array | null
  /** Current-view slot messages and checkpoints above the stable one, replayed in order. */
  readonly messages: readonly Uint8Array[]
}

interface Slot {
  pp?: PrePrepareMsg
  /** Units drawn per account by the proposal's txs (costOf), set with pp. */
  costs?: Map<string, number>
  readonly prepares: Map<string, PrepareMsg>
  readonly commits: Map<string, CommitMsg>
  prepared: boolean
  sentCommit: boolean
  committed: boolean
}

interface Pending { readonly tx: BodyTx, readonly since: number }

interface PreparedCert { readonly view: number, readonly pp: PrePrepareMsg, readonly prepares: readonly PrepareMsg[] }

interface ParsedVC {
  readonly msg: ViewChangeMsg
  readonly stableSeq: number
  readonly stableDigest: Uint8Array
  readonly proof: readonly Uint8Array[]
  readonly prepared: ReadonlyMap<number, PrePrepareMsg & { readonly prepView: number }>
}

export interface NewViewSelection {
  readonly h: number
  readonly hDigest: Uint8Array
  readonly proof: readonly Uint8Array[]
  readonly chain: ReadonlyArray<{ readonly seq: number, readonly block: Dblock, readonly digest: Uint8Array }>
}

const hex = toHex

/** Votes of views further ahead than this are not kept (view changes move one view at a time, or to what f+1 replicas reached). */
const VIEWS_AHEAD = 4

/** The registry records of a proposed Dblock (computed once per block). */
const recordsOfBlock = new WeakMap<Dblock, BodyTx[]>()
function recordsOf (b: Dblock): BodyTx[] {
  let r = recordsOfBlock.get(b)
  if (r === undefined) { r = b.txs.filter((t) => changesRegistry(t.tx.kind)); recordsOfBlock.set(b, r) }
  return r
}

export class Replica {
  readonly id: Uint8Array
  readonly n: number
  readonly f: number
  readonly K: number
  readonly L: number
  private readonly cfg: ReplicaConfig
  private readonly idHex: string
  private readonly memberIndex: Map<string, number>
  private readonly genesisHash: Uint8Array

  // --- view state
  view = 0
  inViewChange = false
  private viewStart = 0
  private nextSeq = 1
  private ownVC: ViewChangeMsg | null = null
  private lastNV: NewViewMsg | null = null
  private readonly vcs = new Map<number, Map<string, ParsedVC>>()
  private vcResendAt = 0
  private vcDeadline: number | null = null
  private vcAttempts = 0
  /** Views in a row whose request timer expired before any Dblock executed (backs the timer off, CL §4.4). */
  private idleViews = 0
  private viewTimer: number | null = null

  // --- log
  private slots = new Map<number, Slot>()
  private readonly prepCerts = new Map<number, PreparedCert>()
  private readonly checkpoints = new Map<number, Map<string, CheckpointMsg>>()
  private future: Array<PrePrepareMsg | PrepareMsg | CommitMsg> = []
  stableSeq = 0
  private stableDigest: Uint8Array
  private stableProof: CheckpointMsg[] = []

  // --- execution
  executedSeq = 0
  private executedDigest: Uint8Array
  private executedGtime: number
  /** Ids of the txs of recently executed Dblocks (and, after a restart, of those loaded, until the next stable checkpoint). */
  private committedTx = new Set<string>()
  /** Per executed Dblock above the stable checkpoint − L: its tx ids (what committedTx forgets when the checkpoint moves). */
  private readonly committedAt = new Map<number, string[]>()
  private restoredTx = false
  /** Hashes of executed Dblocks above the stable checkpoint. */
  private readonly execDigests = new Map<number, string>()
  /**
   * Commit votes of any view, seq → signer → its vote of the latest view (a
   * correct replica votes for a seq again only in a later view): 2f+1 of one
   * view for one digest decide a Dblock. At most n votes per seq in the window.
   */
  private readonly votes = new Map<number, Map<string, CommitMsg>>()
  /** Dblocks known committed (committed-local, or 2f+1 commits of some view), not yet executed, with those commits as certificate. */
  private readonly decided = new Map<number, { block: Dblock, digest: Uint8Array, cert: CommitSignature[] }>()
  private readonly pending = new Map<string, Pending>()
  /** Ids of pending txs per account they draw on (costOf). */
  private readonly pendingByAccount = new Map<string, Set<string>>()
  private inflight = new Set<string>()
  /** Pending requests not in any proposal of this view, oldest first (the leader's queue). */
  private queue = new Map<string, Pending>()
  /** (seq → digest) of the pre-prepares of the new-view that opened this view. */
  private nvDigests = new Map<number, string>()
  private resendAt = 0
  private retransmitAt = 0
  private leaderSeenAt = 0
  /** Highest view seen from each replica above ours (view synchronisation). */
  private readonly ahead = new Map<string, number>()
  /** Our view-changes for the last few views we left (resent to laggards). */
  private readonly oldVCs = new Map<number, ViewChangeMsg>()
  private readonly answeredAt = new Map<string, number>()

  // --- catch-up
  private hint = 0
  private fetchAt = 0
  private fetchPeer = 0
  private statusAt = 0

  private now = 0
  private out: Action[] = []
  private replaying = false

  constructor (cfg: ReplicaConfig) {
    this.cfg = cfg
    this.id = cfg.key.publicKey
    this.idHex = hex(this.id)
    this.n = cfg.members.length
    this.f = Math.floor((this.n - 1) / 3)
    if (this.n < 1) throw new RangeError('members: at least one accounting node')
    this.memberIndex = new Map(cfg.members.map((m, i) => [hex(m), i]))
    if (!this.memberIndex.has(this.idHex)) throw new RangeError('key: not one of the members')
    this.K = cfg.checkpointInterval ?? 8
    this.L = cfg.window ?? 4 * this.K
    if (this.L < this.K) throw new RangeError('window: must be at least the checkpoint interval')
    this.genesisHash = dblockHash(cfg.genesis.header)
    this.stableDigest = this.executedDigest = this.genesisHash
    this.executedGtime = cfg.genesis.header.gtime
    this.viewStart = 0
  }

  // ------------------------------------------------------------ public API

  get quorum (): number { return 2 * this.f + 1 }
  leaderOf (view: number): Uint8Array { return this.cfg.members[view % this.n]! }
  get leader (): Uint8Array { return this.leaderOf(this.view) }
  get isLeader (): boolean { return equalBytes(this.leader, this.id) }
  get pendingCount (): number { return this.pending.size }
  get viewEnd (): number { const r = this.cfg.rotateEveryBlocks ?? 0; return r > 0 ? this.viewStart + r : Infinity }

  /** Restart: the persisted Docchain tip and the ids of every committed tx_diag. */
  loadChain (tip: Dblock, committedTxIds: Iterable<string>): void {
    const d = dblockHash(tip.header)
    this.executedSeq = tip.header.index
    this.executedDigest = d
    this.executedGtime = tip.header.gtime
    for (const id of committedTxIds) this.committedTx.add(id)
    this.restoredTx = true
    this.nextSeq = Math.max(this.nextSeq, this.executedSeq + 1)
  }

  /** Restart: the snapshot and the messages appended after it (store/pbft-log.ts). */
  restore (snap: ReplicaSnapshot, appended: readonly Uint8Array[], now: number): Action[] {
    this.now = now
    this.replaying = true
    try {
      this.view = snap.view
      this.inViewChange = snap.inViewChange
      this.viewStart = snap.viewStart
      if (snap.stableSeq > this.stableSeq) {
        this.stableSeq = snap.stableSeq
        this.stableDigest = snap.stableDigest
        this.stableProof = snap.stableProof.map((b) => decodeMessage(b) as CheckpointMsg)
      }
      for (const p of snap.prepared) {
        const pp = decodeMessage(p.prePrepare) as PrePrepareMsg
        this.prepCerts.set(pp.body.seq, { view: pp.body.view, pp, prepares: p.prepares.map((b) => decodeMessage(b) as PrepareMsg) })
      }
      if (snap.ownViewChange !== null) {
        this.ownVC = decodeMessage(snap.ownViewChange) as ViewChangeMsg
        const parsed = this.parseVC(this.ownVC)
        if (parsed !== null) this.vcMap(this.ownVC.body.view).set(this.idHex, parsed)
      }
      if (snap.newView !== null) {
        this.lastNV = decodeMessage(snap.newView) as NewViewMsg
        if (this.lastNV.body.view === this.view) {
          this.nvDigests = new Map(this.lastNV.body.prePrepares.map((b) => decodeMessage(b) as PrePrepareMsg).map((p) => [p.body.seq, hex(p.body.digest)]))
        }
      }
      this.nextSeq = Math.max(this.executedSeq, this.viewStart) + 1
      for (const b of [...snap.messages, ...appended]) this.receiveInner(b)
      if (this.inViewChange) this.vcResendAt = now
      else this.armTimer(true)
    } finally {
      this.replaying = false
    }
    return this.drain()
  }

  /** A message from the network (any member, including replays of our own). */
  receive (bytes: Uint8Array, now: number): Action[] {
    let m: PbftMessage
    try { m = decodeMessage(bytes) } catch { return [] }
    return this.receiveMessage(m, now)
  }

  /** The same, already decoded (decodeMessage) by a host that looked into it first. */
  receiveMessage (m: PbftMessage, now: number): Action[] {
    this.now = Math.max(this.now, now)
    this.receiveDecoded(m)
    return this.drain()
  }

  /**
   * When the leader cuts its next batch (the oldest queued tx_diag's
   * batchDelayMs runs out while a Dblock is in flight), or null: a host can
   * tick then rather than at its next periodic tick.
   */
  batchDueAt (): number | null {
    if (!this.isLeader || this.inViewChange) return null
    const first = this.queue.values().next()
    return first.done === true ? null : first.value.since + (this.cfg.batchDelayMs ?? 5)
  }

  /**
   * A doctor's tx_diag submitted to this accounting node: validated, then
   * forwarded to every accounting node (paper §IV-B3). Returns the reason
   * when it is rejected.
   */
  submit (tx: DocTx | BodyTx | Uint8Array, now: number): { id: string, reason: string | null, actions: Action[] } {
    const { results: [r], actions } = this.submitMany([tx], now)
    return { ...r!, actions }
  }

  /**
   * Several submissions at once (as submit, each with its own verdict): those
   * admitted are forwarded together, in one REQUEST.
   */
  submitMany (txs: ReadonlyArray<DocTx | BodyTx | Uint8Array>, now: number): { results: Array<{ id: string, reason: string | null }>, actions: Action[] } {
    this.now = Math.max(this.now, now)
    const fresh: BodyTx[] = [] // admitted here for the first time: forwarded to every member, as one REQUEST
    const results = txs.map((tx) => {
      let bt: BodyTx
      try {
        if (!(tx instanceof Uint8Array) && 'bytes' in tx && 'id' in tx && 'tx' in tx) {
          bt = tx
        } else {
          const decoded = tx instanceof Uint8Array ? decodeTx(tx) : tx
          bt = bodyTx(decoded)
        }
        if (!DOC_KINDS.has(bt.tx.kind)) return { id: '', reason: `a ${bt.tx.kind} transaction does not belong on Docchain` }
      } catch (err) {
        return { id: '', reason: `malformed tx_diag: ${(err as Error).message}` }
      }
      const id = hex(bt.id)
      const had = this.pending.has(id)
      const reason = this.admit(bt)
      if (reason === null && !had) fresh.push(bt)
      return { id, reason }
    })
    for (const m of this.requestMessages(fresh)) this.send(null, m)
    return { results, actions: this.drain() }
  }

  /** Time passes: timers fire, the leader cuts batches, laggards fetch. */
  tick (now: number): Action[] {
    this.now = Math.max(this.now, now)
    if (!this.inViewChange && this.viewTimer !== null && this.now >= this.viewTimer) {
      this.idleViews++
      this.startViewChange(this.view + 1)
    } else if (this.inViewChange) {
      if (this.vcDeadline !== null && this.now >= this.vcDeadline) {
        this.vcAttempts++
        this.startViewChange(this.view + 1)
      } else if (this.now >= this.vcResendAt && this.ownVC !== null) {
        this.send(null, this.ownVC.bytes)
        this.vcResendAt = this.now + this.vcTimeout
      }
    }
    this.tryPropose()
    this.resendRequests()
    this.retransmit()
    if (this.hint > this.executedSeq && this.now >= this.fetchAt) this.requestFetch()
    if (this.now >= this.statusAt) {
      this.statusAt = this.now + (this.cfg.statusEveryMs ?? 1000)
      this.send(null, signMessage(statusCodec, { height: this.executedSeq, view: this.view }, this.cfg.key).bytes)
    }
    return this.drain()
  }

  /** How much the replica holds, in entries (what a flood of messages could grow): for operators and tests. */
  footprint (): { votes: number, slots: number, slotVotes: number, future: number, checkpoints: number, viewChanges: number, committedTx: number, pending: number, ahead: number } {
    let votes = 0
    for (const m of this.votes.values()) votes += m.size
    let slotVotes = 0
    for (const sl of this.slots.values()) slotVotes += sl.prepares.size + sl.commits.size
    let checkpoints = 0
    for (const m of this.checkpoints.values()) checkpoints += m.size
    let viewChanges = 0
    for (const m of this.vcs.values()) viewChanges += m.size
    return { votes, slots: this.slots.size, slotVotes, future: this.future.length, checkpoints, viewChanges, committedTx: this.committedTx.size, pending: this.pending.size, ahead: this.ahead.size + this.answeredAt.size }
  }

  /** The state a restart needs beyond the Docchain. */
  snapshot (): ReplicaSnapshot {
    const messages: Uint8Array[] = []
    for (const [seq, m] of [...this.checkpoints].sort((a, b) => a[0] - b[0])) {
      if (seq > this.stableSeq) for (const c of m.values()) messages.push(c.bytes)
    }
    for (const [, s] of [...this.slots].sort((a, b) => a[0] - b[0])) {
      if (s.pp !== undefined) messages.push(s.pp.bytes)
      for (const p of s.prepares.values()) messages.push(p.bytes)
      for (const c of s.commits.values()) messages.push(c.bytes)
    }
    return {
      view: this.view,
      inViewChange: this.inViewChange,
      viewStart: this.viewStart,
      stableSeq: this.stableSeq,
      stableDigest: this.stableDigest,
      stableProof: this.stableProof.map((c) => c.bytes),
      prepared: [...this.prepCerts.values()].map((c) => ({ prePrepare: c.pp.bytes, prepares: c.prepares.map((p) => p.bytes) })),
      ownViewChange: this.ownVC?.bytes ?? null,
      newView: this.lastNV?.bytes ?? null,
      messages
    }
  }

  /** A BLOCKS message answering a fetch (the host reads the blocks from its store). */
  makeBlocksMessage (blocks: readonly Dblock[]): Uint8Array {
    return signMessage(blocksCodec, { blocks: blocks.map(encodeDblock) }, this.cfg.key).bytes
  }

  // ------------------------------------------------------------ plumbing

  private get requestTimeout (): number { return this.cfg.requestTimeoutMs ?? 1000 }
  /**
   * The view-change (request) timer: the base timeout, doubled for each view
   * in a row that expired without executing a Dblock (Castro–Liskov §4.4:
   * "wait 2T"), so a leader whose rounds take longer than the base timeout
   * (a loaded machine, a slow link) still gets a view long enough to commit.
   */
  private get viewTimeout (): number { return this.requestTimeout * 2 ** Math.min(this.idleViews, 6) }
  private get vcTimeout (): number { return (this.cfg.viewChangeTimeoutMs ?? 1000) * 2 ** Math.min(this.vcAttempts, 6) }

  private drain (): Action[] {
    const a = this.out
    this.out = []
    return a
  }

  private send (to: Uint8Array | null, bytes: Uint8Array): void {
    this.out.push({ type: 'send', to, bytes })
  }

  private persist (m: PbftMessage): void {
    if (!this.replaying) this.out.push({ type: 'persist', bytes: m.bytes })
  }

  private compact (): void {
    if (!this.replaying) this.out.push({ type: 'compact', snapshot: this.snapshot() })
  }

  /** Multicast a message we signed, and process it ourselves. */
  private broadcast (m: PbftMessage): void {
    this.send(null, m.bytes)
    this.handle(m)
  }

  private isMember (id: Uint8Array): boolean { return this.memberIndex.has(hex(id)) }

  private receiveInner (bytes: Uint8Array): void {
    let m: PbftMessage
    try { m = decodeMessage(bytes) } catch { return }
    this.receiveDecoded(m)
  }

  private receiveDecoded (m: PbftMessage): void {
    if (!this.isMember(m.replica)) return
    // A REQUEST only carries txs that are self-authenticating and fully
    // validated on admission: its forwarder's signature adds nothing, so it is
    // not checked.
    if (this.late(m)) return
    if (m.kind !== 'request' && !verifySigned(m)) return
    this.handle(m)
  }

  /**
   * A vote that can no longer change anything here — a prepare for a Dblock
   * already prepared in this view, a commit for one already committed or
   * executed, a checkpoint at or below the
   * stable one (the (2f+1)th vote decided, the rest arrive late) — is dropped
   * before its signature is checked and before it is persisted: with n = 4
   * that is about one Ed25519 check in three.
   */
  private late (m: PbftMessage): boolean {
    switch (m.kind) {
      case 'prepare': return m.body.view === this.view && this.slots.get(m.body.seq)?.prepared === true
      case 'commit': return m.body.seq <= this.executedSeq || (m.body.view === this.view && this.slots.get(m.body.seq)?.committed === true)
      case 'checkpoint': return m.body.seq <= this.stableSeq
      default: return false
    }
  }

  private handle (m: PbftMessage): void {
    switch (m.kind) {
      case 'request': return this.onRequest(m)
      case 'pre-prepare': return this.onPrePrepare(m, false)
      case 'prepare': return this.onPrepare(m)
      case 'commit': return this.onCommit(m)
      case 'checkpoint': return this.onCheckpoint(m)
      case 'view-change': return this.onViewChange(m)
      case 'new-view': return this.onNewView(m)
      case 'fetch': return this.onFetch(m)
      case 'blocks': return this.onBlocks(m)
      case 'status': return this.onStatus(m)
    }
  }

  private slot (seq: number): Slot {
    let s = this.slots.get(seq)
    if (s === undefined) {
      s = { prepares: new Map(), commits: new Map(), prepared: false, sentCommit: false, committed: false }
      this.slots.set(seq, s)
    }
    return s
  }

  private inWindow (seq: number): boolean { return seq > this.stableSeq && seq <= this.stableSeq + this.L }

  /** Normal-case messages of a later view (or of the view being changed to) wait for its new-view. */
  private gateView (m: PrePrepareMsg | PrepareMsg | CommitMsg): boolean {
    const v = m.body.view
    if (v < this.view) return false
    if (v > this.view || this.inViewChange) {
      if (v <= this.view + this.n + 1 && this.future.length < 64 * this.L * this.n) this.future.push(m)
      this.noteHint(m.body.seq - 1)
      this.noteView(m.replica, v)
      return false
    }
    return this.inWindow(m.body.seq)
  }

  private noteHint (seq: number): void {
    if (seq > this.hint) this.hint = Math.min(seq, this.executedSeq + 4 * this.L)
  }

  // ------------------------------------------------------------ requests

  /** A tx submitted here or received in a REQUEST: validated, then pending (null), or the reason it is refused. */
  private admit (bt: BodyTx): string | null {
    const id = hex(bt.id)
    if (this.isCommitted(bt.id, id)) return 'already committed on Docchain'
    if (this.pending.has(id)) return null
    const account = this.cfg.costOf?.(bt) ?? null
    const reason = this.cfg.validate?.(bt, this.recordsBefore(Infinity), account === null ? 0 : this.spentAhead(account, -1) + this.queuedOf(account)) ?? null
    if (reason !== null) return reason
    const entry = { tx: bt, since: this.now }
    this.pending.set(id, entry)
    if (account !== null) {
      let ids = this.pendingByAccount.get(account)
      if (ids === undefined) { ids = new Set(); this.pendingByAccount.set(account, ids) }
      ids.add(id)
    }
    if (!this.inflight.has(id)) this.queue.set(id, entry)
    if (!this.isLeader && !this.inViewChange && this.viewTimer === null) this.viewTimer = this.now + this.viewTimeout
    this.tryPropose()
    return null
  }

  private isCommitted (id: Uint8Array, hexId: string): boolean {
    return this.committedTx.has(hexId) || (this.cfg.isCommitted?.(id) ?? false)
  }

  /** Units of `account` drawn by the proposed, unexecuted Dblocks of this view but the one at `except`. */
  private spentAhead (account: string, except: number): number {
    let n = 0
    for (const [k, s] of this.slots) if (k > this.executedSeq && k !== except && s.costs !== undefined) n += s.costs.get(account) ?? 0
    return n
  }

  /** Admitted txs drawing on `account` that no proposal of this view holds yet. */
  private queuedOf (account: string): number {
    let n = 0
    for (const id of this.pendingByAccount.get(account) ?? []) if (!this.inflight.has(id)) n++
    return n
  }

  /** A pending tx leaves (executed, or invalid now). */
  private dropPending (id: string): void {
    const p = this.pending.get(id)
    if (p === undefined) return
    this.pending.delete(id)
    this.queue.delete(id)
    const account = this.cfg.costOf?.(p.tx) ?? null
    if (account === null) return
    const ids = this.pendingByAccount.get(account)
    ids?.delete(id)
    if (ids?.size === 0) this.pendingByAccount.delete(account)
  }

  /** Units drawn per account by `txs`. */
  private costsOf (txs: readonly BodyTx[]): Map<string, number> {
    const m = new Map<string, number>()
    if (this.cfg.costOf === undefined) return m
    for (const t of txs) { const a = this.cfg.costOf(t); if (a !== null) m.set(a, (m.get(a) ?? 0) + 1) }
    return m
  }

  /**
   * Our own votes for Dblocks that are not executed yet, sent again every
   * request timeout: a peer that lost them would otherwise wait for a view change.
   */
  private retransmit (): void {
    if (this.inViewChange || this.now < this.retransmitAt) return
    this.retransmitAt = this.now + this.requestTimeout
    for (const s of this.slots.values()) {
      if (s.pp !== undefined && equalBytes(s.pp.replica, this.id)) this.send(null, s.pp.bytes)
      const p = s.prepares.get(this.idHex)
      if (p !== undefined) this.send(null, p.bytes)
      const c = s.commits.get(this.idHex)
      if (c !== undefined) this.send(null, c.bytes)
    }
  }

  /**
   * The view-change timer (Castro–Liskov §4.4) runs while a backup waits for
   * something: a known request not yet executed (received directly or inside
   * a pre-prepare). Restarted on
   * progress, stopped when nothing is waited for.
   */
  private armTimer (restart: boolean): void {
    const waiting = this.pending.size > 0 || this.inflight.size > 0
    if (!waiting || this.inViewChange || this.isLeader) { if (!waiting || this.isLeader) this.viewTimer = null; return }
    if (restart || this.viewTimer === null) this.viewTimer = this.now + this.viewTimeout
  }

  private rebuildQueue (): void {
    this.queue = new Map([...this.pending].filter(([id]) => !this.inflight.has(id)))
  }

  /**
   * Backups re-send requests the leader has not proposed yet (it may have
   * missed them); during a view change, to everyone (the next leader needs them).
   */
  private resendRequests (): void {
    if ((this.isLeader && !this.inViewChange) || this.now < this.resendAt) return
    const half = this.requestTimeout / 2
    this.resendAt = this.now + half
    if (!this.inViewChange && this.now - this.leaderSeenAt < half) return // the leader is proposing: it has them
    const again: BodyTx[] = []
    for (const p of this.queue.values()) {
      if (p.since > this.now - half || again.length >= (this.cfg.maxBatch ?? 500)) break
      again.push(p.tx)
    }
    for (const m of this.requestMessages(again)) this.send(this.inViewChange ? null : this.leader, m)
  }

  /** REQUEST messages (signed by us) carrying `txs`, as few as the limits allow. */
  private requestMessages (txs: readonly BodyTx[]): Uint8Array[] {
    return requestBodies(txs).map((b) => signMessage(requestCodec, b, this.cfg.key).bytes)
  }

  private onRequest (m: RequestMsg): void {
    for (const bt of requestTxs(m)) this.admit(bt)
  }

  // ------------------------------------------------------------ normal case

  private prevOf (seq: number): { digest: Uint8Array, gtime: number | null } | null {
    const p = seq - 1
    if (p === this.executedSeq) return { digest: this.executedDigest, gtime: this.executedGtime }
    if (p === this.stableSeq) return { digest: this.stableDigest, gtime: null }
    const s = this.slots.get(p)
    if (s?.pp !== undefined) return { digest: s.pp.body.digest, gtime: s.pp.body.block.header.gtime }
    return null
  }

  private tryPropose (): void {
    if (!this.isLeader || this.inViewChange || this.queue.size === 0) return
    const delay = this.cfg.batchDelayMs ?? 5
    const maxBatch = this.cfg.maxBatch ?? 500
    const limit = Math.min(this.stableSeq + this.L, this.viewEnd)
    while (this.nextSeq <= limit && this.nextSeq - this.executedSeq <= (this.cfg.maxInFlight ?? this.L)) {
      const prev = this.prevOf(this.nextSeq)
      if (prev === null) return
      const first = this.queue.values().next()
      if (first.done === true) return
      const busy = this.nextSeq - 1 > this.executedSeq
      if (this.queue.size < maxBatch && busy && this.now < first.value.since + delay) return
      const batch: BodyTx[] = []
      let size = 16
      // Registry records in flight or in this batch change what is valid after them: re-check those txs in order (left queued if invalid now).
      // So do charges: a tx whose account the Dblocks in flight and this batch exhaust waits too (dropped once they execute).
      const records = this.recordsBefore(this.nextSeq)
      const drawn = new Map<string, number>()
      for (const p of this.queue.values()) {
        const add = bodyEntryBytes(p.tx.bytes.length)
        if (size + add > MAX_BLOCK_BODY_BYTES) break
        const account = this.cfg.costOf?.(p.tx) ?? null
        if ((records.length > 0 || changesRegistry(p.tx.tx.kind) || account !== null) &&
          (this.cfg.validate?.(p.tx, records, account === null ? 0 : this.spentAhead(account, -1) + (drawn.get(account) ?? 0)) ?? null) !== null) continue
        if (account !== null) drawn.set(account, (drawn.get(account) ?? 0) + 1)
        if (changesRegistry(p.tx.tx.kind)) records.push(p.tx)
        size += add
        batch.push(p.tx)
        if (batch.length >= maxBatch) break
      }
      if (batch.length === 0) return
      // As dblockProposal, reusing each tx's canonical bytes and id.
      const block: Dblock = {
        header: {
          version: DBLOCK_VERSION,
          index: this.nextSeq,
          gtime: Math.max(prev.gtime ?? 0, Math.floor(this.now / 1000)),
          prehash: prev.digest,
          diagroot: merkleRoot(batch.map((t) => t.id)),
          view: this.view,
          leader: this.id
        },
        txs: batch,
        cert: []
      }
      this.nextSeq++
      this.broadcast(signMessage(prePrepareCodec, prePrepareBody(this.view, block), this.cfg.key))
    }
  }

  /** Why a leader's fresh proposal is invalid, or null. */
  private checkProposal (m: PrePrepareMsg): string | null {
    const b = m.body.block
    if (b.header.view !== m.body.view || !equalBytes(b.header.leader, m.replica)) return 'header view/leader differ from the pre-prepare'
    if (b.header.index > this.viewEnd) return 'beyond the leader\'s period'
    if (b.txs.length === 0) return 'empty Dblock'
    try { checkDblockStructure(b) } catch (err) { return (err as Error).message }
    const prev = this.prevOf(m.body.seq)
    if (prev !== null) {
      if (!equalBytes(prev.digest, b.header.prehash)) return 'prehash does not extend the chain'
      if (prev.gtime !== null && b.header.gtime < prev.gtime) return 'gtime goes backwards'
    }
    const records = this.recordsBefore(m.body.seq)
    const drawn = new Map<string, number>()
    for (const t of b.txs) {
      const id = hex(t.id)
      if (this.isCommitted(t.id, id)) return `tx ${id} already committed`
      if (this.inflight.has(id)) return `tx ${id} already proposed`
      const account = this.cfg.costOf?.(t) ?? null
      const spent = account === null ? 0 : this.spentAhead(account, m.body.seq) + (drawn.get(account) ?? 0)
      if (account !== null) drawn.set(account, (drawn.get(account) ?? 0) + 1)
      const reason = this.cfg.validate?.(t, records, spent) ?? null
      if (reason !== null) return `tx ${id}: ${reason}`
      if (changesRegistry(t.tx.kind)) records.push(t)
    }
    return null
  }

  /** Registry records of the proposed, not yet executed Dblocks below `seq`, in order. */
  private recordsBefore (seq: number): BodyTx[] {
    const seqs: number[] = []
    for (const [k, sl] of this.slots) if (k > this.executedSeq && k < seq && sl.pp !== undefined && recordsOf(sl.pp.body.block).length > 0) seqs.push(k)
    return seqs.sort((a, b) => a - b).flatMap((k) => recordsOf(this.slots.get(k)!.pp!.body.block))
  }

  /**
   * After a Dblock with registry records executed (`accounts` null), or one
   * drawing on `accounts`: pending txs it made invalid are dropped, and their
   * submitters told why (each counted after the earlier ones that stay).
   */
  private revalidatePending (accounts: ReadonlyMap<string, number> | null): void {
    const records = this.recordsBefore(Infinity)
    const drawn = new Map<string, number>()
    const ids = accounts === null ? [...this.pending.keys()] : [...accounts.keys()].flatMap((a) => [...this.pendingByAccount.get(a) ?? []])
    for (const id of ids) {
      const p = this.pending.get(id)
      if (p === undefined || this.inflight.has(id)) continue
      const account = this.cfg.costOf?.(p.tx) ?? null
      const spent = account === null ? 0 : this.spentAhead(account, -1) + (drawn.get(account) ?? 0)
      const reason = this.cfg.validate?.(p.tx, records, spent) ?? null
      if (reason === null) { if (account !== null) drawn.set(account, (drawn.get(account) ?? 0) + 1); continue }
      this.dropPending(id)
      this.out.push({ type: 'reject', tx: p.tx, reason })
    }
  }

  private onPrePrepare (m: PrePrepareMsg, fromNewView: boolean): void {
    if (!fromNewView && !this.gateView(m)) return
    if (!fromNewView && this.lastNV?.body.view === m.body.view && this.nvDigests.get(m.body.seq) === hex(m.body.digest)) fromNewView = true
    if (fromNewView && !this.inWindow(m.body.seq)) return
    if (!equalBytes(m.replica, this.leaderOf(m.body.view))) return
    const s = this.slot(m.body.seq)
    if (s.pp !== undefined) {
      // A second, different proposal for (v, n) from the leader: equivocation.
      if (!equalBytes(s.pp.body.digest, m.body.digest)) this.startViewChange(this.view + 1)
      return
    }
    if (!fromNewView && !equalBytes(m.replica, this.id)) {
      const reason = this.checkProposal(m)
      if (reason !== null) { this.startViewChange(this.view + 1); return }
    }
    s.pp = m
    if (this.cfg.costOf !== undefined) s.costs = this.costsOf(m.body.block.txs)
    this.leaderSeenAt = this.now
    this.persist(m)
    for (const t of m.body.block.txs) { const id = hex(t.id); this.inflight.add(id); this.queue.delete(id) }
    if (m.body.seq >= this.nextSeq) this.nextSeq = m.body.seq + 1
    this.armTimer(false)
    this.checkDecided(m.body.seq)
    if (!this.isLeader) {
      this.broadcast(signMessage(prepareCodec, { view: this.view, seq: m.body.seq, digest: m.body.digest }, this.cfg.key))
    } else {
      this.checkPrepared(m.body.seq)
    }
  }

  private onPrepare (m: PrepareMsg): void {
    if (!this.gateView(m)) return
    if (equalBytes(m.replica, this.leader)) return
    const s = this.slot(m.body.seq)
    const k = hex(m.replica)
    if (s.prepares.has(k)) return
    s.prepares.set(k, m)
    this.persist(m)
    this.checkPrepared(m.body.seq)
  }

  private checkPrepared (seq: number): void {
    const s = this.slots.get(seq)
    if (s?.pp === undefined) return
    if (!s.prepared) {
      const matching = [...s.prepares.values()].filter((p) => equalBytes(p.body.digest, s.pp!.body.digest))
      if (matching.length < 2 * this.f) return
      s.prepared = true
      this.prepCerts.set(seq, { view: this.view, pp: s.pp, prepares: matching.slice(0, 2 * this.f) })
    }
    this.trySendCommits(seq)
  }

  private predecessorOk (seq: number, prehash: Uint8Array): boolean {
    const p = seq - 1
    if (p === this.executedSeq) return equalBytes(this.executedDigest, prehash)
    if (p === this.stableSeq) return equalBytes(this.stableDigest, prehash)
    if (p < this.executedSeq) return this.execDigests.get(p) === hex(prehash)
    const s = this.slots.get(p)
    return s?.pp !== undefined && s.sentCommit && equalBytes(s.pp.body.digest, prehash)
  }

  /** Commit for seq and, in order, for any later slot that waited on it. */
  private trySendCommits (seq: number): void {
    for (let n = seq; ; n++) {
      const s = this.slots.get(n)
      if (s?.pp === undefined || !s.prepared) return
      if (!s.sentCommit) {
        if (this.inViewChange || !this.predecessorOk(n, s.pp.body.block.header.prehash)) return
        s.sentCommit = true
        this.broadcast(signMessage(commitCodec, { view: this.view, seq: n, digest: s.pp.body.digest }, this.cfg.key))
      }
    }
  }

  private onCommit (m: CommitMsg): void {
    this.recordVote(m)
    if (!this.gateView(m)) return
    const s = this.slot(m.body.seq)
    const k = hex(m.replica)
    if (s.commits.has(k)) return
    s.commits.set(k, m)
    this.persist(m)
    this.checkCommitted(m.body.seq)
  }

  private checkCommitted (seq: number): void {
    const s = this.slots.get(seq)
    if (s?.pp === undefined || !s.sentCommit || s.committed) return
    let count = 0
    for (const c of s.commits.values()) if (equalBytes(c.body.digest, s.pp.body.digest)) count++
    if (count < this.quorum) return
    s.committed = true
    this.decided.set(seq, { block: s.pp.body.block, digest: s.pp.body.digest, cert: this.certOf([...s.commits.values()].filter((c) => equalBytes(c.body.digest, s.pp!.body.digest))) })
    this.tryExecute()
  }

  /**
   * Commits of any view count towards a decision: 2f+1 commits for (v, n, d)
   * mean committed(m, v, n) (Castro–Liskov §4.2) whatever view we are in now,
   * so a replica stuck in a view change can still execute what was decided.
   */
  private recordVote (m: CommitMsg): void {
    const { seq, view } = m.body
    // Bounded: the watermark window, and views at most a few ahead (a Byzantine member's votes for far views are dropped).
    if (seq <= this.executedSeq || seq > this.executedSeq + this.L || this.decided.has(seq) || view > this.view + VIEWS_AHEAD) return
    let bySeq = this.votes.get(seq)
    if (bySeq === undefined) { bySeq = new Map(); this.votes.set(seq, bySeq) }
    const k = hex(m.replica)
    const had = bySeq.get(k)
    if (had !== undefined && had.body.view >= view) return
    bySeq.set(k, m)
    this.checkDecided(seq)
  }

  private checkDecided (seq: number): void {
    const bySeq = this.votes.get(seq)
    if (bySeq === undefined || this.decided.has(seq) || seq <= this.executedSeq) return
    const groups = new Map<string, CommitMsg[]>()
    for (const c of bySeq.values()) {
      const k = `${c.body.view}:${hex(c.body.digest)}`
      const g = groups.get(k)
      if (g === undefined) groups.set(k, [c])
      else g.push(c)
    }
    for (const [k, signers] of groups) {
      if (signers.length < this.quorum) continue
      const d = k.slice(k.indexOf(':') + 1)
      const pp = [this.slots.get(seq)?.pp, this.prepCerts.get(seq)?.pp].find((x) => x !== undefined && hex(x.body.digest) === d)
      if (pp === undefined) return
      this.decided.set(seq, { block: pp.body.block, digest: pp.body.digest, cert: this.certOf(signers) })
      this.tryExecute()
      return
    }
  }

  private tryExecute (): void {
    for (;;) {
      const d = this.decided.get(this.executedSeq + 1)
      if (d === undefined || !equalBytes(d.block.header.prehash, this.executedDigest)) break
      this.execute({ ...d.block, cert: d.cert }, d.digest)
    }
    this.tryPropose()
  }

  /** The certificate of a decision: its 2f+1 commits (one view, one digest), in member order. */
  private certOf (commits: readonly CommitMsg[]): CommitSignature[] {
    return [...commits].sort((a, b) => this.memberIndex.get(hex(a.replica))! - this.memberIndex.get(hex(b.replica))!)
      .slice(0, this.quorum).map((c) => ({ replica: c.replica, view: c.body.view, sig: c.sig }))
  }

  /** Executes a decided or fetched Dblock, `block.cert` its certificate: the host stores it and answers doctors. */
  private execute (block: Dblock, digest: Uint8Array): void {
    const seq = block.header.index
    this.executedSeq = seq
    this.executedDigest = digest
    this.execDigests.set(seq, hex(digest))
    this.decided.delete(seq)
    this.votes.delete(seq)
    this.executedGtime = block.header.gtime
    const ids: string[] = []
    for (const t of block.txs) {
      const id = hex(t.id)
      ids.push(id)
      this.committedTx.add(id)
      this.dropPending(id)
      this.inflight.delete(id)
    }
    if (this.cfg.isCommitted !== undefined) this.committedAt.set(seq, ids)
    this.cfg.onExecute?.(block)
    if (recordsOf(block).length > 0) this.revalidatePending(null)
    else if (this.cfg.costOf !== undefined) { const drawn = this.costsOf(block.txs); if (drawn.size > 0) this.revalidatePending(drawn) }
    this.out.push({ type: 'commit', block })
    this.idleViews = 0
    this.armTimer(true)
    if (seq % this.K === 0) this.broadcast(signMessage(checkpointCodec, { seq, digest }, this.cfg.key))
    if (seq === this.viewEnd && !this.inViewChange) this.startViewChange(this.view + 1)
  }

  // ------------------------------------------------------------ checkpoints and GC

  private onCheckpoint (m: CheckpointMsg): void {
    const { seq, digest } = m.body
    if (seq <= this.stableSeq || seq % this.K !== 0) return
    this.noteHint(seq)
    if (seq > this.stableSeq + 4 * this.L) return
    let c = this.checkpoints.get(seq)
    if (c === undefined) { c = new Map(); this.checkpoints.set(seq, c) }
    const k = hex(m.replica)
    if (c.has(k)) return
    c.set(k, m)
    this.persist(m)
    const matching = [...c.values()].filter((x) => equalBytes(x.body.digest, digest))
    if (matching.length >= this.quorum) this.makeStable(seq, digest, matching.slice(0, this.quorum))
  }

  private makeStable (seq: number, digest: Uint8Array, proof: CheckpointMsg[]): void {
    if (seq <= this.stableSeq) return
    this.stableSeq = seq
    this.stableDigest = digest
    this.stableProof = proof
    for (const k of [...this.slots.keys()]) if (k <= seq) this.slots.delete(k)
    for (const k of [...this.prepCerts.keys()]) if (k <= seq) this.prepCerts.delete(k)
    for (const k of [...this.checkpoints.keys()]) if (k <= seq) this.checkpoints.delete(k)
    for (const k of [...this.execDigests.keys()]) if (k < seq) this.execDigests.delete(k)
    for (const k of [...this.decided.keys()]) if (k <= seq) this.decided.delete(k)
    for (const k of [...this.votes.keys()]) if (k <= seq) this.votes.delete(k)
    if (this.cfg.isCommitted !== undefined) {
      // The host's store answers for these from now on (it persisted them long before: a window ago).
      if (this.restoredTx) { this.committedTx = new Set([...this.committedAt.values()].flat()); this.restoredTx = false }
      for (const [k, ids] of this.committedAt) if (k <= seq - this.L) { this.committedAt.delete(k); for (const id of ids) this.committedTx.delete(id) }
    }
    if (this.executedSeq < seq) {
      this.noteHint(seq)
      this.inflight = new Set([...this.slots.values()].flatMap((s) => s.pp?.body.block.txs.map((t) => hex(t.id)) ?? []))
      this.rebuildQueue()
    }
    this.compact()
    this.tryPropose()
  }

  // ------------------------------------------------------------ state transfer

  private requestFetch (): void {
    this.fetchAt = this.now + (this.cfg.fetchTimeoutMs ?? 500)
    for (let i = 0; i < this.n; i++) {
      const peer = this.cfg.members[this.fetchPeer++ % this.n]!
      if (equalBytes(peer, this.id)) continue
      this.send(peer, signMessage(fetchCodec, { from: this.executedSeq + 1 }, this.cfg.key).bytes)
      return
    }
  }

  private onFetch (m: FetchMsg): void {
    if (equalBytes(m.replica, this.id) || m.body.from > this.executedSeq) return
    this.out.push({ type: 'serve', to: m.replica, from: m.body.from })
  }

  private onStatus (m: StatusMsg): void {
    this.noteHint(m.body.height)
    this.noteView(m.replica, m.body.view)
  }

  /**
   * View synchronisation: when f+1 replicas (so at least one correct) are seen
   * in views above ours, we missed a view change — move to the highest view
   * that f+1 of them reached. Our view-change message makes that view's
   * leader resend its new-view (onViewChange), so we rejoin.
   */
  private noteView (replica: Uint8Array, view: number): void {
    if (view <= this.view) return
    const k = hex(replica)
    if ((this.ahead.get(k) ?? -1) >= view) return
    this.ahead.set(k, view)
    const views = [...this.ahead.values()].filter((v) => v > this.view).sort((a, b) => b - a)
    if (views.length < this.f + 1) return
    this.ahead.clear()
    this.startViewChange(views[this.f]!)
  }

  /** Certified Dblocks from a peer: each must carry 2f+1 signatures and extend our chain. */
  private onBlocks (m: BlocksMsg): void {
    let progressed = false
    for (const bytes of m.body.blocks) {
      let b: Dblock
      try {
        b = decodeDblock(bytes)
        if (b.header.index <= this.executedSeq) continue
        if (b.header.index !== this.executedSeq + 1) break
        verifyCertificate(b, this.cfg.members, verifyCached)
        checkDblockStructure(b)
      } catch { break }
      const digest = dblockHash(b.header)
      if (!equalBytes(b.header.prehash, this.executedDigest)) break
      this.execute(b, digest)
      progressed = true
    }
    if (progressed) {
      this.fetchAt = this.now // ask for more at the next tick if still behind
      this.tryExecute()
    }
  }

  // ------------------------------------------------------------ view change

  private vcMap (view: number): Map<string, ParsedVC> {
    let m = this.vcs.get(view)
    if (m === undefined) { m = new Map(); this.vcs.set(view, m) }
    return m
  }

  private startViewChange (view: number): void {
    if (view <= this.view) return
    this.view = view
    this.inViewChange = true
    this.viewTimer = null
    this.vcDeadline = null
    this.slots = new Map()
    this.inflight = new Set()
    this.rebuildQueue()
    this.nvDigests = new Map()
    this.future = this.future.filter((m) => m.body.view >= this.view)
    for (const v of [...this.vcs.keys()]) if (v < this.view) this.vcs.delete(v)
    const prepared = [...this.prepCerts].filter(([seq]) => seq > this.stableSeq).sort((a, b) => a[0] - b[0])
      .map(([, c]) => ({ prePrepare: c.pp.bytes, prepares: c.prepares.map((p) => p.bytes) }))
    const vc = signMessage(viewChangeCodec, {
      view: this.view,
      stableSeq: this.stableSeq,
      stableDigest: this.stableDigest,
      checkpoints: this.stableProof.map((c) => c.bytes),
      prepared
    }, this.cfg.key)
    if (this.ownVC !== null) {
      this.oldVCs.set(this.ownVC.body.view, this.ownVC)
      for (const v of [...this.oldVCs.keys()]) if (v < view - 4) this.oldVCs.delete(v)
    }
    this.ownVC = vc
    this.vcResendAt = this.now + this.vcTimeout
    this.compact()
    this.broadcast(vc)
  }

  /** Validates a view-change and its proofs; null when invalid. */
  private parseVC (m: ViewChangeMsg): ParsedVC | null {
    const b = m.body
    if (b.stableSeq === 0) {
      if (!equalBytes(b.stableDigest, this.genesisHash) || b.checkpoints.length !== 0) return null
    } else {
      if (b.stableSeq % this.K !== 0) return null
      const signers = new Set<string>()
      for (const cb of b.checkpoints) {
        let c: PbftMessage
        try { c = decodeMessage(cb) } catch { return null }
        if (c.kind !== 'checkpoint' || c.body.seq !== b.stableSeq || !equalBytes(c.body.digest, b.stableDigest)) return null
        if (!this.isMember(c.replica) || !verifySigned(c)) return null
        signers.add(hex(c.replica))
      }
      if (signers.size < this.quorum) return null
    }
    const prepared = new Map<number, PrePrepareMsg & { prepView: number }>()
    for (const p of b.prepared) {
      let pp: PbftMessage
      try { pp = decodeMessage(p.prePrepare) } catch { return null }
      if (pp.kind !== 'pre-prepare') return null
      const { view, seq, digest } = pp.body
      if (view >= b.view || seq <= b.stableSeq || seq > b.stableSeq + this.L || prepared.has(seq)) return null
      const leader = this.leaderOf(view)
      if (!equalBytes(pp.replica, leader) || !verifySigned(pp)) return null
      const signers = new Set<string>()
      for (const qb of p.prepares) {
        let q: PbftMessage
        try { q = decodeMessage(qb) } catch { return null }
        if (q.kind !== 'prepare' || q.body.view !== view || q.body.seq !== seq || !equalBytes(q.body.digest, digest)) return null
        if (!this.isMember(q.replica) || equalBytes(q.replica, leader) || !verifySigned(q)) return null
        signers.add(hex(q.replica))
      }
      if (signers.size < 2 * this.f) return null
      prepared.set(seq, Object.assign(pp, { prepView: view }))
    }
    return { msg: m, stableSeq: b.stableSeq, stableDigest: b.stableDigest, proof: b.checkpoints, prepared }
  }

  private onViewChange (m: ViewChangeMsg): void {
    const w = m.body.view
    const sender = hex(m.replica)
    if (w < this.view || (w === this.view && !this.inViewChange)) {
      // Answer a laggard at most once per view-change timeout (and never each other forever).
      if (sender === this.idHex || (this.answeredAt.get(sender) ?? -Infinity) > this.now - this.vcTimeout) return
      this.answeredAt.set(sender, this.now)
      // The sender missed the new-view of a view we are in: the leader resends it.
      if (!this.inViewChange && this.isLeader && this.lastNV !== null && this.lastNV.body.view === this.view) {
        this.send(m.replica, this.lastNV.bytes)
      }
      // It is still collecting view-changes for a view we already gave up on:
      // our own for that view may have been lost, so send it again.
      const old = this.oldVCs.get(w)
      if (old !== undefined) this.send(m.replica, old.bytes)
      return
    }
    const vm = this.vcMap(w)
    if (vm.has(sender)) return
    if (w > this.view + 4 * this.n) return
    const parsed = this.parseVC(m)
    if (parsed === null) return
    vm.set(sender, parsed)
    this.noteHint(m.body.stableSeq)
    if (sender === this.idHex) return this.afterVC(w)
    if (w > this.view && !this.inViewChange && m.body.stableSeq < this.executedSeq) {
      this.out.push({ type: 'serve', to: m.replica, from: m.body.stableSeq + 1 })
    }
    // f+1 replicas want a later view: join the smallest of them (Castro–Liskov §4.5.2).
    if (w > this.view) {
      const later = [...this.vcs].filter(([v]) => v > this.view)
      const senders = new Set(later.flatMap(([, s]) => [...s.keys()]))
      if (senders.size >= this.f + 1) {
        this.startViewChange(Math.min(...later.map(([v]) => v)))
        return
      }
    }
    this.afterVC(w)
  }

  private afterVC (w: number): void {
    if (!this.inViewChange || w !== this.view) return
    const vm = this.vcMap(w)
    if (vm.size < this.quorum) return
    if (this.vcDeadline === null) this.vcDeadline = this.now + this.vcTimeout
    if (this.isLeader && this.ownVC?.body.view === w && (this.lastNV === null || this.lastNV.body.view < w)) this.sendNewView(w)
  }

  /** The deterministic new-view choice from 2f+1 view-changes (see the header comment). */
  selectNewView (vcs: readonly ParsedVC[]): NewViewSelection {
    let best = vcs[0]!
    for (const v of vcs) if (v.stableSeq > best.stableSeq) best = v
    const chain: Array<{ seq: number, block: Dblock, digest: Uint8Array }> = []
    let prev = best.stableDigest
    for (let seq = best.stableSeq + 1; seq <= best.stableSeq + this.L; seq++) {
      let pick: (PrePrepareMsg & { prepView: number }) | null = null
      for (const v of vcs) {
        const c = v.prepared.get(seq)
        if (c === undefined || !equalBytes(c.body.block.header.prehash, prev)) continue
        if (pick === null || c.prepView > pick.prepView) pick = c
      }
      if (pick === null) break
      chain.push({ seq, block: pick.body.block, digest: pick.body.digest })
      prev = pick.body.digest
    }
    return { h: best.stableSeq, hDigest: best.stableDigest, proof: best.proof, chain }
  }

  private sendNewView (w: number): void {
    const vcs = [...this.vcMap(w).values()]
      .sort((a, b) => this.memberIndex.get(hex(a.msg.replica))! - this.memberIndex.get(hex(b.msg.replica))!)
      .slice(0, this.quorum)
    const sel = this.selectNewView(vcs)
    const pps = sel.chain.map((c) => signMessage(prePrepareCodec, { view: w, seq: c.seq, block: c.block, digest: c.digest }, this.cfg.key).bytes)
    this.broadcast(signMessage(newViewCodec, { view: w, viewChanges: vcs.map((v) => v.msg.bytes), prePrepares: pps }, this.cfg.key))
  }

  private onNewView (m: NewViewMsg): void {
    const w = m.body.view
    if (w < this.view || (w === this.view && !this.inViewChange)) return
    if (!equalBytes(m.replica, this.leaderOf(w))) return
    const parsed: ParsedVC[] = []
    const seen = new Set<string>()
    for (const b of m.body.viewChanges) {
      let vc: PbftMessage
      try { vc = decodeMessage(b) } catch { return }
      if (vc.kind !== 'view-change' || vc.body.view !== w || !this.isMember(vc.replica) || !verifySigned(vc)) return
      const k = hex(vc.replica)
      if (seen.has(k)) return
      seen.add(k)
      const p = this.parseVC(vc)
      if (p === null) return
      parsed.push(p)
    }
    if (parsed.length < this.quorum) return
    const sel = this.selectNewView(parsed)
    if (m.body.prePrepares.length !== sel.chain.length) return
    const pps: PrePrepareMsg[] = []
    for (let i = 0; i < sel.chain.length; i++) {
      let pp: PbftMessage
      try { pp = decodeMessage(m.body.prePrepares[i]!) } catch { return }
      if (pp.kind !== 'pre-prepare' || pp.body.view !== w || pp.body.seq !== sel.chain[i]!.seq) return
      if (!equalBytes(pp.body.digest, sel.chain[i]!.digest) || !equalBytes(pp.replica, m.replica) || !verifySigned(pp)) return
      pps.push(pp)
    }
    // Accept: enter view w.
    this.view = w
    this.inViewChange = false
    this.vcDeadline = null
    this.vcAttempts = 0
    this.lastNV = m
    this.slots = new Map()
    this.inflight = new Set()
    this.rebuildQueue()
    for (const v of [...this.vcs.keys()]) if (v < w) this.vcs.delete(v)
    if (sel.h > this.stableSeq) {
      const proof = sel.proof.map((b) => decodeMessage(b) as CheckpointMsg)
      this.makeStable(sel.h, sel.hDigest, proof)
    }
    this.viewStart = Math.max(sel.h, sel.chain.at(-1)?.seq ?? 0, this.executedSeq)
    this.nextSeq = this.viewStart + 1
    this.viewTimer = null
    this.armTimer(true)
    this.nvDigests = new Map(pps.map((p) => [p.body.seq, hex(p.body.digest)]))
    this.compact()
    this.out.push({ type: 'view', view: w, leader: this.leaderOf(w) })
    for (const pp of pps) this.onPrePrepare(pp, true)
    const buffered = this.future.filter((x) => x.body.view === w)
    this.future = this.future.filter((x) => x.body.view > w)
    for (const x of buffered) this.handle(x)
    this.tryPropose()
  }
}

/** The persisted state of a replica that has never compacted its log. */
export function emptySnapshot (genesis: Dblock): ReplicaSnapshot {
  return {
    view: 0, inViewChange: false, viewStart: 0, stableProof: [], stableSeq: 0, stableDigest: dblockHash(genesis.header),
    prepared: [], ownViewChange: null, newView: null, messages: []
  }
}
