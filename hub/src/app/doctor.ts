/**
 * The doctor node as its own process (paper §III-A: a doctor node, AI or
 * human; §IV-B5 "Disease diagnosis", Alg. 4), from its config
 * (config/doctor.ts) and identity, talking to the other roles only over
 * libp2p:
 * - a non-mining core user node following Userchain from the configured core
 *   nodes (roles/core/follow.ts): every tx_key (grants, revocations) and its
 *   patients' tx_IoT, from gossip (mempool, the real-time path) and blocks;
 * - on the same libp2p node, IPFS (ipfs/): sealed batches fetched by digest
 *   from the storage nodes, CID-verified; sealed diagnoses uploaded to them;
 * - the DoctorNode (roles/doctor) decrypts and analyses each batch
 *   (ai/analyzer.ts) and, in mode "ai", signs a tx_diag, or, in mode
 *   "human", queues it for review on the doctor page (web/, its login made on
 *   first start like the hub's);
 * - each tx_diag goes to an accounting node over `/healthchain/diag/2.0.0`
 *   (roles/accounting/diag-protocol.ts); the doctor keeps the receipt once it
 *   has checked it (Dblock header, 2f+1 commit signatures of the configured
 *   members, Merkle branch under diagroot).
 * - it follows Docchain (roles/docchain/follower.ts: gossip and catch-up
 *   from the members, every certificate verified): a Dblock holding one of
 *   its tx_diag is a receipt too, when the answer was lost with the node
 *   that committed it; the registry folded from it gives its standing.
 * - emergency access (app/doctor-emergency.ts): a doctor with the emergency
 *   role asks for a patient's escrowed epochs; once t accounting nodes
 *   released their shares on Docchain it reads those epochs' batches (no
 *   tx_diag: the escrow grants no diagnosis key).
 * What it did is journalled (store/doctor-journal.ts, synced before a batch
 * counts as done), so a restart analyses no batch twice and sends a tx_diag
 * still without a receipt again with the same bytes; it replays its Userchain
 * copy at start (keys, and batches not yet done), so none is skipped.
 * `healthchain doctor` (cli/doctor.ts) runs it; the returned object is its
 * service layer (plain JSON-able answers).
 */
import { randomBytes } from 'node:crypto'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import {
  dblockHash, decodeTx, encodeTx, fromHex, NETWORKS, toHex, txId,
  type Identity, type Tx, type TxDiag, type TxIoT
} from '../core/index.ts'
import type { Diagnosis, Severity } from '../ai/analyzer.ts'
import { followUserchain, onUserchainTxs } from '../roles/core/follow.ts'
import { DoctorNode, type DoctorEvent } from '../roles/doctor/doctor.ts'
import { CreditBook } from '../roles/consortium/credit.ts'
import { submitDiags, verifyReceipt, wireReceipt, type WireReceipt } from '../roles/accounting/diag-protocol.ts'
import { DocchainFollower } from '../roles/docchain/follower.ts'
import { UserchainView } from '../roles/accounting/userchain-view.ts'
import { EmergencyRefusedError } from '../roles/doctor/errors.ts'
import { DoctorEmergency, type DoctorEmergencyInfo } from './doctor-emergency.ts'
import { registryOf } from '../config/docchain.ts'
import { publishPreliminary } from '../net/preliminary.ts'
import { IpfsNode, cidFromDigest, digestOfCid, uploadBatch } from '../ipfs/index.ts'
import { DoctorJournal, type DiagRecord, type QueuedRecord, type ReceiptRecord } from '../store/doctor-journal.ts'
import { createWebServer, doctorModel, type Amendment } from '../web/index.ts'
import { createFhirRouter, doctorFhirSource } from '../fhir/index.ts'
import type { DoctorConfig } from '../config/doctor.ts'
import { listenError } from '../config/ports.ts'

export interface DoctorDeps {
  readonly identity: Identity
  readonly log?: (line: string) => void
  /** The DoctorNode's events (tests count analyses). */
  readonly onEvent?: (e: DoctorEvent) => void
}

/** Refusals that sending the same bytes again cannot change: the tx_diag is given up. */
const FINAL_REFUSALS = new Set(['ERR_MALFORMED_DIAG', 'ERR_BAD_SIGNATURE', 'ERR_UNREGISTERED_DOCTOR', 'ERR_SUSPENDED_DOCTOR'])
/** Attempts at a batch whose fetch, decryption or upload failed, before it waits for the next restart. */
const MAX_BATCH_ATTEMPTS = 5
/** Recent tx_IoT per patient the page decrypts (its readings view). */
const RECENT_PER_PATIENT = 6

