import t from 'tap'
import { cp, readFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { buildReport, loadResults, writeReport } from '../../bench/_report.ts'

const FIXTURE = new URL('../fixtures/bench-results/', import.meta.url).pathname

t.test('tables and plots come from the measurement JSON', async (t) => {
  const results = await loadResults(FIXTURE)
  const out = await buildReport(results, new Date('2026-11-25T00:00:00Z'))
  t.match(out.markdown, /\| tx_key5 \| 1188 \| 777 \|/, 'size row: paper beside ours')
  t.match(out.markdown, /\| tx_iot_gen_ms_p50 \| 3\.735 \| 0\.0247 \| 0\.00661× \|/, 'generation row with the ratio computed')
  t.match(out.markdown, /\| capacity_tx_iot_per_mib \| 5349 \| 7598 \| 1\.42× \|/)
  t.match(out.markdown, /computation, 6 months \(s\) \| 2\.82 \| 33\.18/, 'Fig. 6 totals')
  t.match(out.markdown, /pbft_n4_tx_per_s \| 3142 \|/, 'system bench rows')
  t.match(out.markdown, /target for the hub ≤ 300 MB\): 212 MB/)
  t.match(out.markdown, /Node v\d+/, 'the machine is stated')
  for (const f of ['fig6.svg', 'fig7.svg']) {
    t.match(out.svgs[f], /^<svg/, `${f} is an SVG`)
    t.match(out.svgs[f], /Healthchain/, `${f} has the legend`)
  }
  t.equal(out.report.fig6_healthchain_s, 2.82, 'report.json carries the figures')
  t.equal(out.report.hub_rss_mb, 211.7)
  const changed = await buildReport({ ...results, core: { ...results.core, tx_key5_bytes: 901 } })
  t.match(changed.markdown, /\| tx_key5 \| 1188 \| 901 \|/, 'a different measurement changes the table')
})

t.test('writeReport writes the files', async (t) => {
  const dir = t.testdir({ results: {} })
  await cp(FIXTURE, join(dir, 'results'), { recursive: true })
  await writeReport(dir, new Date('2026-11-25T12:00:00Z'))
  t.match(await readFile(join(dir, 'REPORT.md'), 'utf8'), /^# Healthchain evaluation/)
  t.same((await readdir(join(dir, 'plots'))).sort(), ['fig6.svg', 'fig7.svg'])
  t.equal(JSON.parse(await readFile(join(dir, 'results', 'report.json'), 'utf8')).fig7_healthchain_mb, 3.54)
  t.ok((await readdir(join(dir, 'results'))).includes('2026-11-25.json'), 'dated copy')
})
