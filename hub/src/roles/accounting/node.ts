/**
 * Accounting node (paper §III-A, §IV-B2, §IV-B3, Fig. 5): runs the PBFT
 * replica of core/pbft/replica.ts over a PbftTransport, validates every
 * tx_diag it is handed (validate.ts), persists its Docchain and PBFT log in
 * LevelDB (store/pbft-log.ts) BEFORE sending the messages of each step, and
 * answers the submitting doctor once the tx_diag is committed, with the
 * Dblock and its certificate, or with the reason it was rejected.
 *
 * The doctor registry is genesis + the TxReg of its Docchain (folded at start
 * by registryFromDocchain, then each executed Dblock by applyDblock), so it
 * is the one every reader of the same Docchain derives; consortium members
 * submit TxReg like a tx_diag.
 *
 * Emergency access (README "Emergency access"): a tx_emergency is admitted
 * like a tx_diag (the doctor's role from the registry, the escrow of each
 * epoch from Userchain); once one is executed, this node opens its escrow
 * share of each requested epoch and submits a tx_release resealing them to
 * the doctor (core tx/release.ts) — at start too, for a committed request it
 * has not released yet.
 *
 * All inputs (messages, submissions, ticks) go through one serial pump, so
 * the pure replica sees them one at a time, with the time read from the
 * injected clock; the actions of everything queued meanwhile are persisted
 * in one LevelDB batch (group commit) before any is sent. New work (REQUESTs,
 * doctors' submissions: a signature and Userchain check each) waits behind
 * the ordering of what is already proposed (every other PBFT message, ticks):
 * with thousands of requests queued, a pre-prepare behind them waited for all
 * their checks, the first Dblock took over the request timeout and the
 * backups changed view (the replica tolerates reordering; each queue keeps
 * its own order).
 */
import { randomBytes } from 'node:crypto'
import {
  buildTxRelease, changesRegistry, equalBytes, fromHex, toHex, txId, bodyTx, verifyTx,
  type Dblock, type DocTx, type HealthchainError, type Identity, type TxDiag, type BodyTx, type TxEmergency, type TxKey
} from '../../core/index.ts'
import { Replica, type Action, type ReplicaConfig } from '../../core/pbft/replica.ts'
import { decodeMessage, type PbftMessage } from '../../core/pbft/messages.ts'
import { requestTxs } from '../../core/pbft/request.ts'
import { registryFromDocchain, type DoctorRegistry } from '../../core/pbft/registry.ts'
import { PbftLog } from '../../store/pbft-log.ts'
import type { PbftTransport } from './transport.ts'
import {
  checkCredit, checkDiagChain, checkDiagSync, checkDoctor, checkEmergency, checkEmergencyChain, checkRecord, checkRelease, checkWithdrawal, parseDocTx, type PaymentLookup, type UserchainLookup
} from './validate.ts'
import { DiagRejectedError, DiagSignatureError } from './errors.ts'

export type DiagReceipt =
  | { readonly ok: true, readonly id: string, readonly height: number, readonly block: Dblock }
  | { readonly ok: false, readonly id: string, readonly code: string, readonly reason: string }

export interface AccountingOptions {
  readonly identity: Identity
  readonly members: readonly Uint8Array[]
  readonly genesis: Dblock
  /** LevelDB directory of this node's Docchain and PBFT log. */
  readonly dir: string
  readonly transport: PbftTransport
  /** The registry at genesis (consortium, genesis doctors); not modified — the node keeps its own, folded from its Docchain. */
  readonly registry: DoctorRegistry
  readonly userchain: UserchainLookup
  readonly payments: PaymentLookup
  readonly replica?: Partial<Omit<ReplicaConfig, 'key' | 'members' | 'genesis' | 'validate'>>
  readonly tickMs?: number
  readonly now?: () => number
  /** Blocks per state-transfer answer. */
  readonly serveLimit?: number
  /** Randomness for the HPKE ephemeral keys of this node's releases (default node:crypto). */
  readonly rng?: (n: number) => Uint8Array
  /** Where this node says what it released (default: console). */
  readonly log?: (line: string) => void
}

