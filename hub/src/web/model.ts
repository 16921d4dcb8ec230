/**
 * What the patient and doctor pages show and do (paper §IV-B5:
 * the user grants and revokes doctors and reads its diagnoses, the doctor
 * reviews and signs diagnoses). Pages render only these views, which hold
 * public identifiers (hex Ed25519 IDs, transaction IDs) and decrypted health
 * data — never key material: the keys stay inside the role objects on the
 * hub, and the views are built from them by adapt.ts.
 */
import type { Severity } from '../ai/analyzer.ts'
import type { EmergencyStatus } from '../app/emergency.ts'
import type { BackupStatus, BackupSummary } from '../app/backup.ts'
import type { WithdrawalReport } from '../app/erasure.ts'
import type { AlertsStatus } from '../app/alerts.ts'
import type { EpisodeRef } from '../ai/episodes.ts'
import type { Observations } from '../ai/news2.ts'
import type { Vital } from '../ai/units.ts'

export type { Severity, EpisodeRef, Observations }

/** Each vital's sustained value from the same analysis that raised the alerts (the tiles show it, so tile and alert agree). */
export type Sustained = Partial<Record<Vital, number>>

/** One decrypted reading (the ingest model's fields; `at` is the hub's receive time in ms). */
export interface ReadingView {
  readonly device: string
  readonly type: string
  readonly value: number | readonly number[]
  readonly unit: string
  readonly at: number
}

/** Something abnormal seen in the latest readings (the hub's local analysis) or reported by a device. */
export interface AlertView {
  readonly at: number
  readonly severity: Severity
  readonly code: string
  readonly text: string
}

export interface FindingView {
  readonly code: string
  readonly text: string
  readonly severity: Severity
}

/** A tx_IoT a diagnosis cites as its cause (paper §IV-B5: htxI in tx_diag). */
export interface CauseView {
  readonly htxI: string
  /** tx timestamp, seconds */
  readonly ts: number
  readonly epoch: number
}

export interface DiagnosisView {
  /** htxd (hex) */
  readonly id: string
  /** doctor ID (hex) */
  readonly doctor: string
  readonly doctorName?: string
  /** the Dblock that committed it */
  readonly dblock: number
  readonly severity: Severity
  readonly status: 'preliminary' | 'final'
  readonly findings: readonly FindingView[]
  readonly recommendation: string
  readonly news2: number
  /** the values the analysis scored (every number a diagnosis prints) */
  readonly observations: Observations
  /** the episode it opens, updates or closes (ai/episodes.ts) */
  readonly episode?: EpisodeRef
  readonly reviewedBy?: string
  readonly note?: string
  readonly causes: readonly CauseView[]
  /** the readings the doctor read: count and ms range */
  readonly readings: { readonly count: number, readonly from: number, readonly to: number, readonly types: readonly string[] }
}

export interface DoctorView {
  /** hex ID */
  readonly id: string
  readonly name?: string
}

export interface DeviceView {
  readonly id: string
  readonly sensors: readonly string[]
  readonly lastSeen: number | null
  readonly accepted: number
  readonly dropped: number
  /** The dropped lines by reason (hub/src/ingest/README.md lists each), with the last drop's own message. */
  readonly drops?: readonly DropView[]
}

export interface DropView {
  readonly code: string
  readonly count: number
  /** what the code means, in words */
  readonly reason: string
  /** the message of this device's last drop with this code, since the hub started */
  readonly last?: string
}

/** A Healthcoin payment from the user (tx_coin, paper §IV-B4: users prepay doctors for diagnoses). */
export interface PaymentView {
  /** transaction ID (hex) */
  readonly id: string
  /** payee ID (hex) */
  readonly to: string
  readonly toName?: string
  readonly amount: number
  readonly fee: number
  /** false while only in the mempool */
  readonly confirmed: boolean
}

export interface PatientPage {
  /** the user's ID (hex) */
  readonly user: string
  /** current key epoch (null before the first tx_key) */
  readonly epoch: number | null
  /** tx_keys not yet in a Ublock (roles/user/commit.ts), oldest first: what a grant or revocation is still waiting for */
  readonly pendingEpochs?: ReadonlyArray<{ readonly epoch: number, readonly kind: string, readonly doctor?: string, readonly accepted: boolean, readonly reissued: number }>
  /** When the data key was last renewed and the next scheduled renewal (ms; null: none yet / not scheduled; paper §IV-B5) */
  readonly keyRenewal: { readonly last: number | null, readonly next: number | null }
  /** latest readings, newest first */
  readonly readings: readonly ReadingView[]
  readonly alerts: readonly AlertView[]
  readonly sustained: Sustained
  /** newest first */
  readonly diagnoses: readonly DiagnosisView[]
  /** Findings a doctor signed that Docchain has not committed yet (preliminary: not certified), newest first. */
  readonly preliminary: readonly DiagnosisView[]
  /** doctors named in the current epoch */
  readonly granted: readonly DoctorView[]
  /** registered doctors that could be granted */
  readonly available: readonly DoctorView[]
  /** Healthcoin balance */
  readonly balance: number
  /** newest first */
  readonly payments: readonly PaymentView[]
  readonly devices: readonly DeviceView[]
  /** Emergency access: opted in or not, and every access Docchain audited (README "Emergency access"); absent when the hub offers none. */
  readonly emergency?: EmergencyView
  /** Backups of the hub (README "Backup and restore"): the schedule, the last archive, the next one due; absent when the hub offers none. */
  readonly backup?: BackupStatus
  /** Withdrawing consent (README "Withdrawing consent (erasure)"); absent when the hub offers it not. */
  readonly erasure?: { readonly withdrawn: number | null }
  /** Alerts out (README "Alerts out"): the settings and each channel's counters; absent when the hub sends none. */
  readonly alertsOut?: AlertsStatus
}

