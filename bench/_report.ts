/**
 * The evaluation report (issue "Evaluation"): reads every bench's
 * bench/results/<name>.json and writes bench/REPORT.md with SVG plots in
 * bench/plots/, plus bench/results/report.json (all metrics, flat) and
 * bench/results/<date>.json. Every number comes from the measurement files;
 * the paper's figures are the only constants here, each cited.
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { cpus, totalmem } from 'node:os'
import { join } from 'node:path'
import * as vega from 'vega'
import { compile, type TopLevelSpec } from 'vega-lite'
import { UBLOCK_HEADER_BYTES, encodeDblockHeader, DBLOCK_VERSION } from '../hub/src/core/index.ts'

type Metrics = Record<string, number>

/** The paper's figures (Table I–III, §VI-A, §VI-B). */
const PAPER = {
  table3: { sha256_1k_ms: [0.012, 7.6e-6], aes_gcm_1k_ms: [0.134, 7.3e-5], envelope_seal_ms: [0.209, 4.3e-4], sign_ms: [3.556, 0.021] },
  gen: { tx_iot_gen_ms_p50: 3.735, tx_key5_gen_ms_p50: 4.809, tx_diag_gen_ms_p50: 0.021 },
  bytes: { tx_iot_bytes: 132, tx_key5_bytes: 1188, tx_diag_bytes: 164 },
  capacity: { capacity_tx_iot_per_mib: 5349, capacity_tx_key5_per_mib: 837, capacity_tx_diag_per_mib: 4599 },
  tps: { tx_iot_per_s_at_1_block_per_min: 89, tx_key5_per_s_at_1_block_per_min: 13, tx_diag_per_s_at_1_block_per_min: 76 },
  header: 32 + 32 + 4 + 4 + 32 // Table I: prehash, index, gtime, nonce, Merkle root
} as const

export interface ReportOutput { markdown: string, svgs: Record<string, string>, report: Metrics }

const fmt = (x: number | undefined): string => x === undefined || !Number.isFinite(x) ? '—' : Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 1 ? x.toFixed(2) : x.toPrecision(3)
const ratio = (ours: number | undefined, paper: number): string => ours === undefined ? '—' : `${fmt(ours / paper)}×`

async function svg (spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' })
  return await view.toSVG()
}

function machine (): string {
  const c = cpus()
  return `${c[0]?.model ?? 'unknown CPU'}, ${c.length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`
}

export async function loadResults (dir: string): Promise<Record<string, Metrics>> {
  const out: Record<string, Metrics> = {}
  for (const f of (await readdir(dir)).filter((f) => f.endsWith('.json') && f !== 'report.json' && !/^\d{4}-\d\d-\d\d/.test(f)).sort()) {
    out[f.slice(0, -5)] = JSON.parse(await readFile(join(dir, f), 'utf8')) as Metrics
  }
  return out
}