const MAX_VERDICTS = 200_000
/** Inputs handled (and persisted) together in one group commit. */
const MAX_GROUP = 256

interface Job {
  /** Async preparation (Userchain checks) before the replica sees the input. */
  readonly prepare?: () => Promise<void>
  /** The preparation threw (e.g. Userchain unreadable): the input is not run; a submission is answered with this. */
  readonly failed?: (err: Error) => void
  /** The synchronous replica step. */
  readonly run?: () => Action[]
  /**
   * Or a doctor's submission: its tx goes to the replica with the other
   * submissions of the group, so they are forwarded as one REQUEST (unless
   * its check refused it: `refused()`); `admitted` gets the replica's verdict.
   */
  readonly submission?: { readonly tx: BodyTx, readonly refused: () => boolean, readonly admitted: (reason: string | null) => void }
  /** After its actions are persisted and sent. */
  readonly after?: () => Promise<void>
}

export class AccountingNode {
  readonly id: Uint8Array
  private readonly opts: AccountingOptions
  private readonly log: PbftLog
  private readonly replica: Replica
  private readonly now: () => number
  /** New work: requests and submissions. */
  private inbox: Job[] = []
  /** Work on what is being ordered (pre-prepares, votes, checkpoints, view changes, state transfer) and ticks: first. */
  private ordering: Job[] = []
  private pumping: Promise<void> | null = null
  private timer: NodeJS.Timeout | null = null
  private batchTimer: NodeJS.Timeout | null = null
  private stopped = false
  /**
   * Per tx_diag id: the user it is charged to when valid, else why not
   * (signature and Userchain checks; the registry and the credit are weighed
   * at each use).
   */
  private readonly verdicts = new Map<string, { readonly user: string, readonly userId: Uint8Array } | HealthchainError>()
  /** Per user (hex): Healthcoin prepaid, as last read from Userchain. */
  private readonly paid = new Map<string, number>()
  /** Per user (hex): diagnoses on this node's Docchain (executed Dblocks). */
  private readonly charged = new Map<string, number>()
  /** tx_diag executed before this node knew their user (fetched Dblocks): charged at the next pump. */
  private unresolved: TxDiag[] = []
  /** Per tx id: the code of the last reason verdictOf refused it with (the replica passes reasons on as text). */
  private readonly refusals = new Map<string, string>()
  /** Genesis + the registry records of every executed Dblock. */
  private registryNow: DoctorRegistry
  /** The registry after the last set of in-flight records asked about (key: registry seq and record ids). */
  private overlay: { key: string, registry: DoctorRegistry } | null = null
  private readonly waiters = new Map<string, Array<(r: DiagReceipt) => void>>()
  /** Every certified Dblock this node stored (for observers: tests, CLI). */
  onCommit: ((block: Dblock) => void) | null = null

  private constructor (opts: AccountingOptions, log: PbftLog) {
    this.opts = opts
    this.id = opts.identity.id
    this.log = log
    this.now = opts.now ?? Date.now
    this.registryNow = opts.registry.clone()
    this.replica = new Replica({
      ...opts.replica,
      key: opts.identity.signing,
      members: opts.members,
      genesis: opts.genesis,
      validate: (t, before, spent) => this.verdictOf(t, before, spent),
      costOf: (t) => this.userOf(t),
      isCommitted: (id) => this.log.hasTx(id),
      onExecute: (b) => {
        const applied = this.registryNow.applyDblock(b)
        if (applied.length > 0) this.overlay = null
        for (const tx of applied) if (tx.kind === 'emergency') this.scheduleRelease(toHex(txId(tx)))
        this.charge(b)
      }
    })
  }

