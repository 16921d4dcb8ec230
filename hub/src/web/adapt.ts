/**
 * The page models (model.ts) over the real roles (paper §IV-B5, Alg. 3–4):
 * - patient: UserKeys (epochs, granted doctors, grant/revoke → a tx_key the
 *   hub publishes on Userchain), PatientReader (diagnoses from certified
 *   Dblocks, linked to the tx_IoT behind them), the hub's decrypted readings
 *   with a local NEWS2 analysis for alerts, the Healthcoin balance;
 * - doctor: DoctorNode (patients from its key tracker, the human-review
 *   queue), signing or amending with the analyzer's review(), then Alg. 4's
 *   publish (seal with dk_ij, upload, tx_diag, submit).
 * Only IDs and decrypted health data reach the views: no key material.
 */
import { fromHex, toHex, txId, type TxIoT, type TxKey } from '../core/index.ts'
import { analyze, review, type Diagnosis, type VitalReading } from '../ai/analyzer.ts'
import { VITALS, type Vital } from '../ai/units.ts'
import { SENSOR_UNITS } from '../ingest/line.ts'
import { DROP_REASONS } from '../ingest/errors.ts'
import { toDiagnosticReport } from '../ai/fhir.ts'
import { publishEpoch, type UserKeys } from '../roles/user/keys.ts'
import type { PatientDiagnosis, PatientReader } from '../roles/user/diagnoses.ts'
import type { DoctorNode, PendingReview } from '../roles/doctor/doctor.ts'
import { ConflictError, NotFoundError } from './errors.ts'
import { SEVERITIES } from './model.ts'
import type {
  AlertView, Amendment, CauseView, Sustained, DeviceView, DiagnosisView, DoctorModel, DoctorPage, DoctorView, PatientModel, PatientPage, PaymentView, ReadingView, ReviewView
} from './model.ts'

type MaybePromise<T> = T | Promise<T>

export interface PatientSources {
  readonly keys: UserKeys
  readonly reader: PatientReader
  /** Publishes the user's tx_key on Userchain (the doctors learn grants and revocations from it). */
  readonly publishKey: (tx: TxKey) => MaybePromise<void>
  /** The user's tx_keys not yet mined (the epoch committer's pending list). */
  readonly pendingEpochs?: () => NonNullable<PatientPage['pendingEpochs']>
  /** Healthcoin balance of the user. */
  readonly balance: () => MaybePromise<number>
  /** Latest decrypted readings (any order). */
  readonly readings?: () => MaybePromise<readonly ReadingView[]>
  /** Registered doctors (Docchain registry), for the grant buttons. */
  readonly doctors?: () => MaybePromise<readonly DoctorView[]>
  readonly devices?: () => MaybePromise<readonly DeviceView[]>
  /** The user's Healthcoin payments, newest first. */
  readonly payments?: () => MaybePromise<readonly PaymentView[]>
  /** How far back the local analysis looks for alerts (ms; default 10 min before the newest reading). */
  readonly alertWindowMs?: number
  /** Most readings sent to the page (newest kept; default 600). */
  readonly maxReadings?: number
  /** Is scheduled key rotation on (roles/user/rotation.ts)? Without it the page shows no next renewal. */
  readonly keyRotation?: boolean
}

export function causeView (tx: TxIoT): CauseView { return { htxI: toHex(txId(tx)), ts: tx.ts, epoch: tx.epoch } }

function diagnosisView (d: PatientDiagnosis, name: (id: string) => string | undefined): DiagnosisView {
  const x = d.diagnosis
  const doctorName = name(d.doctor)
  return {
    id: d.htxd,
    doctor: d.doctor,
    ...(doctorName === undefined ? {} : { doctorName }),
    dblock: d.dblock,
    severity: x.severity,
    status: x.status,
    findings: x.findings.map((f) => ({ code: f.code, text: f.text, severity: f.severity })),
    recommendation: x.recommendation,
    news2: x.news2.total,
    observations: { ...x.observations },
    ...(x.episode === undefined ? {} : { episode: x.episode }),
    ...(x.reviewedBy === undefined ? {} : { reviewedBy: x.reviewedBy }),
    ...(x.note === undefined ? {} : { note: x.note }),
    causes: d.causes.map(causeView),
    readings: { count: x.readings.count, from: x.readings.from, to: x.readings.to, types: [...x.readings.types] }
  }
}

function toVital (r: ReadingView): VitalReading { return { t: r.type, v: r.value, ts: r.at, d: r.device } }