export async function buildReport (results: Record<string, Metrics>, when = new Date()): Promise<ReportOutput> {
  const core = results.core ?? {}
  const fig = results.fig67 ?? {}
  const report: Metrics = {}
  for (const m of Object.values(results)) Object.assign(report, m)
  const L: string[] = []
  L.push('# Healthchain evaluation', '', `Measured ${when.toISOString()} on ${machine()}.`, '',
    'Each row: the paper\'s figure (RSA-1024 / AES-128 on a PC or an Android phone, §VI), ours, and ours ÷ paper.', '')
  L.push('## Table I/II — sizes (bytes)', '', '| item | paper | ours |', '| --- | --- | --- |',
    `| block header | ${PAPER.header} | Ublock ${UBLOCK_HEADER_BYTES}, Dblock ${encodeDblockHeader({ version: DBLOCK_VERSION, index: 0, gtime: 0, prehash: new Uint8Array(32), diagroot: new Uint8Array(32), view: 0, leader: new Uint8Array(32) }).length} |`)
  for (const [k, p] of Object.entries(PAPER.bytes)) L.push(`| ${k.replace(/_bytes$/, '')} | ${p} | ${fmt(core[k])} |`)
  L.push('', '## Table III — cryptographic operations (ms)', '', '| operation | paper Android | paper PC | ours | ours ÷ PC |', '| --- | --- | --- | --- | --- |')
  for (const [k, [android, pc]] of Object.entries(PAPER.table3)) L.push(`| ${k} | ${android} | ${pc} | ${fmt(core[k])} | ${ratio(core[k], pc)} |`)
  L.push('', '## §VI-B — transaction generation (ms)', '', '| tx | paper | ours p50 | ratio |', '| --- | --- | --- | --- |')
  for (const [k, p] of Object.entries(PAPER.gen)) L.push(`| ${k} | ${p} | ${fmt(core[k])} | ${ratio(core[k], p)} |`)
  L.push('', '## §VI-A — block capacity and throughput at one block a minute', '', '| metric | paper | ours | ratio |', '| --- | --- | --- | --- |')
  for (const [k, p] of [...Object.entries(PAPER.capacity), ...Object.entries(PAPER.tps)]) L.push(`| ${k} | ${p} | ${fmt(core[k])} | ${ratio(core[k], p)} |`)

  const svgs: Record<string, string> = {}
  const months = [1, 2, 3, 4, 5, 6].filter((m) => fig[`fig6_healthchain_s_m${m}`] !== undefined)
  if (months.length > 0) {
    const rows = (prefix: string, unit: string): Array<Record<string, unknown>> => months.flatMap((m) => [
      { month: m, scheme: 'Healthchain', [unit]: fig[`${prefix}_healthchain_${unit}_m${m}`] },
      { month: m, scheme: 'digital envelope per upload', [unit]: fig[`${prefix}_traditional_${unit}_m${m}`] }])
    const plot = async (title: string, prefix: string, unit: string, axis: string): Promise<string> => await svg({
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json', title: `${title} — ${machine()}`, width: 480, height: 260,
      data: { values: rows(prefix, unit) }, mark: { type: 'line', point: true },
      encoding: { x: { field: 'month', type: 'ordinal', title: 'month', axis: { labelAngle: 0 } }, y: { field: unit, type: 'quantitative', title: axis }, color: { field: 'scheme', type: 'nominal' } }
    })
    svgs['fig6.svg'] = await plot('Fig. 6 — computation cost, one user', 'fig6', 's', 'cumulative seconds')
    svgs['fig7.svg'] = await plot('Fig. 7 — communication cost, one user', 'fig7', 'mb', 'cumulative MB')
    L.push('', '## Fig. 6 and Fig. 7 — six months of one user\'s transactions', '',
      '1 tx_IoT every 10 minutes, 1 tx_key a month to 5 doctors, against a fresh key sealed to every doctor with every upload. Targets: ≤ 10 s and ≤ 3.8 MB for ours.', '',
      '| | Healthchain | digital envelope |', '| --- | --- | --- |',
      `| computation, 6 months (s) | ${fmt(fig.fig6_healthchain_s)} | ${fmt(fig.fig6_traditional_s)} |`,
      `| communication, 6 months (MB) | ${fmt(fig.fig7_healthchain_mb)} | ${fmt(fig.fig7_traditional_mb)} |`, '',
      '![Fig. 6](plots/fig6.svg)', '', '![Fig. 7](plots/fig7.svg)')
  }
  const system = Object.entries(results).filter(([name]) => !['core', 'fig67'].includes(name))
  L.push('', '## System benchmarks', '')
  if (system.length === 0) L.push('No system bench results were found.')
  for (const [name, m] of system) {
    L.push(`### ${name}`, '', '| metric | value |', '| --- | --- |', ...Object.entries(m).map(([k, v]) => `| ${k} | ${fmt(v)} |`), '')
  }
  L.push('', `Hub memory with everything running (RSS of the devnet process, which also hosts every other role: an upper bound for the hub; target for the hub ≤ 300 MB): ${report.hub_rss_mb === undefined ? 'not measured in this run' : `${fmt(report.hub_rss_mb)} MB`}.`, '')
  return { markdown: L.join('\n'), svgs, report }
}

/** Reads bench/results, writes REPORT.md, plots/*.svg, results/report.json and results/<date>.json. */
export async function writeReport (benchDir: string, when = new Date()): Promise<ReportOutput> {
  const resultsDir = join(benchDir, 'results')
  const out = await buildReport(await loadResults(resultsDir), when)
  await mkdir(join(benchDir, 'plots'), { recursive: true })
  for (const [f, s] of Object.entries(out.svgs)) await writeFile(join(benchDir, 'plots', f), s)
  await writeFile(join(benchDir, 'REPORT.md'), out.markdown)
  await writeFile(join(resultsDir, 'report.json'), JSON.stringify(out.report, null, 2) + '\n')
  await writeFile(join(resultsDir, `${when.toISOString().slice(0, 10)}.json`), JSON.stringify(out.report, null, 2) + '\n')
  return out
}