export interface DoctorStatus {
  readonly doctor: string
  readonly name: string
  readonly mode: 'ai' | 'human'
  readonly peer: readonly string[]
  readonly page: string
  readonly userchain: { readonly height: number, readonly tip: string, readonly peers: number }
  /** Docchain height followed, Dblocks refused, and this doctor's standing in the registry folded from it. */
  readonly docchain: { readonly height: number, readonly refused: number, readonly standing: string }
  readonly patients: number
  readonly queue: number
  readonly batches: { readonly done: number, readonly inProgress: number }
  readonly diagnoses: { readonly pending: number, readonly committed: number, readonly rejected: number }
}

export interface PatientInfo {
  readonly user: string
  readonly epochs: readonly number[]
  readonly latestEpoch: number
  readonly granted: boolean
  readonly revokedAt?: number
}

export interface QueueItem {
  readonly id: string
  readonly user: string
  readonly severity: Severity
  readonly findings: ReadonlyArray<{ readonly code: string, readonly text: string, readonly severity: Severity }>
  readonly recommendation: string
  readonly news2: number
  readonly causes: readonly string[]
  readonly readings: { readonly count: number, readonly from: number, readonly to: number }
  readonly at: number
}

export type DiagnosisInfo = Omit<DiagRecord, 'tx'>

export interface DoctorDaemon {
  /** libp2p multiaddrs with /p2p/<peer id>. */
  readonly peer: readonly string[]
  readonly pageUrl: string
  /** The page login, only on the start that created it. */
  readonly login?: { readonly username: string, readonly password: string }
  status: () => Promise<DoctorStatus>
  patients: () => Promise<PatientInfo[]>
  /** Analysed batches waiting for review (mode "human"), most severe first. */
  queue: () => Promise<QueueItem[]>
  /** Signs a queued review (as is, or amended) and sends its tx_diag; resolves with htxd. */
  sign: (id: string, amend?: Amendment) => Promise<string>
  /** Every tx_diag signed, with its verified receipt once committed; newest first. */
  diagnoses: () => Promise<DiagnosisInfo[]>
  /** Emergency access (README "Emergency access"): ask for a patient's escrowed epochs, and every access asked, newest first. */
  emergency: {
    request: (patient: string, epochs: readonly number[], reason: string) => Promise<DoctorEmergencyInfo>
    list: () => Promise<DoctorEmergencyInfo[]>
  }
  stop: () => Promise<void>
}

const rng = (n: number): Uint8Array => new Uint8Array(randomBytes(n))
const nowSeconds = (): number => Math.floor(Date.now() / 1000)
const SEVERITY_ORDER: readonly Severity[] = ['routine', 'low', 'urgent', 'emergency']

function shuffled<T> (xs: readonly T[]): T[] {
  const a = [...xs]
  for (let i = a.length - 1; i > 0; i--) { const j = Math.floor(Math.random() * (i + 1)); [a[i], a[j]] = [a[j]!, a[i]!] }
  return a
}