  /** Opens the store, restores the replica from it, joins the transport and starts ticking. */
  static async start (opts: AccountingOptions): Promise<AccountingNode> {
    const log = await PbftLog.open(opts.dir, opts.genesis)
    const node = new AccountingNode(opts, log)
    const state = await log.load()
    node.registryNow = await registryFromDocchain(opts.registry, state.tip.header.index, async (h) => await log.block(h))
    // the diagnoses already on Docchain consume their users' credit (paper §IV-B4)
    for (let h = 1; h <= state.tip.header.index; h++) { const b = await log.block(h); if (b !== undefined) node.charge(b) }
    await node.resolveCharges()
    node.replica.loadChain(state.tip, []) // the ids of committed txs: read from the store when asked (isCommitted)
    // Pre-validate what the persisted log will replay, so restore sees the same verdicts.
    for (const b of [...state.snapshot.messages, ...state.appended]) { const m = decodedOrNull(b); if (m !== null) await node.prevalidate(m) }
    await node.handle(node.replica.restore(state.snapshot, state.appended, node.now()))
    // committed emergency requests this node has not released its shares for (it was down, or stopped before)
    for (const a of node.registryNow.emergencyAccesses()) if (!a.released.includes(toHex(node.id))) node.scheduleRelease(a.id)
    opts.transport.onMessage((bytes) => {
      const m = decodedOrNull(bytes) // once: the checks below and the replica both look into it
      if (m !== null) node.enqueue({ prepare: async () => node.prevalidate(m), run: () => node.replica.receiveMessage(m, node.now()) }, m.kind !== 'request')
    })
    node.timer = setInterval(() => { if (node.queued === 0) node.enqueue({ run: () => node.replica.tick(node.now()) }, true) }, opts.tickMs ?? 10)
    return node
  }

  get view (): number { return this.replica.view }
  get height (): number { return this.log.tipHeight }
  get leader (): Uint8Array { return this.replica.leader }
  /** What the replica holds, in entries (Replica.footprint). */
  footprint (): ReturnType<Replica['footprint']> & { verdicts: number } { return { ...this.replica.footprint(), verdicts: this.verdicts.size } }
  /** The doctor registry as of the last executed Dblock (read only). */
  get registry (): DoctorRegistry { return this.registryNow }

  /**
   * A doctor submits a tx_diag, or a consortium member a registry record
   * (object or canonical bytes). Resolves when it is committed (with its
   * certified Dblock) or rejected (with the reason).
   */
  submit (tx: DocTx | Uint8Array): Promise<DiagReceipt> {
    return new Promise((resolve) => {
      let bt: BodyTx
      try {
        bt = bodyTx(tx instanceof Uint8Array ? parseDocTx(tx) : tx)
      } catch (err) {
        const e = err as HealthchainError
        resolve({ ok: false, id: '', code: e.code ?? 'ERR_MALFORMED_DIAG', reason: e.message })
        return
      }
      const id = toHex(bt.id)
      let verdict: HealthchainError | null = null
      let reason: string | null = null
      this.enqueue({
        prepare: async () => { verdict = await this.check(bt) },
        failed: (err) => { resolve({ ok: false, id, code: 'ERR_CHECK_FAILED', reason: `could not check the tx_diag against Userchain: ${err.message}` }) },
        submission: {
          tx: bt,
          refused: () => verdict !== null,
          admitted: (r) => {
            reason = r
            if (reason === null) {
              const list = this.waiters.get(id) ?? []
              list.push(resolve)
              this.waiters.set(id, list)
            }
          }
        },
        after: async () => {
          const v = verdict as HealthchainError | null
          if (v === null && reason === null) return // the waiter resolves on commit
          // Refused, by the checks or the replica, maybe because it is on Docchain already (a
          // doctor resubmitting what a node that died had committed, whose commit may have
          // consumed the credit the payment check now misses): then the receipt comes with
          // the certified Dblock. Only a refusal pays for this lookup.
          const height = await this.log.txHeight(bt.id)
          if (height !== undefined) resolve({ ok: true, id, height, block: (await this.log.block(height))! })
          else if (v !== null) resolve({ ok: false, id, code: v.code, reason: v.message })
          else resolve({ ok: false, id, code: this.rejectionCode(bt), reason: reason! })
        }
      })
    })
  }

