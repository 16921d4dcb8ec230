import t from 'tap'
import { cp, readFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { execFileSync } from 'node:child_process'
import { buildReport, fmt, loadRuns, measuredPaths, paperValue, plain, writeReport, PAPER, TARGETS, type Derived, type Git, type ReportOutput, type RunRecord } from '../../bench/_report.ts'
import { UBLOCK_HEADER_BYTES, encodeDblockHeader, DBLOCK_VERSION } from '../../hub/src/core/index.ts'

const FIXTURE = new URL('../fixtures/bench-results/', import.meta.url).pathname
const BENCH = new URL('../../bench/', import.meta.url).pathname
const A = 'a'.repeat(40); const B = 'b'.repeat(40); const OLD = '0'.repeat(40); const HEAD = 'c'.repeat(40)

/** A git whose history is a table: code changes between pairs of commits (0 = same code). */
function fakeGit (changes: Record<string, number | null>, head = HEAD): Git {
  return {
    head: () => head,
    codeChanges: (from, to) => from === to ? 0 : changes[`${from}..${to}`] ?? null
  }
}
// A and B measure the same code, OLD other code; B..HEAD as each test says
const history = (bToHead: number): Git => fakeGit({ [`${A}..${B}`]: 0, [`${OLD}..${B}`]: 4, [`${A}..${HEAD}`]: bToHead, [`${B}..${HEAD}`]: bToHead })

/** Every string and number in a JSON value. */
function walk (v: unknown, nums: number[], strs: string[]): void {
  if (typeof v === 'number') nums.push(v)
  else if (typeof v === 'string') strs.push(v)
  else if (v !== null && typeof v === 'object') for (const x of Object.values(v)) walk(x, nums, strs)
}

/**
 * The numbers of a report that no source explains. Allowed: fmt() or plain() of a number
 * in the runs report.json cites, of a PAPER or TARGETS constant, or of a
 * derived value recomputed here from those runs (ratios) or from the codec
 * (header sizes). The records' strings (dates, commits, CPU, Node), prefixes
 * of their commits and of the HEAD the report was judged against, citations
 * (Fig. 6) and counts of runs or commits are text.
 */
async function unexplainedNumbers (markdown: string, report: ReportOutput['report'], readRun: (file: string) => Promise<RunRecord>): Promise<string[]> {
  const nums: number[] = []; const strs: string[] = []; const commits: string[] = [report.head]
  const records = new Map<string, RunRecord>()
  for (const files of Object.values(report.runs)) {
    for (const f of files) {
      const r = await readRun(f)
      records.set(f, r)
      commits.push(r.commit)
      walk(r, nums, strs)
    }
  }
  walk(PAPER, nums, strs)
  walk(TARGETS, nums, [])
  const bad: string[] = []
  for (const d of report.derived as Derived[]) {
    let want: number
    if (d.op === 'codec') {
      want = d.name === 'ublock_header_bytes'
        ? UBLOCK_HEADER_BYTES
        : encodeDblockHeader({ version: DBLOCK_VERSION, index: 0, gtime: 0, prehash: new Uint8Array(32), diagroot: new Uint8Array(32), view: 0, leader: new Uint8Array(32) }).length
    } else {
      const value = (o: typeof d.a): number => 'paper' in o ? paperValue(o.paper) : records.get(o.run)?.metrics[o.metric] ?? Number.NaN
      want = value(d.a) / value(d.b)
    }
    if (fmt(want) !== fmt(d.value)) bad.push(`derived ${JSON.stringify(d)} recomputes to ${want}`)
    else nums.push(d.value)
  }
  const allowed = new Set([...nums.map(fmt), ...nums.map(plain)])
  let text = markdown
  for (const s of [...new Set(strs)].sort((a, b) => b.length - a.length)) text = text.split(s).join(' ')
  text = text.replace(/\b[0-9a-f]{7,40}\b/g, (h) => commits.some((c) => c.startsWith(h)) ? ' ' : h)
    .replace(/Fig\. \d+(?:[–-]\d+)?/g, ' ')
    .replace(/\b\d+ (?:runs?|commits?)\b/g, ' ')
  for (const tok of text.match(/(?<![\w.-])\d+(?:\.\d+)?(?![\w.]\d)(?!\w)/g) ?? []) if (!allowed.has(tok)) bad.push(tok)
  return bad
}

const fromDir = (dir: string) => async (file: string): Promise<RunRecord> => JSON.parse(await readFile(join(dir, file), 'utf8')) as RunRecord

t.test('one run: its values beside the paper\'s, and where they come from', async (t) => {
  const out = await buildReport(await loadRuns(FIXTURE), history(0), ['core', 'fig67', 'hub', 'net', 'pbft'])
  const md = out.markdown
  t.match(md, /\| tx_key5 \| 1188 \| 777 \|/, 'size row: paper beside ours')
  t.match(md, /\| tx_iot_gen_ms_p50 \| 3\.735 \| 0\.0247 \|/, 'generation row, no ratio across machines and algorithms')
  t.match(md, /\| capacity_tx_iot_per_mib \| 5349 \| 7598 \| 1\.42× \|/, 'capacity with ours ÷ paper')
  t.match(md, /One run on Test CPU, 2 cores, 23\.5 GiB, Node v24\.0\.0/, 'the machine is stated')
  t.match(md, /- 2026-11-25T03:34:14Z, commit aaaaaaaaaaaa, load average 0\.5 0\.4 0\.3 → 1\.25 0\.6 0\.35, 12\.5 s/, 'date, commit and load of the run')
  t.notMatch(md, /Stale/, 'no staleness when the code is unchanged')
  t.match(md, /### net\n\nNot measured yet: run `npm run bench -- net`\./, 'a bench without runs says so')
  t.match(md, /target for the hub ≤ 300 MB\): 212 MB\./, 'hub memory line')
  t.same(out.report.runs.core, ['core/2026-11-25T033414Z-aaaaaaaaaa.json'], 'report.json names the runs used')
  t.match(md, /judged against commit cccccccccccc, the HEAD when this report was generated/)
  t.equal(out.report.head, HEAD)
})

t.test('Table III: the paper as printed and in ms; only the same operations compared', async (t) => {
  const md = (await buildReport(await loadRuns(FIXTURE), history(0))).markdown
  t.match(md, /\| SHA-256 \| 0\.012 \| 7\.6×10⁻⁶ \| 0\.0076 \| SHA-256 of a KiB \| 0\.00431 \| 0\.567× \|/, 'SHA-256: Doctor column as seconds, in ms, with a ratio')
  t.match(md, /\| AES-128 encryption \(mode not stated\) \| 0\.134 \| 7\.3×10⁻⁵ \| 0\.073 \| AES-256-GCM of a KiB \| 0\.0271 \| 0\.371×/)
  t.match(md, /\| RSA-1024 signing \| 3\.556 \| 0\.021 \| 21 \| Ed25519 signing \| 0\.0193 \| different operation \|/, 'no speed-up claimed across algorithms')
  t.match(md, /\| RSA-1024 encryption \| 0\.209 \| 4\.3×10⁻⁴ \| 0\.43 \| X25519 HPKE seal of two keys \| 0\.161 \| different operation \|/)
})

t.test('several runs of the same code give a range; other code is left out', async (t) => {
  const out = await buildReport(await loadRuns(FIXTURE), history(0))
  t.match(out.markdown, /\| pbft_n4_tx_per_s \| 3213–3347 \(2 runs\) \|/, 'range over the two runs of the same code')
  t.match(out.markdown, /\| pbft_p50_ms_100tps \| 8\.51–12\.04 \(2 runs\) \|/)
  t.notMatch(out.markdown, /977/, 'the run of other code is not shown')
  t.notMatch(out.markdown, /1235|55\.50/, 'nor an older run with uncommitted changes')
  t.match(out.markdown, /2 runs of the same code on Test CPU/)
  t.same(out.report.runs.pbft, ['pbft/2026-12-07T022000Z-bbbbbbbbbb.json', 'pbft/2026-12-07T021000Z-aaaaaaaaaa.json'])
  const allSame = await buildReport(await loadRuns(FIXTURE), fakeGit({ [`${A}..${B}`]: 0, [`${OLD}..${B}`]: 0, [`${B}..${HEAD}`]: 0, [`${A}..${HEAD}`]: 0 }))
  t.match(allSame.markdown, /\| pbft_n4_tx_per_s \| 977–3347 \(3 runs\) \|/, 'with no code change between them, every run counts')
})

t.test('a section older than the code it measures says so', async (t) => {
  const md = (await buildReport(await loadRuns(FIXTURE), history(3))).markdown
  t.match(md, /> \*\*Stale:\*\* measured at bbbbbbbbbbbb on 2026-12-07T02:20:00Z; the code it measures changed since \(3 commits\): re-run `npm run bench -- pbft`\./)
  t.match(md, /> \*\*Stale:\*\* measured at aaaaaaaaaaaa on 2026-11-25T03:34:14Z; the code it measures changed since \(3 commits\): re-run `npm run bench -- core`\./)
  const unknown = (await buildReport(await loadRuns(FIXTURE), fakeGit({ [`${A}..${B}`]: 0 }))).markdown
  t.match(unknown, /measured at bbbbbbbbbbbb on 2026-12-07T02:20:00Z, a commit this repository does not have/, 'a commit git does not know is stale too')
})

t.test('a run with uncommitted changes says so', async (t) => {
  const md = (await buildReport(await loadRuns(FIXTURE), history(0))).markdown
  t.match(md, /- 2026-11-25T04:00:00Z, commit bbbbbbbbbbbb with uncommitted changes/)
  t.match(md, /### hub\n[^#]*> \*\*Uncommitted code:\*\* 2026-11-25T04:00:00Z ran with uncommitted changes/)
  t.notMatch(md.split('### hub')[0]!, /Uncommitted code/, 'clean runs do not')
  // the newest pbft run (commit B) made dirty: it groups with the dirty run of B only when their changes are the same
  const dirtyNewest = async (digest: string): Promise<string> => {
    const runs = await loadRuns(FIXTURE)
    runs.pbft = runs.pbft!.map((r) => r.date === '2026-12-07T02:20:00Z' ? { ...r, dirty: true, dirtyDigest: digest } : r)
    return (await buildReport(runs, history(0))).markdown
  }
  t.match(await dirtyNewest('d2'), /\| pbft_n4_tx_per_s \| 3347 \|/, 'other uncommitted changes: shown alone, never in a range with clean runs')
  t.match(await dirtyNewest('d1'), /\| pbft_n4_tx_per_s \| 1235–3347 \(2 runs\) \|/, 'the same commit and changes: one range')
})

t.test('a stored beyond run goes stale when its sections or the helpers that build their worlds change', async (t) => {
  // the same pathspecs the staleness check hands to git (codeChanges, dirtyState)
  const root = new URL('../../', import.meta.url).pathname
  const files = execFileSync('git', ['ls-files', '--', ...measuredPaths('beyond')], { cwd: root, encoding: 'utf8' }).split('\n')
  for (const f of ['bench/beyond.ts', 'bench/_beyond-emergency.ts', 'bench/_beyond-fhir.ts', 'bench/_beyond-recovery.ts', 'test/helpers/accounting-cluster.ts', 'test/helpers/devnet-run.ts']) t.ok(files.includes(f), f)
  t.notOk(files.includes('test/helpers/doctor-world.ts'), 'a helper it does not use does not count')
})

t.test('Fig. 6/7: both traditional baselines, plotted', async (t) => {
  const out = await buildReport(await loadRuns(FIXTURE), history(0))
  t.match(out.markdown, /\| communication \(MB\) \| 3 \| 26 \| 3\.54 \| 23\.70 \| 18\.90 \|/, 'paper, ours and both baselines')
  t.match(out.markdown, /one signed envelope transaction per upload \(the data's hash and the key sealed to each doctor, 728 bytes\)/)
  for (const f of ['fig6.svg', 'fig7.svg']) {
    t.match(out.svgs[f], /^<svg/, `${f} is an SVG`)
    for (const s of ['Healthchain', 'traditional (tx_IoT', 'traditional lean']) t.match(out.svgs[f], s, `${f} has the ${s} line`)
  }
})

t.test('every number of a generated report is explained, and the check catches one that is not', async (t) => {
  const out = await buildReport(await loadRuns(FIXTURE), history(2), ['core', 'fig67', 'hub', 'net', 'pbft'])
  t.same(await unexplainedNumbers(out.markdown, out.report, fromDir(FIXTURE)), [])
  const edited = out.markdown.replace('| pbft_n4_tx_per_s | 3213–3347 (2 runs) |', '| pbft_n4_tx_per_s | 3213–3350 (2 runs) |')
  t.same(await unexplainedNumbers(edited, out.report, fromDir(FIXTURE)), ['3350'], 'a hand-edited figure is found')
  const forged = { ...out.report, derived: out.report.derived.map((d) => d.op === 'div' && 'metric' in d.a && d.a.metric === 'sha256_1k_ms' ? { ...d, value: 0.1 } : d) }
  t.match(await unexplainedNumbers(out.markdown, forged, fromDir(FIXTURE)), [/^derived .*recomputes/, '0.567'], 'a derived value that does not recompute is found')
})

t.test('writeReport writes the report, the plots and report.json from runs/', async (t) => {
  const dir = t.testdir({ runs: {} })
  await cp(FIXTURE, join(dir, 'runs'), { recursive: true })
  await writeReport(dir, history(0), ['core', 'fig67', 'pbft'])
  t.match(await readFile(join(dir, 'REPORT.md'), 'utf8'), /^# Healthchain evaluation/)
  t.same((await readdir(join(dir, 'plots'))).sort(), ['fig6.svg', 'fig7.svg'])
  const report = JSON.parse(await readFile(join(dir, 'runs', 'report.json'), 'utf8')) as ReportOutput['report']
  t.same(report.runs.fig67, ['fig67/2026-11-25T034000Z-aaaaaaaaaa.json'])
  t.ok(report.derived.some((d) => d.op === 'div'), 'derived values recorded')
  t.same(Object.keys(await loadRuns(join(dir, 'runs'))).sort(), ['core', 'fig67', 'hub', 'pbft'], 'report.json is not read as a bench')
})

t.test('the committed bench/REPORT.md: every number comes from the committed runs', async (t) => {
  const md = await readFile(join(BENCH, 'REPORT.md'), 'utf8')
  const report = JSON.parse(await readFile(join(BENCH, 'runs', 'report.json'), 'utf8')) as ReportOutput['report']
  t.ok(Object.keys(report.runs).length > 0, 'the report cites archived runs')
  t.same(await unexplainedNumbers(md, report, fromDir(join(BENCH, 'runs'))), [])
  for (const [bench, files] of Object.entries(report.runs)) {
    for (const f of files) t.match(md, (await fromDir(join(BENCH, 'runs'))(f)).date, `${bench}: the run of ${f} is cited in the report`)
  }
})
