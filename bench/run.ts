/**
 * `npm run bench [-- name …]`: runs bench/<name>.ts for each name given (all
 * when none), each of which prints its report and returns a flat
 * metric → number object, written to bench/results/<name>.json.
 */
import { mkdir, readdir, writeFile } from 'node:fs/promises'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { join } from 'node:path'

const dir = fileURLToPath(new URL('.', import.meta.url))
const all = (await readdir(dir)).filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.startsWith('_')).map((f) => f.slice(0, -3)).sort()
const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'))
if (process.argv.includes('--help')) {
  console.log(`usage: npm run bench [-- <name> … | report]\nbenches: ${all.join(', ')}\nresults go to bench/results/<name>.json; with no names every bench runs and bench/REPORT.md is written`)
  process.exit(0)
}
const onlyReport = wanted.length === 1 && wanted[0] === 'report'
const unknown = onlyReport ? [] : wanted.filter((w) => !all.includes(w))
if (unknown.length > 0) {
  console.error(`unknown bench: ${unknown.join(', ')} (have: ${all.join(', ')})`)
  process.exit(2)
}
await mkdir(join(dir, 'results'), { recursive: true })
const failed: string[] = []
for (const name of onlyReport ? [] : wanted.length > 0 ? wanted : all) {
  console.log(`\n=== bench: ${name} ===`)
  const t0 = performance.now()
  try {
    const mod = await import(pathToFileURL(join(dir, `${name}.ts`)).href) as { run: () => Promise<Record<string, number>> }
    const metrics = await mod.run()
    await writeFile(join(dir, 'results', `${name}.json`), JSON.stringify(metrics, null, 2) + '\n')
    console.log(`wrote bench/results/${name}.json (${((performance.now() - t0) / 1000).toFixed(0)} s)`)
  } catch (err) {
    // one failing bench must not hide the others' figures
    failed.push(name)
    console.error(`bench ${name} failed: ${(err as Error).stack ?? String(err)}`)
  }
}

if (wanted.length === 0 || onlyReport) {
  const { writeReport } = await import('./_report.ts')
  await writeReport(dir)
  console.log('wrote bench/REPORT.md, bench/plots/*.svg and bench/results/report.json')
}

if (failed.length > 0) {
  console.error(`failed: ${failed.join(', ')}`)
  process.exitCode = 1
}
