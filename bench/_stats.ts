/** Small timing helpers shared by the benches. */
import { performance } from 'node:perf_hooks'

/** Median and p90 of fn's run time in ms over n runs (after a warm-up). */
export function timeIt (n: number, fn: (i: number) => void): { p50: number, p90: number, mean: number } {
  for (let i = 0; i < Math.min(200, n); i++) fn(i)
  const t: number[] = []
  for (let i = 0; i < n; i++) {
    const s = performance.now()
    fn(i)
    t.push(performance.now() - s)
  }
  t.sort((a, b) => a - b)
  return { p50: t[Math.floor(n / 2)]!, p90: t[Math.floor(n * 0.9)]!, mean: t.reduce((a, b) => a + b, 0) / n }
}

export function table (rows: Array<Array<string | number>>): void {
  const fmt = (v: string | number): string => typeof v === 'number' ? (Math.abs(v) >= 100 || Number.isInteger(v) ? String(Math.round(v * 100) / 100) : v.toPrecision(3)) : v
  const cells = rows.map((r) => r.map(fmt))
  const w = cells[0]!.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)))
  for (const r of cells) console.log(r.map((c, i) => c.padEnd(w[i]!)).join('  '))
}