  /** The doctor-side shape (roles/doctor): resolves on commit, throws the typed reason otherwise. */
  async submitOrThrow (tx: TxDiag): Promise<void> {
    const r = await this.submit(tx)
    if (!r.ok) throw new DiagRejectedError(r.reason)
  }

  async block (height: number): Promise<Dblock | undefined> { return this.log.block(height) }

  async stop (): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    if (this.timer !== null) clearInterval(this.timer)
    if (this.batchTimer !== null) clearTimeout(this.batchTimer)
    await this.opts.transport.close()
    this.inbox = []
    this.ordering = []
    await this.pumping
    await this.log.close()
  }

  // ---------------------------------------------------------------- internals

  /**
   * This node's duty once an emergency request is executed: open its escrow
   * share of each requested epoch (the tx_keys from Userchain) and submit a
   * release resealing them to the requesting doctor's registered X25519 key.
   * Skipped when it released already or holds no share (says so); runs off
   * the pump, its release goes through submit like any transaction.
   */
  private scheduleRelease (id: string): void {
    const log = this.opts.log ?? ((l: string) => { console.log(l) })
    const run = async (): Promise<void> => {
      const a = this.registryNow.emergencyAccess(id)
      if (a === undefined || a.released.includes(toHex(this.id)) || this.stopped) return
      const req: TxEmergency = a.request
      // a patient who withdrew consent (core tx/withdrawal.ts): this node opens none of its escrow shares again
      if (this.registryNow.withdrawn(req.patient) !== undefined) { log(`emergency ${id.slice(0, 16)}…: the patient withdrew consent, nothing released`); return }
      const doctorX25519 = this.registryNow.x25519(req.doctor)
      if (doctorX25519 === undefined) { log(`emergency ${id.slice(0, 16)}…: doctor has no registered key, nothing released`); return }
      const keys: TxKey[] = []
      for (const e of req.epochs) {
        const k = await this.opts.userchain.keyTx?.(req.patient, e) ?? null
        if (k === null) { log(`emergency ${id.slice(0, 16)}…: no tx_key of epoch ${e} on this node's Userchain, nothing released`); return }
        keys.push(k)
      }
      const rng = this.opts.rng ?? ((n: number) => new Uint8Array(randomBytes(n)))
      let tx
      try {
        tx = buildTxRelease(this.opts.identity, { ts: Math.floor(this.now() / 1000), request: req, requestId: fromHex('request', id), keys, doctorX25519, ikmE: rng(32) })
      } catch (err) { log(`emergency ${id.slice(0, 16)}…: not released: ${(err as Error).message}`); return }
      const r = await this.submit(tx)
      log(r.ok ? `emergency ${id.slice(0, 16)}…: released shares of epochs ${req.epochs.join(',')} to doctor ${toHex(req.doctor).slice(0, 16)}… (Dblock ${r.height})` : `emergency ${id.slice(0, 16)}…: release refused: ${r.reason}`)
    }
    setImmediate(() => { run().catch((err: Error) => { log(`emergency ${id.slice(0, 16)}…: release failed: ${err.message}`) }) })
  }

  private get queued (): number { return this.inbox.length + this.ordering.length }

  private enqueue (job: Job, ordering = false): void {
    if (this.stopped) return
    if (ordering) this.ordering.push(job)
    else this.inbox.push(job)
    this.pumping ??= this.pump().finally(() => { this.pumping = null })
  }

  /**
   * Group commit: takes every queued input, runs its async checks, feeds them
   * to the replica one by one, then persists all their actions in ONE LevelDB
   * batch before sending any message.
   */
  private async pump (): Promise<void> {
    while (this.queued > 0 && !this.stopped) {
      // At most MAX_GROUP inputs per group, then a turn of the event loop: a
      // backlog of thousands of messages replayed in one synchronous run kept
      // libp2p from answering for seconds, peers' requests timed out and
      // their messages were lost (more retransmissions, more view changes).
      await this.resolveCharges().catch((err: Error) => { console.error('accounting node: charging a fetched Dblock:', err.message) })
      const jobs = this.ordering.splice(0, MAX_GROUP)
      jobs.push(...this.inbox.splice(0, MAX_GROUP - jobs.length))
      try {
        // A check that throws drops its own input only (a PBFT message is as good as lost,
        // which the replica tolerates; a submission is answered): the rest of the group goes on.
        const ready: Job[] = []
        for (const j of jobs) {
          try {
            await j.prepare?.()
            ready.push(j)
          } catch (err) {
            console.error('accounting node: check failed:', (err as Error).message)
            j.failed?.(err as Error)
          }
        }
        const actions: Action[] = []
        const subs: Array<NonNullable<Job['submission']>> = []
        for (const j of ready) {
          if (j.run !== undefined) actions.push(...j.run())
          if (j.submission !== undefined && !j.submission.refused()) subs.push(j.submission)
        }
        if (subs.length > 0) {
          const r = this.replica.submitMany(subs.map((x) => x.tx), this.now())
          r.results.forEach((res, i) => { subs[i]!.admitted(res.reason) })
          actions.push(...r.actions)
        }
        await this.handle(actions)
        this.armBatchTimer()
        for (const j of ready) await j.after?.()
      } catch (err) {
        console.error('accounting node:', err)
      }
      if (this.queued > 0) await new Promise((resolve) => setImmediate(resolve))
    }
  }

  /**
   * A tick when the leader's next batch is due (the periodic tick alone
   * added up to tickMs to every tx_diag that waited for a batch).
   */
  private armBatchTimer (): void {
    const due = this.replica.batchDueAt()
    if (due === null || this.batchTimer !== null || this.stopped) return
    const wait = due - this.now()
    if (wait <= 0) return // due already: waiting on the pipeline or the window, which call the proposer when they move
    this.batchTimer = setTimeout(() => {
      this.batchTimer = null
      this.enqueue({ run: () => this.replica.tick(this.now()) }, true)
    }, wait)
  }

  /** The registry after `before` (registry records ordered ahead, not executed yet). */
  private registryAfter (before: readonly BodyTx[]): DoctorRegistry {
    if (before.length === 0) return this.registryNow
    const key = `${this.registryNow.seq}:${before.map((b) => toHex(b.id)).join(',')}`
    if (this.overlay?.key !== key) this.overlay = { key, registry: this.registryNow.after(before.map((b) => b.tx as DocTx).filter((x) => changesRegistry(x.kind))) }
    return this.overlay.registry
  }

  /**
   * The replica's synchronous hook: registry standing after `before`, the
   * rest of a tx_diag as prevalidated, and its user's credit net of the
   * diagnoses on Docchain and the `spent` ones ordered or admitted ahead.
   */
  private verdictOf (t: BodyTx, before: readonly BodyTx[], spent: number): string | null {
    const reg = this.registryAfter(before)
    if (t.tx.kind === 'reg') return checkRecord(t.tx, reg)?.message ?? null
    if (t.tx.kind === 'release') return this.refuse(t, checkRelease(t.tx, reg))
    if (t.tx.kind === 'withdrawal') return this.refuse(t, checkWithdrawal(t.tx, reg))
    if (t.tx.kind === 'emergency') {
      const bad = checkEmergency(t.tx, reg)
      if (bad !== null) return this.refuse(t, bad)
      const v = this.verdicts.get(toHex(t.id))
      if (v === undefined) return 'not validated against Userchain yet'
      return v instanceof Error ? this.refuse(t, v) : null
    }
    if (t.tx.kind !== 'diag') return 'not a Docchain transaction'
    const bad = checkDoctor(t.tx, reg)
    if (bad !== null) return bad.message
    const k = toHex(t.id)
    // prevalidate() runs before the replica sees any message, so a missing verdict means "not checked".
    const v = this.verdicts.get(k)
    if (v === undefined) return 'not validated against Userchain yet'
    const refused = v instanceof Error ? v : this.creditVerdict(v.user, spent)
    if (refused === null) return null
    if (this.refusals.size >= MAX_VERDICTS) this.refusals.delete(this.refusals.keys().next().value!)
    this.refusals.set(k, refused.code)
    return refused.message
  }

  /** Remembers why `t` is refused (its code, for the receipt) and gives the reason, or null. */
  private refuse (t: BodyTx, err: HealthchainError | null): string | null {
    if (err === null) return null
    if (this.refusals.size >= MAX_VERDICTS) this.refusals.delete(this.refusals.keys().next().value!)
    this.refusals.set(toHex(t.id), err.code)
    return err.message
  }

  /** Whether the user's credit covers one more diagnosis after the committed ones and `spent` more. */
  private creditVerdict (user: string, spent: number): HealthchainError | null {
    return checkCredit(user, this.paid.get(user) ?? 0, (this.charged.get(user) ?? 0) + spent, this.opts.payments.price)
  }

  /** The user a validated tx_diag is charged to (hex), if this node checked it. */
  private userOf (t: BodyTx): string | null {
    if (t.tx.kind !== 'diag') return null
    const v = this.verdicts.get(toHex(t.id))
    return v === undefined || v instanceof Error ? null : v.user
  }

  /** An executed Dblock's diagnoses consume their users' credit; those of unknown user wait for resolveCharges. */
  private charge (b: Dblock): void {
    for (const t of b.txs) {
      if (t.tx.kind !== 'diag') continue
      const user = this.userOf(t)
      if (user === null) { this.unresolved.push(t.tx); continue }
      this.charged.set(user, (this.charged.get(user) ?? 0) + 1)
    }
  }

  /** Charges the executed diagnoses whose user was unknown (read from Userchain: the user of the first cause). */
  private async resolveCharges (): Promise<void> {
    while (this.unresolved.length > 0) {
      const tx = this.unresolved[0]!
      const iot = await this.opts.userchain.iotTx(tx.causes[0]!)
      this.unresolved.shift()
      if (iot === null) continue // not on our Userchain (yet): nothing of its user to charge here
      const user = toHex(iot.user)
      this.charged.set(user, (this.charged.get(user) ?? 0) + 1)
    }
  }

  /**
   * A submission's check: the registry as of now (records in flight are the
   * replica's to weigh), then the cached or fresh signature and Userchain check.
   */
  private async check (t: BodyTx): Promise<HealthchainError | null> {
    if (t.tx.kind === 'reg') return null // its sequence depends on the records in flight: the replica checks it on admission
    if (t.tx.kind === 'emergency') return checkEmergency(t.tx, this.registryNow) ?? await this.checkChain(t)
    if (t.tx.kind !== 'diag') return checkDiagSync(t, this.registryNow)
    // the doctor's standing, then signature and Userchain in checkChain (the signature checked once, its verdict cached)
    // the credit: weighed by the replica on admission, against what is ordered and admitted ahead
    return checkDoctor(t.tx, this.registryNow) ?? await this.checkChain(t)
  }

  /**
   * Signature and Userchain checks of a tx_diag; a valid verdict is cached, a
   * rejection is re-checked next time (Userchain may catch up). The user's
   * prepayments are read afresh each time (memoised per Userchain tip by the
   * lookup), for the replica to weigh the credit against what is ordered.
   */
  private async checkChain (t: BodyTx): Promise<HealthchainError | null> {
    if (t.tx.kind !== 'diag' && t.tx.kind !== 'emergency') return null
    const k = toHex(t.id)
    let v = this.verdicts.get(k)
    if (t.tx.kind === 'emergency') {
      // the escrow of each requested epoch (the doctor's role and signature are the registry's to check)
      if (v === undefined || v instanceof Error) {
        const bad = await checkEmergencyChain(t.tx, this.opts.userchain)
        v = bad ?? { user: toHex(t.tx.patient), userId: t.tx.patient }
        if (this.verdicts.size >= MAX_VERDICTS) this.verdicts.delete(this.verdicts.keys().next().value!)
        this.verdicts.set(k, v)
      }
      return v instanceof Error ? v : null
    }
    if (v === undefined || v instanceof Error) {
      if (!verifyTx(t.tx, t.bytes)) v = new DiagSignatureError()
      else {
        const r = await checkDiagChain(t.tx, this.opts.userchain)
        v = r instanceof Error ? r : { user: toHex(r.user), userId: r.user }
      }
      if (this.verdicts.size >= MAX_VERDICTS) this.verdicts.delete(this.verdicts.keys().next().value!)
      this.verdicts.set(k, v)
    }
    if (v instanceof Error) return v
    this.paid.set(v.user, await this.opts.payments.paid(v.userId))
    return null
  }

  /** Userchain checks of the tx_diag a request or fresh pre-prepare carries, before the replica sees it (the registry is weighed then). */
  private async prevalidate (m: PbftMessage): Promise<void> {
    if (m.kind === 'request') {
      for (const t of requestTxs(m)) await this.checkChain(t)
    } else if (m.kind === 'pre-prepare') {
      for (const t of m.body.block.txs) await this.checkChain(t)
    }
  }

  /** The code of a rejection the replica gave as text: the typed reason when the registry now explains it. */
  private rejectionCode (t: BodyTx): string {
    return checkDiagSync(t, this.registryNow)?.code ?? this.refusals.get(toHex(t.id)) ?? (t.tx.kind === 'reg' ? 'ERR_REGISTRY_RECORD' : 'ERR_DIAG_REJECTED')
  }

  /** Persist first, then send: a vote is on disk before anyone can see it. */
  private async handle (actions: readonly Action[]): Promise<void> {
    if (actions.length === 0) return
    await this.log.apply(actions)
    for (const a of actions) {
      switch (a.type) {
        case 'send': this.opts.transport.send(a.to, a.bytes); break
        case 'serve': {
          const blocks = await this.log.blocks(a.from, this.opts.serveLimit ?? 64)
          if (blocks.length > 0) this.opts.transport.send(a.to, this.replica.makeBlocksMessage(blocks))
          break
        }
        case 'commit': {
          for (const t of a.block.txs) {
            const id = toHex(t.id)
            const w = this.waiters.get(id)
            if (w !== undefined) {
              this.waiters.delete(id)
              for (const resolve of w) resolve({ ok: true, id, height: a.block.header.index, block: a.block })
            }
          }
          this.onCommit?.(a.block)
          break
        }
        case 'reject': {
          const id = toHex(a.tx.id)
          const w = this.waiters.get(id)
          if (w !== undefined) {
            this.waiters.delete(id)
            for (const resolve of w) resolve({ ok: false, id, code: this.rejectionCode(a.tx), reason: a.reason })
          }
          break
        }
        default: break
      }
    }
  }
}

/** A PBFT message from the network, strictly decoded, or null (the replica would drop it). */
function decodedOrNull (bytes: Uint8Array): PbftMessage | null {
  try { return decodeMessage(bytes) } catch { return null }
}

/** Whether `block` holds the tx_diag (or registry record) `tx` (for receipts checked by a doctor). */
export function blockHolds (block: Dblock, tx: DocTx): boolean {
  const id = txId(tx)
  return block.txs.some((t) => equalBytes(t.id, id))
}