export async function startDoctor (cfg: DoctorConfig, deps: DoctorDeps): Promise<DoctorDaemon> {
  const log = deps.log ?? (() => {})
  const params = NETWORKS[cfg.network]
  const me = toHex(deps.identity.id)
  const members = cfg.docchain.members.map((m) => fromHex('docchain.members', m.id))
  const targets = cfg.docchain.members.filter((m): m is { id: string, addr: string } => m.addr !== undefined)
  const stops: Array<() => Promise<unknown>> = []
  const stopAll = async (): Promise<void> => { for (const s of stops.splice(0).reverse()) await s().catch(() => {}) }
  try {
    await mkdir(cfg.dataDir, { recursive: true, mode: 0o700 })
    const journal = await DoctorJournal.open(join(cfg.dataDir, 'journal'))
    const sending = new Set<Promise<unknown>>()
    // closed last: sends still in flight fail fast once libp2p has stopped, and write nothing
    stops.push(async () => { await Promise.allSettled([...sending]); await journal.close() })
    const follower = await followUserchain({ params, chainDir: join(cfg.dataDir, 'userchain', params.name), netDir: join(cfg.dataDir, 'net'), listen: cfg.listen, bootstrap: cfg.userchain.bootstrap })
      .catch((err: unknown) => { throw listenError(err, 'listen') })
    stops.push(async () => { await follower.stop() })
    const { core, net } = follower
    const libp2p = net.net.libp2p
    const ipfs = await IpfsNode.create({ dataDir: join(cfg.dataDir, 'ipfs'), libp2p })
    stops.push(async () => { await ipfs.stop() })
    const credit = cfg.consortium === undefined ? undefined : new CreditBook(core.store, fromHex('consortium', cfg.consortium), cfg.diagnosisPrice)

    let stopping = false
    /** A commit receipt for a journalled tx_diag, checked (header, 2f+1 signatures of the members, Merkle branch) before it is kept. */
    const committed = async (htxd: string, r: WireReceipt, from: string): Promise<void> => {
      const d = journal.diags.get(htxd)
      if (d === undefined || d.status === 'committed') return
      verifyReceipt(r, fromHex('tx', d.tx), members)
      if (!r.ok) return
      const receipt: ReceiptRecord = {
        height: r.height, dblock: toHex(dblockHash(r.header)), view: r.cert[0]?.view ?? 0, index: r.index, size: r.size,
        proof: r.proof.map(toHex), signatures: r.cert.length, from, at: Date.now()
      }
      await journal.updateDiag(htxd, { status: 'committed', receipt })
      log(`tx_diag ${htxd.slice(0, 12)}… committed in Dblock ${r.height} (receipt ${from === 'docchain' ? 'from Docchain' : `from ${from.slice(0, 12)}…`} verified: ${r.cert.length} signatures, Merkle branch)`)
    }
    const inflight = new Set<string>() // htxd being sent

    /** Sends a journalled tx_diag to the accounting nodes (in random order) until one answers with a receipt that checks out. */
    const send = async (htxd: string): Promise<void> => {
      const d = journal.diags.get(htxd)
      if (stopping || d === undefined || d.status !== 'pending' || inflight.has(htxd)) return
      // accounting nodes admit only causes on the best chain (§IV-B2): wait until this node has them too
      if (d.causes.some((c) => core.store.txLocation(fromHex('cause', c)) === undefined)) return
      inflight.add(htxd)
      const bytes = fromHex('tx', d.tx)
      try {
        for (const m of shuffled(targets)) {
          if (stopping) return
          let r
          try {
            await journal.updateDiag(htxd, { sent: journal.diags.get(htxd)!.sent + 1 })
            r = (await submitDiags(libp2p, m.addr, [bytes], { timeoutMs: cfg.submit.timeoutSeconds * 1000 }))[0]!
          } catch (err) {
            if (!stopping) log(`tx_diag ${htxd.slice(0, 12)}… to accounting node ${m.id.slice(0, 12)}…: ${(err as Error).message}`)
            continue
          }
          if (!r.ok) {
            log(`tx_diag ${htxd.slice(0, 12)}… refused by ${m.id.slice(0, 12)}…: ${r.code} ${r.reason}`)
            if (FINAL_REFUSALS.has(r.code)) { await journal.updateDiag(htxd, { status: 'rejected', code: r.code, reason: r.reason }); return }
            continue
          }
          try { await committed(htxd, r, m.id) } catch (err) {
            log(`tx_diag ${htxd.slice(0, 12)}…: receipt from ${m.id.slice(0, 12)}… refused: ${(err as Error).message}`)
            continue
          }
          return
        }
      } finally { inflight.delete(htxd) }
    }
    const sendLater = (htxd: string): void => {
      const p = send(htxd).catch((err: Error) => { log(`tx_diag ${htxd.slice(0, 12)}…: ${err.message}`) })
      sending.add(p)
      void p.finally(() => sending.delete(p))
    }
    const sendPending = (): void => { for (const d of journal.diags.values()) if (d.status === 'pending') sendLater(d.htxd) }

    const io = {
      fetch: async (digest: Uint8Array) => await ipfs.get(cidFromDigest(digest), { providers: [...cfg.storageNodes] }),
      upload: async (bytes: Uint8Array) => digestOfCid((await uploadBatch(ipfs, bytes, { storageNodes: [...cfg.storageNodes], replication: cfg.replication, signer: deps.identity })).cid),
      // journalled (synced) before it is first sent; the receipt arrives later (send)
      submit: async (tx: TxDiag) => {
        const htxd = toHex(txId(tx))
        const causes = tx.causes.map(toHex)
        const first = journal.queued.get(causes[0]!)
        const user = first?.user ?? userOfCause.get(causes[0]!) ?? ''
        const bytes = encodeTx(tx)
        await journal.signed({ htxd, tx: toHex(bytes), causes, user, severity: severityOf.get(causes[0]!) ?? first?.diagnosis.severity ?? 'routine', status: 'pending', signedAt: Date.now(), sent: 0 })
        // the patient sees it at once, marked preliminary; Docchain certifies it once its causes are confirmed
        void publishPreliminary(net.net, params.name, bytes).catch((err: Error) => { log(`tx_diag ${htxd.slice(0, 12)}…: preliminary finding not gossiped: ${err.message}`) })
        sendLater(htxd)
      },
      hasPaid: async (user: Uint8Array) => credit === undefined ? true : await credit.hasPaid(user),
      now: nowSeconds,
      rng
    }
    // what each batch's analysis found, by htxI, while it is handled (for the journal)
    const severityOf = new Map<string, Severity>()
    const userOfCause = new Map<string, string>()
    const outcomes = new Map<string, DoctorEvent[]>()
    const node = new DoctorNode(deps.identity, io, {
      mode: cfg.mode,
      minSeverity: cfg.minSeverity,
      episodes: { recoveryMs: cfg.episodes.recoverySeconds * 1000 },
      onEvent: (e) => {
        if (e.type === 'diagnosed') severityOf.set(e.htxI, e.severity)
        if ('htxI' in e) outcomes.get(e.htxI)?.push(e)
        if (e.type === 'key') log(`patient ${e.user.slice(0, 12)}…: ${e.change}`)
        if (e.type === 'diagnosed' && e.episode !== undefined && e.change !== 'continuing') log(`patient ${userOfCause.get(e.htxI)?.slice(0, 12) ?? '?'}…: episode ${e.episode.slice(0, 12)}… ${e.change} (batch ${e.htxI.slice(0, 12)}…, ${e.severity})`)
        if (e.type === 'dropped' && e.ids.length > 0) {
          log(`patient ${e.user.slice(0, 12)}… revoked: ${e.ids.length} review(s) not yet signed dropped`)
          void journal.unqueue(e.ids).catch((err: Error) => { log(`reviews of ${e.user.slice(0, 12)}…: ${err.message}`) })
        }
        if (e.type === 'queued') log(`${e.severity} batch ${e.htxI.slice(0, 12)}… queued for review`)
        if (e.type === 'submitted') log(`${e.severity} diagnosis ${e.htxd.slice(0, 12)}… signed for ${e.causes[0]!.slice(0, 12)}…`)
        if (e.type === 'error') log(`batch ${e.htxI.slice(0, 12)}…: ${e.error.message}`)
        deps.onEvent?.(e)
      }
    })
    // reviews queued before a restart come back as they were (not analysed again)
    for (const q of journal.queued.values()) node.reviewQueue.push({ causes: q.causes.map((c) => decodeTx(fromHex('cause', c)) as TxIoT), diagnosis: q.diagnosis })

    const recent = new Map<string, TxIoT[]>()
    const attempts = new Map<string, number>()
    const retryTimers = new Set<NodeJS.Timeout>()
    /** One of its patients' batches, not yet done: analysed by the DoctorNode, its outcome journalled. */
    const handle = async (tx: TxIoT, htxI: string): Promise<void> => {
      outcomes.set(htxI, [])
      userOfCause.set(htxI, toHex(tx.user))
      try {
        await node.onTx(tx)
      } finally {
        const evs = outcomes.get(htxI) ?? []
        outcomes.delete(htxI)
        const severity = severityOf.get(htxI) ?? 'routine'
        severityOf.delete(htxI)
        userOfCause.delete(htxI)
        if (!stopping) {
          if (evs.some((e) => e.type === 'queued')) {
            const item = node.reviewQueue.find((r) => toHex(txId(r.causes[0]!)) === htxI)
            if (item !== undefined) {
              const q: QueuedRecord = { id: htxI, user: toHex(tx.user), causes: item.causes.map((c) => toHex(encodeTx(c))), diagnosis: item.diagnosis as Diagnosis, at: Date.now() }
              await journal.queue(q, severity)
            }
          } else if (evs.some((e) => e.type === 'skipped' && e.analysed === true)) {
            await journal.batchDone({ htxI, user: toHex(tx.user), outcome: 'below', severity, at: Date.now() })
          } else if (evs.some((e) => e.type === 'error')) {
            const n = (attempts.get(htxI) ?? 0) + 1
            attempts.set(htxI, n)
            if (n < MAX_BATCH_ATTEMPTS) {
              const timer = setTimeout(() => { retryTimers.delete(timer); feed(tx) }, cfg.submit.retrySeconds * 1000 * 2 ** (n - 1))
              retryTimers.add(timer)
            }
          }
        }
      }
    }
    const feed = (tx: Tx): void => {
      if (stopping) return
      if (tx.kind === 'key') { void node.onTx(tx); return }
      if (tx.kind === 'iot') void emergency.onIoT(tx).catch((err: Error) => { log(`emergency access: ${err.message}`) })
      if (tx.kind !== 'iot' || !node.keys.holds(tx.user, tx.epoch)) {
        // a patient's batch it holds no key for is reported (revoked); others' batches cost nothing
        if (tx.kind === 'iot' && node.keys.status(tx.user) !== undefined) void node.onTx(tx)
        return
      }
      const htxI = toHex(txId(tx))
      const u = toHex(tx.user)
      const list = recent.get(u) ?? []
      if (!list.some((x) => toHex(txId(x)) === htxI)) { list.push(tx); if (list.length > RECENT_PER_PATIENT) list.shift(); recent.set(u, list) }
      if (journal.batches.has(htxI) || outcomes.has(htxI)) return
      void handle(tx, htxI).catch((err: Error) => { log(`batch ${htxI.slice(0, 12)}…: ${err.message}`) })
    }

    // emergency access: requests asked before a restart, their releases replayed from the kept Dblocks below
    const view = new UserchainView(core.store)
    const emergency = await DoctorEmergency.open({
      identity: deps.identity,
      file: join(cfg.dataDir, 'emergency.json'),
      registry: () => docchain.registry,
      keyTx: async (u, e) => await view.keyTx(u, e),
      iots: async (u, epochs) => {
        const out: TxIoT[] = []
        const take = (t: Tx): void => { if (t.kind === 'iot' && toHex(t.user) === toHex(u) && epochs.has(t.epoch)) out.push(t) }
        for (let h = 1; h <= core.store.tip.height; h++) for (const t of (await core.store.getBlock(core.store.hashAt(h)!))?.txs ?? []) take(t.tx)
        for (const e of core.mempool.list()) take(e.bt.tx)
        return out
      },
      fetch: io.fetch,
      submit: async (bytes) => {
        let last = 'no accounting node answered'
        for (const m of shuffled(targets)) {
          try {
            const r = (await submitDiags(libp2p, m.addr, [bytes], { timeoutMs: cfg.submit.timeoutSeconds * 1000 }))[0]!
            if (!r.ok) { last = `refused by accounting node ${m.id.slice(0, 12)}…: ${r.code} ${r.reason}`; continue }
            verifyReceipt(r, bytes, members)
            return
          } catch (err) { last = `accounting node ${m.id.slice(0, 12)}…: ${(err as Error).message}` }
        }
        throw new EmergencyRefusedError(last)
      },
      now: nowSeconds,
      log
    })

    // live Userchain transactions wait while the stored chain is replayed (keys before the batches they open)
    let live: Tx[] | null = []
    const unsubscribe = onUserchainTxs(core, (tx) => { if (live !== null) live.push(tx); else feed(tx) })
    stops.push(async () => { unsubscribe() })
    for (let h = 1; h <= core.store.tip.height; h++) {
      const b = await core.store.getBlock(core.store.hashAt(h)!)
      for (const t of b?.txs ?? []) feed(t.tx)
    }
    for (const e of core.mempool.list()) feed(e.bt.tx)
    for (const tx of live) feed(tx)
    live = null

    // Docchain (§IV-B3): a Dblock holding one of its tx_diag is a receipt too (an answer lost with
    // the accounting node that committed it); the registry folded from it gives this doctor's standing
    const docchain = await DocchainFollower.open({
      net: net.net,
      members,
      genesisTime: cfg.docchain.genesisTime,
      registry: registryOf(cfg.docchain.registry),
      peers: targets.map((m) => m.addr),
      dir: join(cfg.dataDir, 'docchain'),
      onDblock: async (b) => {
        for (const t of b.txs) {
          const htxd = toHex(t.id)
          if (journal.diags.get(htxd)?.status === 'pending' || journal.diags.get(htxd)?.status === 'rejected') {
            await committed(htxd, wireReceipt({ ok: true, id: htxd, height: b.header.index, block: b }), 'docchain')
          }
        }
        // kept when it holds one of this doctor's emergency requests or their releases (opened again after a restart)
        return await emergency.onDblock(b)
      },
      log,
      pollMs: cfg.docchain.pollSeconds * 1000
    })
    stops.push(async () => { await docchain.stop() })
    for (const b of await docchain.kept()) await emergency.onDblock(b)
    docchain.start()

    // tx_diag without a receipt: sent again now (same bytes), on each new tip (causes confirmed) and periodically
    sendPending()
    const onTip = (): void => { sendPending() }
    core.on('tip', onTip)
    const retry = setInterval(sendPending, cfg.submit.retrySeconds * 1000)
    stops.push(async () => {
      stopping = true
      core.off('tip', onTip)
      clearInterval(retry)
      for (const t of retryTimers) clearTimeout(t)
    })

    const base = doctorModel({ node, name: cfg.name, recent: (u) => recent.get(toHex(u)) ?? [] })
    // the journal records the severity the doctor signs (amended or as analysed)
    const model = {
      ...base,
      page: async () => ({ ...(await base.page()), emergency: emergency.list() }),
      sign: async (id: string, amend?: Amendment): Promise<string> => {
        const q = journal.queued.get(id)
        if (q !== undefined) severityOf.set(id, amend?.severity ?? q.diagnosis.severity)
        try { return await base.sign(id, amend) } finally { severityOf.delete(id) }
      }
    }
    // the FHIR API (/fhir) serves what this doctor was granted, behind the page's login
    const fhir = doctorFhirSource({ chain: core, node, diags: () => journal.diags.values(), fetch: io.fetch, log })
    const web = await createWebServer({ dataDir: cfg.dataDir, doctor: model, host: cfg.http.host, port: cfg.http.port, log, mount: (w) => [{ path: '/fhir', router: createFhirRouter({ source: fhir, web: w, log }).router }] })
      .catch((err: unknown) => { throw listenError(err, 'http.port') })
    stops.push(async () => { await web.close() })

    const peer = libp2p.getMultiaddrs().map(String)
    return {
      peer,
      pageUrl: `${web.url}/`,
      ...(web.created === undefined ? {} : { login: web.created }),
      status: async () => {
        const ds = [...journal.diags.values()]
        return {
          doctor: me,
          name: cfg.name,
          mode: cfg.mode,
          peer,
          page: `${web.url}/`,
          userchain: { height: core.store.tip.height, tip: core.store.tip.hex, peers: libp2p.getPeers().length },
          docchain: { height: docchain.height, refused: docchain.stats.refused, standing: docchain.registry.status(deps.identity.id) },
          patients: node.keys.patientsGranted().length,
          queue: journal.queued.size,
          batches: { done: journal.batches.size, inProgress: outcomes.size },
          diagnoses: { pending: ds.filter((d) => d.status === 'pending').length, committed: ds.filter((d) => d.status === 'committed').length, rejected: ds.filter((d) => d.status === 'rejected').length }
        }
      },
      patients: async () => node.keys.patientsGranted().map((u) => {
        const s = node.keys.status(u)!
        return { user: toHex(u), epochs: s.epochs, latestEpoch: s.latestEpoch, granted: s.granted, ...(s.revokedAt === undefined ? {} : { revokedAt: s.revokedAt }) }
      }),
      queue: async () => [...journal.queued.values()].map((q) => ({
        id: q.id,
        user: q.user,
        severity: q.diagnosis.severity,
        findings: q.diagnosis.findings.map((f) => ({ code: f.code, text: f.text, severity: f.severity })),
        recommendation: q.diagnosis.recommendation,
        news2: q.diagnosis.news2.total,
        causes: q.causes.map((c) => toHex(txId(fromHex('cause', c)))),
        readings: { count: q.diagnosis.readings.count, from: q.diagnosis.readings.from, to: q.diagnosis.readings.to },
        at: q.at
      })).sort((a, b) => SEVERITY_ORDER.indexOf(b.severity) - SEVERITY_ORDER.indexOf(a.severity) || a.at - b.at),
      sign: async (id, amend) => await model.sign(id, amend),
      diagnoses: async () => [...journal.diags.values()].sort((a, b) => b.signedAt - a.signedAt).map(({ tx: _tx, ...d }) => d),
      emergency: {
        request: async (patient, epochs, reason) => await emergency.request(patient, epochs, reason),
        list: async () => emergency.list()
      },
      stop: stopAll
    }
  } catch (err) {
    await stopAll()
    throw err
  }
}