/**
 * The hub's own analysis of the latest readings (decrypted locally; nothing
 * leaves the hub): its alerts, and each vital's sustained value that the
 * alerts name — one computation for the alert and the tile.
 */
export function localAnalysis (readings: readonly ReadingView[], windowMs = 10 * 60_000): { alerts: AlertView[], sustained: Sustained } {
  if (readings.length === 0) return { alerts: [], sustained: {} }
  const newest = Math.max(...readings.map((r) => r.at))
  const recent = readings.filter((r) => newest - r.at <= windowMs)
  const d = analyze(recent.map(toVital))
  const sustained: { -readonly [K in Vital]?: number } = {}
  for (const v of Object.keys(VITALS) as Vital[]) { const x = d.observations[VITALS[v].observation]; if (typeof x === 'number') sustained[v] = x }
  return { alerts: d.findings.filter((f) => f.severity !== 'routine').map((f) => ({ at: newest, severity: f.severity, code: f.code, text: f.text })), sustained }
}

export function patientModel (src: PatientSources): PatientModel {
  const directory = async (): Promise<readonly DoctorView[]> => await src.doctors?.() ?? []
  const nameOf = (list: readonly DoctorView[]) => (id: string): string | undefined => list.find((d) => d.id === id)?.name
  return {
    async page (): Promise<PatientPage> {
      const registered = await directory()
      const name = nameOf(registered)
      const grantedIds = src.keys.doctors().map(toHex)
      const all = [...(await src.readings?.() ?? [])].sort((a, b) => b.at - a.at).slice(0, src.maxReadings ?? 600)
      const renewal = src.keys.renewal()
      return {
        user: toHex(src.keys.user.id),
        epoch: src.keys.current?.epoch ?? null,
        ...(src.pendingEpochs === undefined ? {} : { pendingEpochs: src.pendingEpochs() }),
        keyRenewal: { last: renewal === null ? null : renewal.since * 1000, next: renewal === null || src.keyRotation !== true ? null : renewal.due * 1000 },
        readings: all,
        ...localAnalysis(all, src.alertWindowMs),
        diagnoses: src.reader.diagnoses.map((d) => diagnosisView(d, name)).reverse(),
        preliminary: [...src.reader.preliminary.values()].map((d) => diagnosisView(d, name)).reverse(),
        granted: grantedIds.map((id) => ({ id, ...(name(id) === undefined ? {} : { name: name(id)! }) })),
        available: registered.filter((d) => !grantedIds.includes(d.id)),
        balance: await src.balance(),
        payments: (await src.payments?.() ?? []).map((x) => x.toName !== undefined || name(x.to) === undefined ? x : { ...x, toName: name(x.to)! }),
        devices: [...(await src.devices?.() ?? [])]
      }
    },
    async grant (doctor: string): Promise<number> {
      const tx = src.keys.grant(fromHex('doctor', doctor))
      await publishEpoch(src.keys, tx, async (x) => { await src.publishKey(x) })
      return tx.epoch
    },
    async revoke (doctor: string): Promise<number> {
      const tx = src.keys.revoke(fromHex('doctor', doctor))
      await publishEpoch(src.keys, tx, async (x) => { await src.publishKey(x) })
      return tx.epoch
    },
    async report (htxd: string): Promise<Record<string, unknown> | undefined> {
      const d = src.reader.diagnoses.find((x) => x.htxd === htxd)
      if (d === undefined) return undefined
      return toDiagnosticReport(d.diagnosis, { user: toHex(src.keys.user.id), doctor: d.doctor, issued: new Date(d.diagnosis.readings.to || Date.now()).toISOString() })
    }
  }
}

export interface DoctorSources {
  readonly node: DoctorNode
  /** The reviewer's name written into signed diagnoses (Diagnosis.reviewedBy). */
  readonly name: string
  /** Patients' display names, if known. */
  readonly patientName?: (user: string) => string | undefined
  readonly now?: () => number
  /**
   * A patient's recent tx_IoTs as seen on Userchain (the doctor's chain
   * feed). The page shows the readings of those the doctor holds keys for,
   * decrypted by the DoctorNode itself: after a revocation nothing new.
   */
  readonly recent?: (user: Uint8Array) => MaybePromise<readonly TxIoT[]>
}

function readingView (r: VitalReading): ReadingView {
  const unit = (SENSOR_UNITS as Record<string, string>)[String(r.t)] ?? ''
  return { device: r.d ?? 'device', type: String(r.t), value: r.v, unit, at: r.ts }
}

function reviewId (r: PendingReview): string { return toHex(txId(r.causes[0]!)) }