/** The patient page's emergency-access section: the choice, t of n, every access (who, when, why, which epochs, who released). */
export type EmergencyView = EmergencyStatus

export interface PatientModel {
  page: () => Promise<PatientPage>
  /** Publishes a tx_key naming one more doctor; resolves with the new epoch. */
  grant: (doctor: string) => Promise<number>
  /** Publishes a tx_key with fresh keys for the remaining doctors; resolves with the new epoch. */
  revoke: (doctor: string) => Promise<number>
  /** A committed diagnosis as a FHIR R4 DiagnosticReport, or undefined when there is none with that htxd. */
  report: (htxd: string) => Promise<Record<string, unknown> | undefined>
  /** Opts in to (or out of) emergency access; resolves with the new status (and the epoch of the key renewal it made). */
  setEmergency?: (on: boolean) => Promise<EmergencyView & { readonly epoch?: number, readonly tx?: string }>
  /** Writes a backup archive into the backup folder now. */
  backupNow?: () => Promise<BackupSummary>
  /** Withdraws consent (final): the hub then stops and destroys its keys. */
  withdraw?: (o: { readonly confirm: boolean }) => Promise<WithdrawalReport>
  /** Saves the alert settings (the control API's POST /v1/alerts body; checked there); resolves with the new status. */
  configureAlerts?: (body: unknown) => Promise<AlertsStatus>
  /** Sends a test alert on one channel; rejects with the channel's error. */
  testAlert?: (channel: string) => Promise<{ readonly channel: string, readonly delivered: true, readonly id: string }>
}

export interface PatientSummary {
  readonly user: string
  readonly name?: string
  /** epochs this doctor holds keys for */
  readonly epochs: readonly number[]
  readonly latestEpoch: number
  /** recent readings this doctor could decrypt (its key epochs only), newest first */
  readonly readings: readonly ReadingView[]
  readonly alerts: readonly AlertView[]
  readonly sustained: Sustained
}

export interface ReviewView {
  /** htxI (hex) of the first cause: stable while queued */
  readonly id: string
  readonly user: string
  readonly severity: Severity
  readonly findings: readonly FindingView[]
  readonly recommendation: string
  readonly news2: number
  readonly observations: Observations
  readonly episode?: EpisodeRef
  readonly causes: readonly CauseView[]
  readonly readings: { readonly count: number, readonly from: number, readonly to: number, readonly types: readonly string[] }
}

export interface DoctorPage {
  /** the doctor's ID (hex) */
  readonly doctor: string
  readonly name: string
  /** users whose latest tx_key names this doctor */
  readonly patients: readonly PatientSummary[]
  /** AI diagnoses waiting for review */
  readonly queue: readonly ReviewView[]
  /** patients who revoked this doctor: when it learnt of it (ms) and how many unsigned reviews were dropped */
  readonly revoked: readonly { readonly user: string, readonly at: number, readonly dropped: number }[]
  /** diagnoses this doctor signed through the page, newest first */
  readonly signed: readonly { readonly id: string, readonly user: string, readonly severity: Severity, readonly at: number }[]
  /** emergency accesses this doctor asked, newest first (a doctor with the emergency role; none otherwise) */
  readonly emergency?: readonly DoctorEmergencyView[]
}

/**
 * One emergency access a doctor asked (README "Emergency access"): once t
 * accounting nodes released their shares it reads the patient's batches of
 * those epochs; it does not diagnose (the escrow holds no diagnosis key).
 */
export interface DoctorEmergencyView {
  /** htx_em (hex) */
  readonly id: string
  readonly patient: string
  readonly epochs: readonly number[]
  readonly reason: string
  /** when the doctor signed the request (s) */
  readonly ts: number
  /** submitted: sent, not yet seen on Docchain; committed: on Docchain, releases arriving; open: t releases combined, the epochs read */
  readonly status: 'submitted' | 'committed' | 'open'
  /** accounting nodes (hex IDs) whose releases were opened, and how many it takes */
  readonly released: readonly string[]
  readonly threshold: number
  /** the patient's batches of the opened epochs read so far */
  readonly batches: ReadonlyArray<{ readonly htxI: string, readonly epoch: number, readonly readings: number }>
  /** the analyzer's reading of them; no tx_diag follows */
  readonly analysis?: { readonly severity: Severity, readonly news2: number, readonly findings: readonly string[], readonly recommendation: string }
  /** why the releases do not open (a bad share), if so */
  readonly problem?: string
}

export interface Amendment {
  readonly severity?: Severity
  readonly note?: string
}

export interface DoctorModel {
  page: () => Promise<DoctorPage>
  /** Signs the queued diagnosis (as is, or amended) and submits its tx_diag; resolves with htxd. */
  sign: (id: string, amend?: Amendment) => Promise<string>
  /** The queued diagnosis as a FHIR R4 DiagnosticReport (preliminary), or undefined. */
  report: (id: string) => Promise<Record<string, unknown> | undefined>
}

export const SEVERITIES: readonly Severity[] = ['routine', 'low', 'urgent', 'emergency']
