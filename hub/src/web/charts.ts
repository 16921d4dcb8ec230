/**
 * Vitals charts for the pages, drawn on the hub with Vega-Lite (Satyanarayan
 * et al., "Vega-Lite: A Grammar of Interactive Graphics", 2017) and sent as
 * inline SVG: the page needs no script and nothing from the internet, and
 * the readings never leave the hub except inside the logged-in page. One
 * chart per device and sensor type; blood pressure draws systolic and
 * diastolic, ECG draws the latest strip of samples. Each vital has a fixed
 * clinical y range with its normal band shaded (ai/units.ts), so a wobble
 * of one point never looks like a crash; times are the hub's local time,
 * one label per tick interval.
 */
import type { TopLevelSpec } from 'vega-lite'
import { isVital, VITALS, vitalText } from '../ai/units.ts'
import type { ReadingView, Sustained } from './model.ts'

export interface Chart {
  readonly device: string
  readonly type: string
  readonly unit: string
  readonly title: string
  /** the value the tile shows: the sustained value of the analysis behind the alerts when there is one, else the latest reading */
  readonly latest: string
  /** what `latest` is */
  readonly latestIs: 'sustained' | 'latest'
  readonly at: number
  /** SVG markup from Vega */
  readonly svg: string
}

const TITLES: Record<string, string> = { hr: 'Heart rate', spo2: 'SpO₂', temp: 'Temperature', bp: 'Blood pressure', rr: 'Respiratory rate', ecg: 'ECG', fall: 'Falls' }
const UNITS: Record<string, string> = { '/min': '/min', '%': '%', Cel: '°C', 'mm[Hg]': 'mmHg', mV: 'mV', 1: '' }

export function sensorTitle (type: string): string { return TITLES[type] ?? type }
export function unitText (ucum: string): string { return UNITS[ucum] ?? ucum }

export function valueText (r: Pick<ReadingView, 'type' | 'value' | 'unit'>): string {
  const u = unitText(r.unit)
  if (typeof r.value === 'number' && isVital(r.type)) return vitalText(r.type, r.value)
  if (r.type === 'bp' && Array.isArray(r.value)) return `${r.value[0]}/${r.value[1]} ${u}`
  if (r.type === 'ecg' && Array.isArray(r.value)) return `${r.value.length} samples`
  if (r.type === 'fall') return 'fall detected'
  return `${typeof r.value === 'number' ? r.value : JSON.stringify(r.value)}${u === '%' ? '' : ' '}${u}`.trim()
}

type Point = { at: number, v: number | null, series: string }

/** Readings as chart points; a gap of more than `gapMs` without readings breaks the line (a null point). */
function points (rs: readonly ReadingView[], gapMs: number): Point[] {
  const out: Point[] = []
  let prev: number | undefined
  for (const r of rs) {
    const series = r.type === 'bp' ? ['systolic', 'diastolic'] : [sensorTitle(r.type)]
    if (prev !== undefined && r.at - prev > gapMs) for (const x of series) out.push({ at: prev + 1, v: null, series: x })
    prev = r.at
    if (typeof r.value === 'number') out.push({ at: r.at, v: r.value, series: series[0]! })
    else if (r.type === 'bp' && typeof r.value[0] === 'number' && typeof r.value[1] === 'number') {
      out.push({ at: r.at, v: r.value[0], series: 'systolic' }, { at: r.at, v: r.value[1], series: 'diastolic' })
    }
  }
  return out
}

/** Ticks of one minute, 2, 5, 10, 15, 30 or 60 minutes: about five labels, none repeated. */
function timeAxis (span: number): object {
  const minutes = span / 60_000
  const step = [1, 2, 5, 10, 15, 30, 60].find((m) => minutes / m <= 5) ?? 120
  return { format: '%H:%M', labelOverlap: true, tickCount: { interval: step >= 60 ? 'hours' : 'minutes', step: step >= 60 ? step / 60 : step } }
}

