/**
 * The evaluation report, generated only: bench/REPORT.md, bench/plots/*.svg
 * and bench/runs/report.json are written from the archived runs in
 * bench/runs/ and nothing else (never edit them by hand; `npm run bench --
 * report` rewrites them).
 *
 * Archive: every `npm run bench -- <name>` writes
 * bench/runs/<name>/<UTC time>-<short commit>.json, a RunRecord: the bench,
 * date, full commit, whether the files it measures differed from that commit
 * (dirty, with a digest of the difference), the machine, the load averages
 * at start and end, the seconds it took and its flat metric → number object
 * (the same object as bench/results/<name>.json).
 *
 * Which runs a section shows: the newest run of the bench, with every older
 * run of the same bench on the same machine (CPU model and cores) whose
 * measured code is the same — `git diff` between the two commits shows no
 * change to the bench's paths (MEASURES) — at most KEEP runs. A run whose
 * measured files differed from its commit (dirty) groups only with runs of
 * the same commit and the same difference (dirtyDigest); a clean newest run
 * never groups with dirty ones. One run prints its value; several print
 * `min–max (n runs)`, or one value when every run gave it. Each section
 * states the dates, commits, machine and load averages of its runs, and says
 * when the code it measures changed between its newest run and HEAD (then it
 * is stale) or when a run had uncommitted changes. HEAD moves with every
 * commit, so the staleness notes are as of the last `npm run bench -- report`.
 *
 * Numbers: every number in REPORT.md is fmt() or plain() of
 *  (a) a number in one of the run records the section cites (metrics, load
 *      averages, cores, memory, seconds),
 *  (b) a constant below: PAPER (the paper's figures, each cited; the Doctor
 *      column of Table III also as milliseconds) or TARGETS, or
 *  (c) a derived value listed in report.json's `derived` with its operation
 *      and operands: `div` (a measured value over a paper figure, the "ours ÷
 *      paper" columns) or `codec` (a size the protocol codec fixes, not a
 *      measurement). test/unit/bench-report.test.ts recomputes each derived
 *      value from the committed runs, so none can be made up.
 * Dates, commits, the CPU model and the Node version are the records' own
 * strings; citations (Table I, Fig. 6, §VI-A) and counts of runs or commits
 * are text, not measurements.
 */
import { execFileSync } from 'node:child_process'
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as vega from 'vega'
import { compile, type TopLevelSpec } from 'vega-lite'
import { UBLOCK_HEADER_BYTES, encodeDblockHeader, DBLOCK_VERSION } from '../hub/src/core/index.ts'
import { CAPACITY_INPUTS } from './capacity-inputs.ts'

export type Metrics = Record<string, number>

/** One archived run: bench/runs/<bench>/<date>-<commit>.json. */
export interface RunRecord {
  bench: string
  /** ISO 8601, UTC, when the run started. */
  date: string
  /** `git rev-parse HEAD` when the run started. */
  commit: string
  /** The files the bench measures (MEASURES) differed from the commit: modified, staged or new. */
  dirty: boolean
  /** When dirty: SHA-256 of that difference, so runs of the same uncommitted code can be grouped. */
  dirtyDigest?: string
  machine: { cpu: string, cores: number, memGiB: number, node: string }
  /** os.loadavg() (1, 5, 15 minutes) before and after the run. */
  loadavg: { start: number[], end: number[] }
  seconds: number
  metrics: Metrics
  /** Strings the bench recorded with its figures (its `runNotes()`), e.g. where its inputs came from. */
  notes?: Record<string, string>
}

/** A record with the path it was read from, relative to bench/runs. */
export interface LoadedRun extends RunRecord { file: string }

/** What the report asks of git; tests pass their own. */
export interface Git {
  head: () => string
  /**
   * 0 when the paths are the same at both commits; otherwise the number of
   * commits in from..to touching them (at least 1); null when either commit
   * is unknown to the repository.
   */
  codeChanges: (from: string, to: string, paths: readonly string[]) => number | null
}

