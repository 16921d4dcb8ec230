/**
 * Episodes: what a doctor reads instead of one diagnosis per batch. A
 * patient's hub seals readings in batches (paper §IV-B1, one tx_IoT each);
 * one desaturation spans many of them. Consecutive abnormal batches of one
 * patient form one episode: opened by the first abnormal batch, updated by
 * the next ones, closed once the vitals have stayed normal for the recovery
 * time. Only the changes that matter — opened, worsened (a higher
 * severity, or a vital sign materially further from health than the
 * episode's worst so far, units.ts `step`), a new finding, resolved — are
 * worth a diagnosis (a tx_diag,
 * §IV-B5); the batches in between join the episode silently. Pure: the
 * state is a value, time is the readings' own timestamps.
 */
import { maxSeverity, type Diagnosis, type Severity } from './analyzer.ts'
import type { Observations } from './news2.ts'
import { distanceFromHealth, VITALS, vitalOf } from './units.ts'

export type EpisodeChange = 'opened' | 'worsened' | 'new-finding' | 'continuing' | 'recovering' | 'resolved' | 'normal'

/** The changes a doctor signs a diagnosis for. */
export const CHANGES_THAT_MATTER: ReadonlySet<EpisodeChange> = new Set(['opened', 'worsened', 'new-finding', 'resolved'])

/** Carried in a diagnosis: which episode it belongs to and what changed (the pages group by `id`). */
export interface EpisodeRef {
  /** htxI (hex) of the batch that opened the episode */
  readonly id: string
  readonly change: EpisodeChange
  /** ms: the first abnormal reading */
  readonly opened: number
}

export interface Episode {
  readonly id: string
  /** ms: readings.from of the opening batch */
  readonly opened: number
  /** ms: readings.to of the latest batch */
  readonly updated: number
  /** ms: readings.to of the batch that closed it */
  readonly closed?: number
  /** the worst severity seen */
  readonly peak: Severity
  /** every finding code seen, in order of appearance */
  readonly codes: readonly string[]
  /** each vital's value furthest from health in the diagnoses that mattered so far (what the patient was last told) */
  readonly reported: Observations
  /** batches (htxI) that belong to it */
  readonly batches: readonly string[]
  /** ms: start of the normal readings since the last abnormal batch (recovering) */
  readonly normalSince?: number
}

export interface EpisodeOptions {
  /** How long the vitals must stay normal before the episode is closed (ms; default 2 min). */
  readonly recoveryMs?: number
}

export const DEFAULT_RECOVERY_MS = 120_000

/**
 * A batch whose analysis found something. A NEWS2 aggregate of 1–2 with no
 * finding (one window of SpO₂ 95 %) is the noise of a normal trace, not an
 * episode.
 */
export function isAbnormal (d: Pick<Diagnosis, 'findings'>): boolean {
  return d.findings.length > 0
}

export interface EpisodeStep {
  /** the episode after this batch (undefined: none open) */
  readonly episode: Episode | undefined
  readonly change: EpisodeChange
  /** a diagnosis is worth signing for this change */
  readonly matters: boolean
  /** what to write into that diagnosis */
  readonly ref?: EpisodeRef
}

const RANK: readonly Severity[] = ['routine', 'low', 'urgent', 'emergency']