function spec (description: string, values: object[], x: object, y: object, color?: object, band?: readonly [number, number]): TopLevelSpec {
  const line = { mark: { type: 'line', interpolate: 'monotone', point: values.length <= 30, invalid: 'break-paths-show-domains' }, encoding: { x, y, ...(color === undefined ? {} : { color }) } }
  const yField = (y as { field: string, scale?: object, title?: unknown })
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    description,
    width: 320,
    height: 90,
    background: 'transparent',
    data: { values },
    ...(band === undefined
      ? line
      : {
          layer: [
            // the normal band, shaded under the line
            { data: { values: [{ lo: band[0], hi: band[1] }] }, mark: { type: 'rect', color: '#2da44e', opacity: 0.12 }, encoding: { y: { field: 'lo', type: 'quantitative', scale: yField.scale, title: yField.title }, y2: { field: 'hi' } } },
            line
          ]
        }),
    config: { axis: { labelFontSize: 10, titleFontSize: 10, grid: true }, legend: { orient: 'bottom', labelFontSize: 10, title: null }, view: { stroke: null } }
  } as TopLevelSpec
}

/**
 * Vega and Vega-Lite are loaded by the first chart drawn, not with the hub:
 * some 13 MB of resident memory only the pages need (README "What the hub
 * costs in memory").
 */
let engine: Promise<[typeof import('vega'), typeof import('vega-lite')]> | undefined
async function toSvg (s: TopLevelSpec): Promise<string> {
  engine ??= Promise.all([import('vega'), import('vega-lite')])
  const [vega, { compile }] = await engine
  const view = new vega.View(vega.parse(compile(s).spec), { renderer: 'none' })
  try { return await view.toSVG() } finally { view.finalize() }
}

/**
 * One chart per (device, type), in a stable order; readings may come in any
 * order. `sustained`: the values of the analysis behind the alerts, shown
 * on the tiles instead of the latest reading so tile and alert agree.
 */
export async function vitalsCharts (readings: readonly ReadingView[], opts: { maxPoints?: number, gapMs?: number, sustained?: Sustained } = {}): Promise<Chart[]> {
  const maxPoints = opts.maxPoints ?? 120
  const gapMs = opts.gapMs ?? 60_000
  const groups = new Map<string, ReadingView[]>()
  for (const r of readings) {
    if (r.type === 'fall') continue
    const k = `${r.device}\u0000${r.type}`
    const g = groups.get(k)
    if (g === undefined) groups.set(k, [r]); else g.push(r)
  }
  const charts: Chart[] = []
  for (const k of [...groups.keys()].sort()) {
    const g = groups.get(k)!.sort((a, b) => a.at - b.at).slice(-maxPoints)
    const last = g[g.length - 1]!
    const title = sensorTitle(last.type)
    const unit = unitText(last.unit)
    let s: TopLevelSpec
    if (last.type === 'ecg' && Array.isArray(last.value)) {
      const values = last.value.map((v, i) => ({ i, v }))
      s = spec(`${title} strip from ${last.device}`, values, { field: 'i', type: 'quantitative', title: 'sample', axis: { labels: false, ticks: false } }, { field: 'v', type: 'quantitative', title: 'mV', scale: { zero: false } })
    } else {
      const values = points(g, gapMs)
      if (!values.some((p) => p.v !== null)) continue
      const v = isVital(last.type) ? VITALS[last.type] : undefined
      s = spec(`${title} from ${last.device}, last ${g.length} readings`, values,
        { field: 'at', type: 'temporal', title: null, scale: { type: 'time' }, axis: timeAxis(g[g.length - 1]!.at - g[0]!.at) },
        { field: 'v', type: 'quantitative', title: unit, scale: v === undefined ? { zero: false } : { domain: [...v.range], clamp: true, nice: false }, axis: { tickCount: 5, format: v === undefined || v.decimals === 0 ? 'd' : '.1f' } },
        last.type === 'bp' ? { field: 'series', type: 'nominal' } : undefined, v?.normal)
    }
    const held = isVital(last.type) ? opts.sustained?.[last.type] : undefined
    const latest = held !== undefined && isVital(last.type) ? vitalText(last.type, held) : valueText(last)
    charts.push({ device: last.device, type: last.type, unit, title, latest, latestIs: held === undefined ? 'latest' : 'sustained', at: last.at, svg: await toSvg(s) })
  }
  return charts
}