/** The paper's figures (§VI-A Tables I–II, §VI-B Table III, §VI-C Fig. 6–7). */
export const PAPER = {
  /**
   * Table III as printed: "User" (an Android phone) and "Doctor" (a PC, i7-4790),
   * both labelled ms. The Doctor column is plausible only as seconds: 7.6×10⁻⁶ ms
   * would be 7.6 ns for a SHA-256, less than one compression round on any CPU.
   * So doctor_ms reads it as seconds. The paper does not state the input sizes.
   */
  table3: {
    sha256: { op: 'SHA-256', user_ms: 0.012, doctor_printed: '7.6×10⁻⁶', doctor_ms: 7.6e-6 * 1e3 },
    aes: { op: 'AES-128 encryption (mode not stated)', user_ms: 0.134, doctor_printed: '7.3×10⁻⁵', doctor_ms: 7.3e-5 * 1e3 },
    rsa_enc: { op: 'RSA-1024 encryption', user_ms: 0.209, doctor_printed: '4.3×10⁻⁴', doctor_ms: 4.3e-4 * 1e3 },
    rsa_sign: { op: 'RSA-1024 signing', user_ms: 3.556, doctor_printed: '0.021', doctor_ms: 0.021 * 1e3 }
  },
  /** §VI-B: generation time of each transaction, Android, mean of 10000 runs. */
  gen: { tx_iot_gen_ms_p50: 3.735, tx_key5_gen_ms_p50: 4.809, tx_diag_gen_ms_p50: 0.021 },
  /** §VI-A: transaction sizes (bytes). */
  bytes: { tx_iot_bytes: 132, tx_key5_bytes: 1188, tx_diag_bytes: 164 },
  /** §VI-A: transactions per 1 MB block, and per second at one block a minute. */
  capacity: { capacity_tx_iot_per_mib: 5349, capacity_tx_key5_per_mib: 837, capacity_tx_diag_per_mib: 4599 },
  tps: { tx_iot_per_s_at_1_block_per_min: 89, tx_key5_per_s_at_1_block_per_min: 13, tx_diag_per_s_at_1_block_per_min: 76 },
  /** Table I: prehash, index, gtime, nonce, Merkle root. */
  header: 32 + 32 + 4 + 4 + 32,
  /** §VI-C: after six months, "about 96 seconds" against "about 130", "3MB" against "26MB". */
  fig67: { healthchain_s: 96, traditional_s: 130, healthchain_mb: 3, traditional_mb: 26 }
} as const

/** The project's targets for these figures, as the benches print them (fig67.ts; hub.ts). */
export const TARGETS = { fig6_healthchain_s: 10, fig7_healthchain_mb: 3.8, hub_rss_mb: 300 } as const

/**
 * The paths whose code each bench measures; a change to them between a run's
 * commit and HEAD makes the run stale. Default: hub/src, the bench itself, its
 * timing helpers and the locked dependencies. Entries are git pathspecs
 * (a directory, a file, or a glob such as `bench/_beyond-*.ts`).
 */
const COMMON = ['hub/src', 'bench/_stats.ts', 'package-lock.json']
export const MEASURES: Record<string, readonly string[]> = {
  ingest: ['bench/_ingest-publisher.ts'],
  ipfs: ['bench/_storage-node.ts'],
  flow: ['flows', 'test/helpers/nodered-runtime.ts'],
  hub: ['flows'],
  hubflow: ['flows', 'bench/_ingest-publisher.ts', 'bench/_storage-node.ts', 'bench/ingest.ts'],
  e2e: ['flows', 'test/helpers/devnet-run.ts', 'test/helpers/alert-receivers.ts'],
  // the model, its inputs, and the runs it reads its per-hop costs from
  capacity: ['bench/_capacity-model.ts', 'bench/capacity-inputs.ts', 'bench/runs/core', 'bench/runs/userchain'],
  // its sections (a git pathspec glob: a new section counts too), their timing helper and the test helpers that build their worlds
  beyond: [
    'bench/_beyond-*.ts', 'bench/_load.ts', 'test/helpers/accounting-cluster.ts', 'test/helpers/devnet-run.ts',
    'test/helpers/recovery-history.ts', 'test/helpers/docchain-members.ts', 'test/helpers/crash.ts', 'test/helpers/core.ts'
  ]
}
export function measuredPaths (bench: string): string[] {
  return [...COMMON, `bench/${bench}.ts`, ...(MEASURES[bench] ?? [])]
}

/** At most this many runs of the same code per section. */
export const KEEP = 10

/** How derived numbers were computed (report.json `derived`). */
export type Operand = { run: string, metric: string } | { paper: string }
export type Derived =
  | { op: 'div', value: number, a: Operand, b: Operand }
  | { op: 'codec', value: number, name: 'ublock_header_bytes' | 'dblock_header_bytes' }

export interface ReportOutput {
  markdown: string
  svgs: Record<string, string>
  /** report.json: which runs each section used, and every derived number. */
  report: { head: string, runs: Record<string, string[]>, derived: Derived[] }
}

export const fmt = (x: number | undefined): string =>
  x === undefined || !Number.isFinite(x)
    ? '—'
    : Number.isInteger(x) ? String(x) : Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 1 ? x.toFixed(2) : x.toPrecision(3)

/** A constant or a machine fact as written: up to six significant digits, no padding. */
export const plain = (x: number): string => String(Number(x.toPrecision(6)))

/** The sizes the codec fixes (Table I): recomputed by the report test. */
export function codecFacts (): Record<'ublock_header_bytes' | 'dblock_header_bytes', number> {
  return {
    ublock_header_bytes: UBLOCK_HEADER_BYTES,
    dblock_header_bytes: encodeDblockHeader({ version: DBLOCK_VERSION, index: 0, gtime: 0, prehash: new Uint8Array(32), diagroot: new Uint8Array(32), view: 0, leader: new Uint8Array(32) }).length
  }
}