function reviewView (r: PendingReview): ReviewView {
  const x = r.diagnosis
  return {
    id: reviewId(r),
    user: toHex(r.causes[0]!.user),
    severity: x.severity,
    findings: x.findings.map((f) => ({ code: f.code, text: f.text, severity: f.severity })),
    recommendation: x.recommendation,
    news2: x.news2.total,
    observations: { ...x.observations },
    ...(x.episode === undefined ? {} : { episode: x.episode }),
    causes: r.causes.map(causeView),
    readings: { count: x.readings.count, from: x.readings.from, to: x.readings.to, types: [...x.readings.types] }
  }
}

export function doctorModel (src: DoctorSources): DoctorModel {
  const node = src.node
  const now = src.now ?? Date.now
  const signing = new Set<string>()
  const signed: { id: string, user: string, severity: Diagnosis['severity'], at: number }[] = []
  const find = (id: string): PendingReview | undefined => node.reviewQueue.find((r) => reviewId(r) === id)
  return {
    async page (): Promise<DoctorPage> {
      return {
        doctor: toHex(node.identity.id),
        name: src.name,
        patients: await Promise.all(node.keys.patientsGranted().map(async (u) => {
          const st = node.keys.status(u)!
          const user = toHex(u)
          const name = src.patientName?.(user)
          const txs = (await src.recent?.(u) ?? []).filter((tx) => node.keys.holds(tx.user, tx.epoch))
          const readings = (await node.readings(txs)).map(readingView).sort((a, b) => b.at - a.at)
          return { user, ...(name === undefined ? {} : { name }), epochs: st.epochs, latestEpoch: st.latestEpoch, readings, ...localAnalysis(readings) }
        })),
        revoked: [...node.revocations.entries()].map(([user, r]) => ({ user, at: r.at * 1000, dropped: r.dropped })),
        // most severe first, then oldest first
        queue: node.reviewQueue.filter((r) => !signing.has(reviewId(r))).map(reviewView)
          .sort((a, b) => SEVERITIES.indexOf(b.severity) - SEVERITIES.indexOf(a.severity) || a.readings.from - b.readings.from),
        signed: [...signed].reverse()
      }
    },
    async sign (id: string, amend?: Amendment): Promise<string> {
      if (signing.has(id)) throw new ConflictError('this diagnosis is being signed already')
      const item = find(id)
      if (item === undefined) throw new NotFoundError('review')
      signing.add(id)
      try {
        // the card is the episode: its earlier unsigned reviews are signed with it, their batches cited as causes
        const ep = item.diagnosis.episode?.id
        const user = toHex(item.causes[0]!.user)
        const group = ep === undefined ? [item] : [item, ...node.reviewQueue.filter((r) => r !== item && r.diagnosis.episode?.id === ep && toHex(r.causes[0]!.user) === user)]
        const causes = [...new Map(group.flatMap((r) => r.causes).map((c) => [toHex(txId(c)), c])).values()]
        const final = review(item.diagnosis, src.name, amend ?? {})
        const tx = await node.publish(causes, final)
        for (const r of group) { const i = node.reviewQueue.indexOf(r); if (i >= 0) node.reviewQueue.splice(i, 1) }
        const htxd = toHex(txId(tx))
        signed.push({ id: htxd, user: toHex(item.causes[0]!.user), severity: final.severity, at: now() })
        return htxd
      } finally {
        signing.delete(id)
      }
    },
    async report (id: string): Promise<Record<string, unknown> | undefined> {
      const item = find(id)
      if (item === undefined) return undefined
      return toDiagnosticReport(item.diagnosis, { user: toHex(item.causes[0]!.user), doctor: toHex(node.identity.id), issued: new Date(now()).toISOString() })
    }
  }
}

/** A paired device as the patient page shows it (from the ingest registry). */
export function deviceView (d: { readonly id: string, readonly sensors: readonly string[], readonly lastSeen: number | null, readonly accepted: number, readonly dropped: Readonly<Record<string, number>> }, last: (device: string, code: string) => string | undefined = () => undefined): DeviceView {
  const drops = Object.entries(d.dropped).map(([code, count]) => {
    const msg = last(d.id, code)
    return { code, count, reason: DROP_REASONS[code] ?? code, ...(msg === undefined ? {} : { last: msg }) }
  })
  return { id: d.id, sensors: d.sensors, lastSeen: d.lastSeen, accepted: d.accepted, dropped: Object.values(d.dropped).reduce((a, b) => a + b, 0), drops }
}
