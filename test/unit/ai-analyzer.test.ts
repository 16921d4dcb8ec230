import t from 'tap'
import { news2, scorePulse, scoreRespRate, scoreSpo2Scale1, scoreSpo2Scale2, scoreSystolic, scoreTemperature } from '../../hub/src/ai/news2.ts'
import { analyze, review, type VitalReading } from '../../hub/src/ai/analyzer.ts'
import { toDiagnosticReport } from '../../hub/src/ai/fhir.ts'
import { rPeaks, rrIrregularity } from '../../hub/src/ai/signals.ts'
import { rng, SCENARIOS, trace } from '../helpers/vital-scenarios.ts'

t.test('NEWS2 chart 1 sub-scores at every band boundary', async (t) => {
  const check = (name: string, f: (x: number) => number, table: Array<[number, number]>): void => {
    for (const [x, s] of table) t.equal(f(x), s, `${name} ${x} → ${s}`)
  }
  check('resp rate', scoreRespRate, [[8, 3], [9, 1], [11, 1], [12, 0], [20, 0], [21, 2], [24, 2], [25, 3]])
  check('SpO2 scale 1', scoreSpo2Scale1, [[91, 3], [92, 2], [93, 2], [94, 1], [95, 1], [96, 0]])
  check('SpO2 scale 2 on air', (x) => scoreSpo2Scale2(x, false), [[83, 3], [84, 2], [85, 2], [86, 1], [87, 1], [88, 0], [92, 0], [93, 0], [99, 0]])
  check('SpO2 scale 2 on oxygen', (x) => scoreSpo2Scale2(x, true), [[92, 0], [93, 1], [94, 1], [95, 2], [96, 2], [97, 3]])
  check('systolic', scoreSystolic, [[90, 3], [91, 2], [100, 2], [101, 1], [110, 1], [111, 0], [219, 0], [220, 3]])
  check('pulse', scorePulse, [[40, 3], [41, 1], [50, 1], [51, 0], [90, 0], [91, 1], [110, 1], [111, 2], [130, 2], [131, 3]])
  check('temperature', scoreTemperature, [[35.0, 3], [35.1, 1], [36.0, 1], [36.1, 0], [38.0, 0], [38.1, 1], [39.0, 1], [39.1, 2]])
  t.equal(news2({ onOxygen: true }).subscores.air, 2, 'supplemental oxygen scores 2')
  t.equal(news2({ consciousness: 'V' }).subscores.consciousness, 3, 'new confusion / voice scores 3')
  t.equal(news2({ consciousness: 'A' }).total, 0)
})

t.test('NEWS2 chart 2 clinical risk', async (t) => {
  t.equal(news2({ pulse: 72, spo2: 98, respRate: 15, temperature: 36.8, systolic: 120 }).risk, 'low')
  t.equal(news2({ pulse: 72, spo2: 90 }).risk, 'low-medium', 'a single red score')
  t.equal(news2({ pulse: 115, spo2: 93, temperature: 38.5 }).risk, 'medium', 'total 5')
  t.equal(news2({ pulse: 135, spo2: 90, respRate: 22 }).risk, 'high', 'total 8')
})

const codes = (rs: VitalReading[]): string[] => analyze(rs).findings.map((f) => f.code).sort()

t.test('labelled scenarios are classified correctly (10 seeds each)', async (t) => {
  for (let seed = 1; seed <= 10; seed++) {
    for (const s of SCENARIOS) t.same(codes(trace(seed, () => s.vitals, s.extra)), s.codes, `${s.name} #${seed}`)
  }
  const d = analyze(trace(3, (i) => (i >= 40 && i < 80 ? { spo2: 86, hr: 104 } : {})))
  t.equal(d.severity, 'urgent', 'a desaturation episode in the middle of a batch is urgent')
  t.ok(d.findings.some((f) => f.code === 'hypoxaemia'))
  t.equal(analyze(trace(4, () => ({ spo2: 85, hr: 135, rr: 26 }))).severity, 'emergency', 'NEWS2 ≥ 7 is an emergency')
  const spike = trace(5, () => ({})).map((r, i) => (i === 300 && r.t === 'spo2' ? { ...r, v: 70 } : r))
  t.same(codes(spike), [], 'a lone artefact spike is not a finding')
  t.same(analyze(trace(6, (i) => ({ spo2: 98 - i * 0.1 }))).findings.map((f) => f.code).includes('deteriorating-trend'), true, 'falling SpO2 trend')
})

function ecg (seed: number, irregular: boolean, hz = 250, seconds = 20): number[] {
  const r = rng(seed)
  const out = new Array<number>(hz * seconds).fill(0).map(() => (r() - 0.5) * 0.05)
  let at = 100
  while (at < out.length - 10) {
    for (let k = -3; k <= 3; k++) out[at + k] = (out[at + k] ?? 0) + 1.2 * (1 - Math.abs(k) / 4)
    const rr = irregular ? 0.45 + r() * 0.6 : 0.8 + (r() - 0.5) * 0.04
    at += Math.round(rr * hz)
  }
  return out
}

t.test('arrhythmia: irregular R–R intervals on ECG, regular rhythm passes', async (t) => {
  const toReadings = (samples: number[]): VitalReading[] => {
    const out: VitalReading[] = []
    for (let i = 0; i < samples.length; i += 250) out.push({ t: 'ecg', v: samples.slice(i, i + 250), ts: 1_790_000_000_000 + (i / 250) * 1000 })
    return out
  }
  const regular = ecg(1, false)
  const peaks = rPeaks(regular, 250)
  t.ok(peaks.length >= 22 && peaks.length <= 26, `about 24 beats in 20 s at 75/min (found ${peaks.length})`)
  t.ok(rrIrregularity(peaks).cv < 0.05)
  for (let seed = 1; seed <= 5; seed++) {
    t.same(codes(toReadings(ecg(seed, false))), [], `regular #${seed}`)
    t.same(codes(toReadings(ecg(seed, true))), ['arrhythmia'], `irregular #${seed}`)
  }
})

t.test('bad input is ignored, human review, FHIR report', async (t) => {
  const d = analyze([{ t: 'hr', v: Number.NaN, ts: 1 }, { t: 'spo2', v: 'x' as unknown as number, ts: 2 }, null as unknown as VitalReading, { t: 'nope', v: 1, ts: 3 }, { t: 'temp', v: 37, ts: Number.NaN }])
  t.equal(d.severity, 'routine')
  t.same(d.findings, [])
  const urgent = analyze(trace(2, () => ({ spo2: 88 })))
  const signed = review(urgent, 'dr-who', { note: 'called the patient' })
  t.equal(signed.status, 'final')
  t.equal(signed.severity, 'urgent', 'review keeps the severity unless amended')
  t.equal(review(urgent, 'dr-who', { severity: 'emergency' }).severity, 'emergency')
  const report = toDiagnosticReport(signed, { user: 'u', doctor: 'd', issued: '2026-11-25T00:00:00Z' })
  t.equal(report.resourceType, 'DiagnosticReport')
  t.equal(report.status, 'final')
  t.match(report.conclusionCode, [{ coding: [{ system: 'http://snomed.info/sct', code: '389087006' }] }])
  t.match(report.conclusion, /^urgent: SpO₂ 8\d %/)
})