/** One batch's analysis applied to the patient's open episode (if any). */
export function stepEpisode (open: Episode | undefined, batch: { readonly id: string, readonly diagnosis: Diagnosis }, opts: EpisodeOptions = {}): EpisodeStep {
  const d = batch.diagnosis
  const recovery = opts.recoveryMs ?? DEFAULT_RECOVERY_MS
  const out = (episode: Episode | undefined, change: EpisodeChange): EpisodeStep => {
    const matters = CHANGES_THAT_MATTER.has(change)
    const ref = open ?? episode
    return { episode, change, matters, ...(matters && ref !== undefined ? { ref: { id: ref.id, change, opened: ref.opened } } : {}) }
  }
  if (open === undefined) {
    if (!isAbnormal(d)) return out(undefined, 'normal')
    const e: Episode = { id: batch.id, opened: d.readings.from, updated: d.readings.to, peak: d.severity, codes: d.findings.map((f) => f.code), reported: numeric(d.observations), batches: [batch.id] }
    return out(e, 'opened')
  }
  const batches = [...open.batches, batch.id]
  if (!isAbnormal(d)) {
    const normalSince = open.normalSince ?? d.readings.from
    const e: Episode = { ...open, updated: d.readings.to, batches, normalSince }
    if (d.readings.to - normalSince >= recovery) return out({ ...e, closed: d.readings.to }, 'resolved')
    return out(e, 'recovering')
  }
  const fresh = d.findings.map((f) => f.code).filter((c) => !open.codes.includes(c))
  const peak = maxSeverity(open.peak, d.severity)
  const { normalSince: _n, ...rest } = open
  const e: Episode = { ...rest, updated: d.readings.to, batches, peak, codes: [...open.codes, ...fresh] }
  // a diagnosis is signed: what it reports is the new reference
  const told = { ...e, reported: furthest(open.reported, d.observations) }
  if (RANK.indexOf(d.severity) > RANK.indexOf(open.peak)) return out(told, 'worsened')
  if (fresh.length > 0) return out(told, 'new-finding')
  if (materiallyWorse(open.reported, d.observations)) return out(told, 'worsened')
  return out(e, 'continuing')
}

function numeric (o: Observations): Observations {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => typeof v === 'number'))
}

/** Does some vital sign stand a material step further from health than what was reported? */
function materiallyWorse (reported: Observations, now: Observations): boolean {
  return Object.entries(numeric(now)).some(([k, v]) => {
    const vital = vitalOf(k as keyof Observations)
    const was = reported[k as keyof Observations]
    return vital !== undefined && typeof was === 'number' && distanceFromHealth(vital, v as number) >= distanceFromHealth(vital, was) + VITALS[vital].step
  })
}

/** Each vital's value furthest from health of the two. */
function furthest (a: Observations, b: Observations): Observations {
  const out: Record<string, number> = { ...numeric(a) } as Record<string, number>
  for (const [k, v] of Object.entries(numeric(b))) {
    const vital = vitalOf(k as keyof Observations)
    const was = out[k]
    if (was === undefined || (vital !== undefined && distanceFromHealth(vital, v as number) > distanceFromHealth(vital, was))) out[k] = v as number
  }
  return out as Observations
}

/** The open episode of each patient (in memory: the doctor node's view of its patients). */
export class EpisodeTracker {
  readonly #open = new Map<string, Episode>()
  readonly #opts: EpisodeOptions

  constructor (opts: EpisodeOptions = {}) { this.#opts = opts }

  /** Applies one analysed batch of `user`; returns what changed. */
  step (user: string, batch: { readonly id: string, readonly diagnosis: Diagnosis }): EpisodeStep {
    const s = stepEpisode(this.#open.get(user), batch, this.#opts)
    if (s.episode === undefined || s.episode.closed !== undefined) this.#open.delete(user)
    else this.#open.set(user, s.episode)
    return s
  }

  open (user: string): Episode | undefined { return this.#open.get(user) }

  /** Forgets a patient (revoked: nothing of theirs is read any more). */
  forget (user: string): void { this.#open.delete(user) }
}

/** Something with an episode (a diagnosis or a review) to group for a page. */
export interface Grouped<T> {
  /** the episode's id, or the item's own key when it names none */
  readonly id: string
  /** oldest first */
  readonly items: readonly T[]
}

/**
 * Groups items by their episode (items naming none stand alone), oldest
 * item first within a group, groups newest first; `same` marks an item that
 * repeats an earlier one of its group (the caller says what repeating is):
 * such duplicates are dropped.
 */
export function groupByEpisode<T> (items: readonly T[], key: (x: T) => { readonly own: string, readonly episode?: string, readonly at: number }, same: (a: T, b: T) => boolean = () => false): Array<Grouped<T>> {
  const groups = new Map<string, T[]>()
  for (const x of [...items].sort((a, b) => key(a).at - key(b).at)) {
    const k = key(x)
    const id = k.episode ?? k.own
    const g = groups.get(id)
    if (g === undefined) { groups.set(id, [x]); continue }
    if (!g.some((y) => same(y, x))) g.push(x)
  }
  return [...groups.entries()].map(([id, xs]) => ({ id, items: xs }))
    .sort((a, b) => key(b.items[b.items.length - 1]!).at - key(a.items[a.items.length - 1]!).at)
}
