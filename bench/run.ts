/**
 * `npm run bench [-- name … | report]`: runs bench/<name>.ts for each name
 * given (all when none), each of which prints its report and returns a flat
 * metric → number object. Each run writes
 *  - bench/results/<name>.json: that flat object (ignored by git; read by
 *    outside checks), and
 *  - bench/runs/<name>/<UTC time>-<short commit>.json: the archived run
 *    (RunRecord in _report.ts: date, commit, dirty, machine, load averages,
 *    seconds, metrics, and the notes a bench may export as `runNotes()`:
 *    strings such as where its inputs came from), committed.
 * With no names, or with `report` alone, bench/REPORT.md is regenerated from
 * bench/runs (_report.ts).
 */
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { cpus, loadavg, totalmem } from 'node:os'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { join } from 'node:path'
import { benchNames, measuredPaths, type RunRecord } from './_report.ts'

const dir = fileURLToPath(new URL('.', import.meta.url))
const repo = join(dir, '..')
const all = await benchNames(dir)
const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'))
if (process.argv.includes('--help')) {
  console.log(`usage: npm run bench [-- <name> … | report]\nbenches: ${all.join(', ')}\n` +
    'each run writes bench/results/<name>.json and archives bench/runs/<name>/<time>-<commit>.json; ' +
    'with no names every bench runs and bench/REPORT.md is regenerated; `report` only regenerates it from bench/runs')
  process.exit(0)
}
const onlyReport = wanted.length === 1 && wanted[0] === 'report'
const unknown = onlyReport ? [] : wanted.filter((w) => !all.includes(w))
if (unknown.length > 0) {
  console.error(`unknown bench: ${unknown.join(', ')} (have: ${all.join(', ')})`)
  process.exit(2)
}

const git = (args: string[]): string => execFileSync('git', args, { cwd: repo, encoding: 'utf8' }).trim()
const round2 = (x: number): number => Math.round(x * 100) / 100

/**
 * Whether the files the bench measures differ from the commit (modified,
 * staged or new files under its paths), and if so a digest of that
 * difference: runs with the same commit and digest ran the same code.
 */
function dirtyState (bench: string): Pick<RunRecord, 'dirty' | 'dirtyDigest'> {
  const paths = measuredPaths(bench)
  const status = git(['status', '--porcelain', '--untracked-files=all', '--', ...paths])
  if (status === '') return { dirty: false }
  const h = createHash('sha256').update(execFileSync('git', ['diff', 'HEAD', '--binary', '--', ...paths], { cwd: repo }))
  for (const f of git(['ls-files', '--others', '--exclude-standard', '--', ...paths]).split('\n').filter(Boolean).sort()) {
    h.update(f).update(readFileSync(join(repo, f)))
  }
  return { dirty: true, dirtyDigest: h.digest('hex') }
}

/** The record of a run that starts now, but for its metrics and duration. */
function startRecord (bench: string): Omit<RunRecord, 'metrics' | 'seconds'> {
  const c = cpus()
  return {
    bench,
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    commit: git(['rev-parse', 'HEAD']),
    ...dirtyState(bench),
    machine: { cpu: c[0]?.model.trim() ?? 'unknown CPU', cores: c.length, memGiB: Math.round(totalmem() / 2 ** 30 * 10) / 10, node: process.version },
    loadavg: { start: loadavg().map(round2), end: [] }
  }
}

await mkdir(join(dir, 'results'), { recursive: true })
const failed: string[] = []
for (const name of onlyReport ? [] : wanted.length > 0 ? wanted : all) {
  console.log(`\n=== bench: ${name} ===`)
  const rec = startRecord(name)
  const t0 = performance.now()
  try {
    const mod = await import(pathToFileURL(join(dir, `${name}.ts`)).href) as { run: () => Promise<Record<string, number>>, runNotes?: () => Record<string, string> }
    const metrics = await mod.run()
    const notes = mod.runNotes?.()
    const seconds = Math.round((performance.now() - t0) / 100) / 10
    await writeFile(join(dir, 'results', `${name}.json`), JSON.stringify(metrics, null, 2) + '\n')
    const record: RunRecord = { ...rec, loadavg: { start: rec.loadavg.start, end: loadavg().map(round2) }, seconds, metrics, ...(notes === undefined ? {} : { notes }) }
    const file = join('runs', name, `${rec.date.replace(/:/g, '')}-${rec.commit.slice(0, 10)}.json`)
    await mkdir(join(dir, 'runs', name), { recursive: true })
    await writeFile(join(dir, file), JSON.stringify(record, null, 2) + '\n')
    console.log(`wrote bench/results/${name}.json and bench/${file} (${seconds} s${rec.dirty ? ', code with uncommitted changes' : ''})`)
  } catch (err) {
    // one failing bench must not hide the others' figures
    failed.push(name)
    console.error(`bench ${name} failed: ${(err as Error).stack ?? String(err)}`)
  }
}

if (wanted.length === 0 || onlyReport) {
  const { writeReport } = await import('./_report.ts')
  await writeReport(dir)
  console.log('wrote bench/REPORT.md, bench/plots/*.svg and bench/runs/report.json from bench/runs')
} else {
  console.log('archived; `npm run bench -- report` regenerates bench/REPORT.md from bench/runs')
}

if (failed.length > 0) {
  console.error(`failed: ${failed.join(', ')}`)
  process.exitCode = 1
}