/** A paper figure by its path in PAPER, e.g. "gen.tx_iot_gen_ms_p50". */
export function paperValue (path: string): number {
  let v: unknown = PAPER
  for (const k of path.split('.')) v = (v as Record<string, unknown>)?.[k]
  if (typeof v !== 'number') throw new Error(`no paper figure ${path}`)
  return v
}

/** git in the repository holding `dir`; paths are from its top level. */
export function gitIn (dir: string): Git {
  const run = (cwd: string, args: string[]): string => execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  const top = run(dir, ['rev-parse', '--show-toplevel'])
  const git = (args: string[]): string => run(top, args)
  return {
    head: () => git(['rev-parse', 'HEAD']),
    codeChanges (from, to, paths) {
      try {
        git(['cat-file', '-e', `${from}^{commit}`])
        git(['cat-file', '-e', `${to}^{commit}`])
      } catch { return null }
      try {
        git(['diff', '--quiet', from, to, '--', ...paths])
        return 0
      } catch {
        return Math.max(1, Number(git(['rev-list', '--count', `${from}..${to}`, '--', ...paths])))
      }
    }
  }
}

/** Every archived run, by bench, newest first. */
export async function loadRuns (runsDir: string): Promise<Record<string, LoadedRun[]>> {
  const out: Record<string, LoadedRun[]> = {}
  let benches: string[]
  try { benches = (await readdir(runsDir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort() } catch { return out }
  for (const bench of benches) {
    const runs: LoadedRun[] = []
    for (const f of (await readdir(join(runsDir, bench))).filter((f) => f.endsWith('.json'))) {
      const rec = JSON.parse(await readFile(join(runsDir, bench, f), 'utf8')) as RunRecord
      runs.push({ ...rec, file: `${bench}/${f}` })
    }
    out[bench] = runs.sort((a, b) => b.date.localeCompare(a.date) || b.file.localeCompare(a.file))
  }
  return out
}

/** The runs a section shows: the newest, and older runs of the same code on the same machine (see the header). */
export function selectRuns (runs: readonly LoadedRun[], git: Git, paths: readonly string[]): LoadedRun[] {
  const newest = runs[0]
  if (newest === undefined) return []
  const sameMachine = (r: LoadedRun): boolean => r.machine.cpu === newest.machine.cpu && r.machine.cores === newest.machine.cores
  // a run with uncommitted changes measured code no commit holds: it groups only with runs of the same commit and the same changes
  const sameCode = newest.dirty
    ? (r: LoadedRun): boolean => r.dirty && r.commit === newest.commit && r.dirtyDigest !== undefined && r.dirtyDigest === newest.dirtyDigest
    : (r: LoadedRun): boolean => !r.dirty && (r.commit === newest.commit || git.codeChanges(r.commit, newest.commit, paths) === 0)
  return runs.filter((r) => r === newest || (sameMachine(r) && sameCode(r))).slice(0, KEEP)
}

/** The data of one section, with what its numbers came from. */
class Section {
  readonly bench: string
  readonly runs: readonly LoadedRun[]
  private readonly derived: Derived[]
  constructor (bench: string, runs: readonly LoadedRun[], derived: Derived[]) {
    this.bench = bench
    this.runs = runs
    this.derived = derived
  }

  get measured (): boolean { return this.runs.length > 0 }
  values (metric: string): Array<{ run: LoadedRun, v: number }> {
    return this.runs.flatMap((run) => typeof run.metrics[metric] === 'number' ? [{ run, v: run.metrics[metric] }] : [])
  }

  has (metric: string): boolean { return this.values(metric).length > 0 }

  /** One value, or min–max (n runs). */
  cell (metric: string): string {
    return range(this.values(metric).map((x) => x.v))
  }

  /** ours ÷ a paper figure, recorded in report.json for every run. */
  ratio (metric: string, paper: string): string {
    const p = paperValue(paper)
    const rs = this.values(metric).map(({ run, v }) => {
      const value = v / p
      this.derived.push({ op: 'div', value, a: { run: run.file, metric }, b: { paper } })
      return value
    })
    return rs.length === 0 ? '—' : `${range(rs)}×`
  }

  /** The latest value, for plots (from the newest run). */
  latest (metric: string): number | undefined { return this.values(metric)[0]?.v }
}

function range (vs: number[]): string {
  if (vs.length === 0) return '—'
  const lo = Math.min(...vs); const hi = Math.max(...vs)
  if (fmt(lo) === fmt(hi)) return fmt(lo)
  return `${fmt(lo)}–${fmt(hi)} (${vs.length} runs)`
}

function machineText (m: RunRecord['machine']): string {
  return `${m.cpu}, ${plain(m.cores)} cores, ${plain(m.memGiB)} GiB, Node ${m.node}`
}

/** Where a section's numbers come from, and whether they still describe the code. */
function provenance (s: Section, git: Git, head: string): string[] {
  if (!s.measured) return [`Not measured yet: run \`npm run bench -- ${s.bench}\`.`, '']
  const L: string[] = []
  const newest = s.runs[0]!
  L.push(`${s.runs.length === 1 ? 'One run' : `${s.runs.length} runs of the same code`} on ${machineText(newest.machine)}:`, '')
  for (const r of s.runs) {
    L.push(`- ${r.date}, commit ${r.commit.slice(0, 12)}${r.dirty ? ' with uncommitted changes' : ''}, load average ${r.loadavg.start.map(plain).join(' ')} → ${r.loadavg.end.map(plain).join(' ')}, ${plain(r.seconds)} s`)
  }
  L.push('')
  const changes = git.codeChanges(newest.commit, head, measuredPaths(s.bench))
  if (changes === null) {
    L.push(`> **Stale:** measured at ${newest.commit.slice(0, 12)} on ${newest.date}, a commit this repository does not have: re-run \`npm run bench -- ${s.bench}\`.`, '')
  } else if (changes > 0) {
    L.push(`> **Stale:** measured at ${newest.commit.slice(0, 12)} on ${newest.date}; the code it measures changed since (${changes} commit${changes === 1 ? '' : 's'}): re-run \`npm run bench -- ${s.bench}\`.`, '')
  }
  const dirty = s.runs.filter((r) => r.dirty)
  if (dirty.length > 0) {
    L.push(`> **Uncommitted code:** ${dirty.map((r) => r.date).join(', ')} ran with uncommitted changes to the code it measures: those figures are of ${dirty.length === 1 ? 'its' : 'their'} commit plus those changes.`, '')
  }
  return L
}

async function svg (spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' })
  return await view.toSVG()
}

/**
 * Builds the report from archived runs (by bench, newest first). `benches`
 * names every bench that exists, so one without a run says so.
 */
export async function buildReport (all: Record<string, LoadedRun[]>, git: Git, benches: readonly string[] = Object.keys(all)): Promise<ReportOutput> {
  const derived: Derived[] = []
  const head = git.head()
  const names = [...new Set([...benches, ...Object.keys(all)])].sort()
  const sections: Record<string, Section> = {}
  for (const name of names) sections[name] = new Section(name, selectRuns(all[name] ?? [], git, measuredPaths(name)), derived)
  const none = new Section('', [], derived)
  const core = sections.core ?? none
  const fig = sections.fig67 ?? none
  const codec = codecFacts()
  const L: string[] = []
  L.push('# Healthchain evaluation', '',
    'Generated by `npm run bench -- report` from the archived runs in [runs/](runs/); do not edit. ' +
    'A value is one run\'s; `a–b (n runs)` is the range over runs of the same code. ' +
    'The paper measured RSA-1024 / AES-128 in Java on an Android phone and in Python on a PC (§VI); ours is TypeScript on Node, with Ed25519, X25519 HPKE and AES-256-GCM. ' +
    `Whether a section is stale is judged against commit ${head.slice(0, 12)}, the HEAD when this report was generated.`, '')

  L.push('## Core (Tables I–III, §VI-A, §VI-B)', '', ...provenance(core, git, head))
  if (core.measured) {
    derived.push({ op: 'codec', name: 'ublock_header_bytes', value: codec.ublock_header_bytes }, { op: 'codec', name: 'dblock_header_bytes', value: codec.dblock_header_bytes })
    L.push('### Table I/II — sizes (bytes)', '', '| item | paper | ours |', '| --- | --- | --- |',
      `| block header | ${plain(PAPER.header)} | Ublock ${plain(codec.ublock_header_bytes)}, Dblock ${plain(codec.dblock_header_bytes)} (fixed by the codec) |`)
    for (const [k, p] of Object.entries(PAPER.bytes)) L.push(`| ${k.replace(/_bytes$/, '')} | ${plain(p)} | ${core.cell(k)} |`)

    const t3 = PAPER.table3
    L.push('', '### Table III — cryptographic operations', '',
      'The paper prints both columns in ms; its Doctor (PC) column is read here as seconds, the only plausible unit (see PAPER in bench/_report.ts), and shown in ms. ' +
      'The operations differ: the paper uses RSA-1024 and AES-128, we use Ed25519, X25519 HPKE and AES-256-GCM. ' +
      'Only rows with the same operation are compared; an Ed25519 signature is not a faster RSA signature.', '',
      '| paper operation | paper User (Android), as printed (ms) | paper Doctor (PC), as printed | paper Doctor (PC), ms | our operation | ours (ms) | ours ÷ paper PC |',
      '| --- | --- | --- | --- | --- | --- | --- |',
      `| ${t3.sha256.op} | ${plain(t3.sha256.user_ms)} | ${t3.sha256.doctor_printed} | ${plain(t3.sha256.doctor_ms)} | SHA-256 of a KiB | ${core.cell('sha256_1k_ms')} | ${core.ratio('sha256_1k_ms', 'table3.sha256.doctor_ms')} |`,
      `| ${t3.aes.op} | ${plain(t3.aes.user_ms)} | ${t3.aes.doctor_printed} | ${plain(t3.aes.doctor_ms)} | AES-256-GCM of a KiB | ${core.cell('aes_gcm_1k_ms')} | ${core.ratio('aes_gcm_1k_ms', 'table3.aes.doctor_ms')} (key size and mode differ) |`,
      `| ${t3.rsa_enc.op} | ${plain(t3.rsa_enc.user_ms)} | ${t3.rsa_enc.doctor_printed} | ${plain(t3.rsa_enc.doctor_ms)} | X25519 HPKE seal of two keys | ${core.cell('envelope_seal_ms')} | different operation |`,
      `| ${t3.rsa_sign.op} | ${plain(t3.rsa_sign.user_ms)} | ${t3.rsa_sign.doctor_printed} | ${plain(t3.rsa_sign.doctor_ms)} | Ed25519 signing | ${core.cell('sign_ms')} | different operation |`)
    if (core.has('verify_ms')) L.push(`| — | — | — | — | Ed25519 verification | ${core.cell('verify_ms')} | — |`)

    L.push('', '### §VI-B — transaction generation (ms)', '',
      'The paper\'s figures are means on the Android phone with RSA-1024; ours are medians on the machine above with Ed25519: different machines and algorithms, so no ratio.', '',
      '| tx | paper (Android) | ours p50 |', '| --- | --- | --- |')
    for (const [k, p] of Object.entries(PAPER.gen)) L.push(`| ${k} | ${plain(p)} | ${core.cell(k)} |`)
    L.push('', '### §VI-A — block capacity and throughput at one block a minute', '',
      'Counted by filling a real block of the same size as the paper\'s.', '',
      '| metric | paper | ours | ours ÷ paper |', '| --- | --- | --- | --- |')
    for (const [group, entries] of [['capacity', PAPER.capacity], ['tps', PAPER.tps]] as const) {
      for (const [k, p] of Object.entries(entries)) L.push(`| ${k} | ${plain(p)} | ${core.cell(k)} | ${core.ratio(k, `${group}.${k}`)} |`)
    }
  }
  L.push('')

  const svgs: Record<string, string> = {}
  L.push('## Fig. 6 and Fig. 7 — six months of one user\'s transactions (§VI-C)', '', ...provenance(fig, git, head))
  if (fig.measured) {
    L.push('One tx_IoT every ten minutes and one tx_key a month to five doctors, against a fresh key sealed to every doctor with every upload: ' +
      '"traditional" sends a tx_IoT and a full tx_key per upload; "traditional lean" one signed envelope transaction per upload ' +
      `(the data's hash and the key sealed to each doctor, ${fig.cell('fig7_traditional_lean_tx_bytes')} bytes). ` +
      `The paper's Fig. 6–7 were measured on the Android phone. Targets for ours: ≤ ${plain(TARGETS.fig6_healthchain_s)} s and ≤ ${plain(TARGETS.fig7_healthchain_mb)} MB.`, '',
      '| six months | paper Healthchain | paper traditional | Healthchain | traditional | traditional lean |', '| --- | --- | --- | --- | --- | --- |',
      `| computation (s) | ${plain(PAPER.fig67.healthchain_s)} | ${plain(PAPER.fig67.traditional_s)} | ${fig.cell('fig6_healthchain_s')} | ${fig.cell('fig6_traditional_s')} | ${fig.cell('fig6_traditional_lean_s')} |`,
      `| communication (MB) | ${plain(PAPER.fig67.healthchain_mb)} | ${plain(PAPER.fig67.traditional_mb)} | ${fig.cell('fig7_healthchain_mb')} | ${fig.cell('fig7_traditional_mb')} | ${fig.cell('fig7_traditional_lean_mb')} |`)
    const months = [1, 2, 3, 4, 5, 6].filter((m) => fig.latest(`fig6_healthchain_s_m${m}`) !== undefined)
    if (months.length > 0) {
      const schemes = [['Healthchain', 'healthchain'], ['traditional (tx_IoT + tx_key per upload)', 'traditional'], ['traditional lean (one envelope tx per upload)', 'traditional_lean']] as const
      const rows = (prefix: string, unit: string): Array<Record<string, unknown>> => months.flatMap((m) => schemes.flatMap(([label, key]) => {
        const v = fig.latest(`${prefix}_${key}_${unit}_m${m}`)
        return v === undefined ? [] : [{ month: m, scheme: label, [unit]: v }]
      }))
      const newest = fig.runs[0]!
      const plot = async (title: string, prefix: string, unit: string, axis: string): Promise<string> => await svg({
        $schema: 'https://vega.github.io/schema/vega-lite/v6.json', title: { text: title, subtitle: `${newest.date}, ${machineText(newest.machine)}` }, width: 480, height: 260,
        data: { values: rows(prefix, unit) }, mark: { type: 'line', point: true },
        encoding: { x: { field: 'month', type: 'ordinal', title: 'month', axis: { labelAngle: 0 } }, y: { field: unit, type: 'quantitative', title: axis }, color: { field: 'scheme', type: 'nominal', legend: { orient: 'bottom', direction: 'vertical', labelLimit: 0, title: null } } }
      })
      svgs['fig6.svg'] = await plot('Fig. 6 — computation cost, one user', 'fig6', 's', 'cumulative seconds')
      svgs['fig7.svg'] = await plot('Fig. 7 — communication cost, one user', 'fig7', 'mb', 'cumulative MB')
      L.push('', 'The plots show the newest run.', '', '![Fig. 6](plots/fig6.svg)', '', '![Fig. 7](plots/fig7.svg)')
    }
  }
  L.push('')

  L.push(...capacitySection(sections.capacity ?? none, git, head))

  L.push('## System benchmarks', '')
  for (const name of names.filter((n) => n !== 'core' && n !== 'fig67' && n !== 'capacity')) {
    const s = sections[name]!
    L.push(`### ${name}`, '', ...provenance(s, git, head))
    if (!s.measured) continue
    const metrics = [...new Set(s.runs.flatMap((r) => Object.keys(r.metrics)))]
    L.push('| metric | value |', '| --- | --- |', ...metrics.map((k) => `| ${k} | ${s.cell(k)} |`), '')
  }
  const hub = sections.hub ?? none
  L.push(`Hub memory with everything running (RSS of the devnet process, which also hosts every other role: an upper bound for the hub; target for the hub ≤ ${plain(TARGETS.hub_rss_mb)} MB): ` +
    `${hub.has('hub_rss_mb') ? `${hub.cell('hub_rss_mb')} MB` : 'not measured yet'}.`, '')

  const runs: Record<string, string[]> = {}
  for (const [name, s] of Object.entries(sections)) if (s.measured) runs[name] = s.runs.map((r) => r.file)
  return { markdown: L.join('\n'), svgs, report: { head, runs, derived } }
}

/**
 * The capacity plan (bench/capacity.ts): the sweep, the best row, what the
 * plan asks of a core node, and every input with its source. Every number
 * and source comes from the newest capacity run's metrics and notes (the run
 * records the inputs it used), so the table cannot drift from the model.
 */
function capacitySection (s: Section, git: Git, head: string): string[] {
  const L: string[] = ['## Capacity plan — patients one Userchain carries (§III-A, §IV-B1, §VI-C)', '', ...provenance(s, git, head)]
  if (!s.measured) return L
  const newest = s.runs[0]!
  const v = (k: string): number | undefined => newest.metrics[k]
  const notes = newest.notes ?? {}
  const c = (k: string): string => s.cell(k)
  const list = (prefix: string): number[] => Object.keys(newest.metrics).filter((k) => k.startsWith(prefix)).sort((a, b) => Number(a.slice(prefix.length)) - Number(b.slice(prefix.length))).map((k) => newest.metrics[k]!)
  const sizes = list('sweep_block_mib_'); const intervals = list('sweep_interval_s_'); const nodes = list('sweep_nodes_')
  const key = (mib: number): string => `${String(mib).replace('.', 'p')}m`
  const relay = (compact: number | undefined): string => compact === 1 ? 'compact' : 'full'
  L.push('A discrete-event model ([capacity.ts](capacity.ts), [_capacity-model.ts](_capacity-model.ts); inputs and their sources in [capacity-inputs.ts](capacity-inputs.ts), listed below) ' +
    `of ${c('nodes')} core nodes in a random peer graph (each opens ${c('input_network_outboundPeers')} connections), ${c('miners')} of them mining with equal hash power. ` +
    'Each miner\'s block crosses the graph hop by hop: per-link latency, transfer at the lesser of the sender\'s upload and the receiver\'s download with the sender serving one peer after another, ' +
    'and the per-hop cost measured by the userchain bench. Full relay validates the whole block (every signature) before announcing it; compact relay (BIP152) sends header and short ids, ' +
    'rebuilds the block from the mempool, relays before validating and accepts after the cost of accepting a block whose txs are in the mempool. ' +
    `Blocks are then mined as a Poisson process, ${c('blocks_per_cell')} per cell, each miner extending the best block it has accepted; ` +
    'the orphan rate is the share of blocks (deeper than six below the final tip) off the final main chain. t90 is the mean over miners of the time until nine in ten nodes have accepted the block. ' +
    `Patients: block space per second over one patient's bytes per second at the paper's rates (one tx_IoT per ${c('input_rates_txIotPeriodS')} s, one tx_key per ${c('input_rates_txKeyPeriodS')} s). ` +
    `Seed ${c('seed')}.`, '')
  const met = v('goal_met') === 1
  L.push(`**Goal:** ${c('input_goal_patients')} patients at orphan rate ≤ ${c('input_goal_maxOrphanRate')}. ` +
    (met
      ? `**Met:** ${relay(v('best_relay_compact'))} relay, ${c('best_block_mib')} MiB blocks every ${c('best_interval_s')} s carry ${c('patients_per_network_best')} patients at orphan rate ${c('orphan_rate_at_best')}.`
      : `**Not met by any swept parameter set.** The most patients within the orphan bound: ${c('patients_per_network_best')} (${relay(v('best_relay_compact'))} relay, ${c('best_block_mib')} MiB every ${c('best_interval_s')} s, orphan rate ${c('orphan_rate_at_best')}, t90 ${c('t90_s_at_best')} s). ` +
        `The set that carries the goal with the fewest orphans is ${relay(v('plan_relay_compact'))} relay, ${c('plan_block_mib')} MiB every ${c('plan_interval_s')} s: ${c('plan_patients')} patients at orphan rate ${c('plan_orphan_rate')} (t90 ${c('plan_t90_s')} s). ` +
        `Binding limit there: **${notes.binding_limit ?? '—'}**, the cost whose removal lowers the orphan rate most` +
        (['validation', 'transfer', 'latency'].some((k) => (v(`plan_orphan_rate_without_${k}`) ?? 1) <= (v('input_goal_maxOrphanRate') ?? 0))
          ? '.'
          : '; no single cost removed brings it within the bound (see below).')), '',
    `An orphan rate is counted over one cell's blocks: at the bound its standard error is ${c('orphan_rate_standard_error_at_bound')}.`, '')

  L.push('### Sweep', '', `Block size × interval on ${c('nodes')} nodes; orphan rate as a fraction of blocks.`, '',
    '| block MiB | interval s | patients | full relay: orphan rate | full: t90 s | compact relay: orphan rate | compact: t90 s |', '| --- | --- | --- | --- | --- | --- | --- |')
  for (const mib of sizes) {
    for (const sec of intervals) {
      const mark = (mode: string): string => {
        const o = v(`${mode}_${key(mib)}_${sec}s_orphan_rate`)
        const limit = v('input_goal_maxOrphanRate')
        return o !== undefined && limit !== undefined && o <= limit ? ` ✓` : ''
      }
      const isBest = v('best_block_mib') === mib && v('best_interval_s') === sec
      L.push(`| ${plain(mib)} | ${plain(sec)} | ${c(`patients_${key(mib)}_${sec}s`)}${isBest ? ' **(best)**' : ''} | ${c(`full_${key(mib)}_${sec}s_orphan_rate`)}${mark('full')} | ${c(`full_${key(mib)}_t90_s`)} | ${c(`compact_${key(mib)}_${sec}s_orphan_rate`)}${mark('compact')} | ${c(`compact_${key(mib)}_t90_s`)} |`)
    }
  }
  L.push('', '✓ = within the orphan bound.', '')

  L.push('### Which limit binds', '',
    `At the plan's row (${relay(v('plan_relay_compact'))} relay, ${c('plan_block_mib')} MiB every ${c('plan_interval_s')} s), the orphan rate with one cost removed at a time, and under two what-ifs:`, '',
    '| case | orphan rate | t90 s |', '| --- | --- | --- |',
    `| as measured | ${c('plan_orphan_rate')} | ${c('plan_t90_s')} |`,
    `| without validation (no CPU per hop) | ${c('plan_orphan_rate_without_validation')} | — |`,
    `| without transfer time (infinite bandwidth) | ${c('plan_orphan_rate_without_transfer')} | — |`,
    `| without latency | ${c('plan_orphan_rate_without_latency')} | — |`,
    `| block acceptance at ${c('input_whatIf_acceptMsPerMiB')} ms per MiB | ${c('plan_orphan_rate_accept_target')} | ${c('plan_t90_s_accept_target')} |`,
    `| every node's bandwidth ×${c('input_whatIf_bandwidthScale')} | ${c('plan_orphan_rate_fast_links')} | ${c('plan_t90_s_fast_links')} |`,
    `| both | ${c('plan_orphan_rate_accept_target_fast_links')} | ${c('plan_t90_s_accept_target_fast_links')} |`)
  for (const n of nodes.filter((n) => n !== v('nodes'))) L.push(`| on ${plain(n)} nodes | ${c(`plan_orphan_rate_n${n}`)} | ${c(`plan_t90_s_n${n}`)} |`)
  const ref = (k: string): string => c(`input_references_${k}`)
  L.push('', 'Read against published figures (other networks and years, so a check of order of magnitude only): ' +
    `Decker and Wattenhofer measured a median of ${ref('dwMedianS')} s (mean ${ref('dwMeanS')} s) for a Bitcoin block to reach a node, about ${ref('dwMsPerKb')} ms more per kB, and a fork rate of ${ref('dwForkRate')}; ` +
    `the model's full relay, which like that Bitcoin validates before relaying, has a block of ${plain(sizes[0] ?? 0)} MiB reach half the nodes in ${c(`full_${key(sizes[0] ?? 0)}_t50_s`)} s. ` +
    `Croman et al. found that for nine in ten Bitcoin nodes to keep their throughput, blocks should not exceed ${ref('cromanMaxBlockMB')} MB at Bitcoin's interval, nor the interval be shorter than ${ref('cromanMinIntervalS')} s.`, '')

  L.push('### What the plan asks of a core node, and why hubs must be light nodes', '',
    `At the plan's row, with the per-tx and per-block costs measured on the userchain bench's machine (${c('input_bench_cores')} cores):`, '',
    '| per core node | value |', '| --- | --- |',
    `| disk, chain only (GB/day) | ${c('core_node_disk_gb_per_day')} |`,
    `| disk (TB/year) | ${c('core_node_disk_tb_per_year')} |`,
    `| traffic in + out (GB/day) | ${c('core_node_bandwidth_gb_per_day')} |`,
    `| mean traffic (Mbit/s) | ${c('core_node_bandwidth_mbit_s_mean')} |`,
    `| txs and signature checks per day | ${c('core_node_signature_checks_per_day')} |`,
    `| CPU (core-hours/day: mempool admission + block acceptance) | ${c('core_node_cpu_core_hours_per_day')} |`,
    `| share of the bench machine busy | ${c('core_node_cpu_busy_fraction')} |`,
    `| of which signature checks, as a share of its Ed25519 verify capacity (all cores) | ${c('core_node_verify_capacity_share')} |`,
    `| mean peer degree | ${c('peer_degree_mean')} |`, '',
    `A hub on a Raspberry Pi with ${c('input_hub_piStorageGB')} GB of storage would fill it with the full chain in ${c('pi_days_until_full_node_fills_storage')} days, ` +
    `and a full node's mean traffic is ${c('pi_upload_share_of_core_bandwidth')}× a ${c('input_hub_piUploadMbit')} Mbit/s home uplink. ` +
    `As a light node (the paper's lightweight user node, §III-A: block headers only) it stores ${c('light_node_headers_mb_per_year')} MB of headers a year and sends only its own transactions. ` +
    'So at this scale hubs are light nodes and the chain is kept by a smaller set of core nodes in data centres.', '')

  L.push('### Inputs', '', 'Measured by this repository\'s benches (newest archived run when the capacity bench ran; the fallback constant otherwise):', '',
    '| input | value used | measured | from |', '| --- | --- | --- | --- |')
  for (const [name, metric] of [['capacity_tx_iot_per_mib', 'input_capacity_tx_iot_per_mib'], ['tx_iot_bytes', 'input_tx_iot_bytes'], ['tx_key5_bytes', 'input_tx_key5_bytes'],
    ['block_validate_ms', 'input_block_validate_ms_per_mib'], ['block_accept_ms_premempool', 'input_block_accept_ms_premempool_per_mib'],
    ['mempool_admit_tx_per_s', 'input_mempool_admit_tx_per_s'], ['verify_capacity_per_s', 'input_verify_capacity_per_s'], ['cores', 'input_bench_cores']] as const) {
    L.push(`| ${name} | ${c(metric)} | ${v(`input_${name}_measured`) === 1 ? 'yes' : 'no: fallback'} | ${notes[`input_${name}`] ?? '—'} |`)
  }
  L.push('', 'Published figures, the paper\'s, protocol constants and estimates (each says which):', '', '| input | value | source [unit] |', '| --- | --- | --- |')
  for (const [group, entries] of Object.entries(CAPACITY_INPUTS)) {
    for (const name of Object.keys(entries)) {
      const k = `${group}_${name}`
      if (notes[`source_${k}`] === undefined) continue
      L.push(`| ${group}.${name} | ${c(`input_${k}`)} | ${notes[`source_${k}`]} |`)
    }
  }
  L.push('')
  return L
}

/** The bench names: bench/<name>.ts except run.ts and the _helpers. */
export async function benchNames (benchDir: string): Promise<string[]> {
  return (await readdir(benchDir)).filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.startsWith('_')).map((f) => f.slice(0, -3)).sort()
}

/** Reads bench/runs, writes REPORT.md, plots/*.svg and runs/report.json. */
export async function writeReport (benchDir: string, git: Git = gitIn(benchDir), benches?: readonly string[]): Promise<ReportOutput> {
  const runsDir = join(benchDir, 'runs')
  const out = await buildReport(await loadRuns(runsDir), git, benches ?? await benchNames(benchDir))
  await mkdir(join(benchDir, 'plots'), { recursive: true })
  for (const [f, s] of Object.entries(out.svgs)) await writeFile(join(benchDir, 'plots', f), s)
  await writeFile(join(benchDir, 'REPORT.md'), out.markdown)
  await mkdir(runsDir, { recursive: true })
  await writeFile(join(runsDir, 'report.json'), JSON.stringify(out.report, null, 2) + '\n')
  return out
}
