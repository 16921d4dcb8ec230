import t from 'tap'
import { analyze, type Diagnosis, type VitalReading } from '../../hub/src/ai/analyzer.ts'
import { EpisodeTracker, groupByEpisode, stepEpisode, type EpisodeStep } from '../../hub/src/ai/episodes.ts'
import { SCENARIOS, T0, trace } from '../helpers/vital-scenarios.ts'

/** A labelled scenario with an abnormal phase in minutes 3–7 of 10 (the fall: one event at minute 5), cut into one-minute batches. */
function batches (seed: number, s: typeof SCENARIOS[number]): VitalReading[][] {
  const rs = trace(seed, (i) => (i >= 36 && i < 84 ? s.vitals : {}), s.extra)
  const out: VitalReading[][] = []
  for (let m = 0; m < 10; m++) out.push(rs.filter((r) => r.ts >= T0 + m * 60_000 && r.ts < T0 + (m + 1) * 60_000))
  return out
}

function run (seed: number, s: typeof SCENARIOS[number]): EpisodeStep[] {
  const tracker = new EpisodeTracker()
  return batches(seed, s).map((b, m) => tracker.step('patient', { id: `b${m}`, diagnosis: analyze(b) }))
}

t.test('labelled scenarios (5 × 10 seeds): one episode per abnormal phase, none when normal', async (t) => {
  for (let seed = 1; seed <= 10; seed++) {
    for (const s of SCENARIOS) {
      const steps = run(seed, s)
      const opened = steps.filter((x) => x.change === 'opened')
      const resolved = steps.filter((x) => x.change === 'resolved')
      if (s.codes.length === 0) {
        t.same(steps.map((x) => x.change), Array(10).fill('normal'), `${s.name} #${seed}: no episode`)
        continue
      }
      t.equal(opened.length, 1, `${s.name} #${seed}: opened once`)
      t.equal(resolved.length, 1, `${s.name} #${seed}: closed once, on recovery`)
      const o = steps.indexOf(opened[0]!)
      const r = steps.indexOf(resolved[0]!)
      t.ok(o >= 3 && o <= 5, `${s.name} #${seed}: opened in the abnormal phase (batch ${o})`)
      t.ok(r > o && steps.slice(r + 1).every((x) => x.change === 'normal'), `${s.name} #${seed}: nothing after it closed`)
      t.ok(steps.slice(o + 1, r).every((x) => x.change !== 'opened'), `${s.name} #${seed}: the batches between update it`)
      t.equal(opened[0]!.ref!.id, 'b' + String(o), 'the episode is named by its first batch')
      t.equal(resolved[0]!.ref!.id, opened[0]!.ref!.id, 'and closed under that name')
      const signed = steps.filter((x) => x.matters).length
      t.ok(signed <= 3, `${s.name} #${seed}: ${signed} diagnoses for the episode (≤ 3)`)
      t.same(steps.slice(o, r + 1).filter((x) => !x.matters).map((x) => x.change).filter((c) => c !== 'continuing' && c !== 'recovering'), [], 'the others only continue or recover')
    }
  }
})

const dx = (severity: Diagnosis['severity'], codes: string[], from: number, to = from + 55_000): Diagnosis => ({
  ...analyze([]), severity, findings: codes.map((code) => ({ code, text: code, severity, snomed: '' })) as unknown as Diagnosis['findings'], readings: { count: 1, from, to, types: [] }
})

t.test('update: worsening and a new finding matter, the same again does not', async (t) => {
  const a = stepEpisode(undefined, { id: 'a', diagnosis: dx('urgent', ['hypoxaemia'], 0) })
  t.equal(a.change, 'opened')
  const b = stepEpisode(a.episode, { id: 'b', diagnosis: dx('urgent', ['hypoxaemia'], 60_000) })
  t.same([b.change, b.matters], ['continuing', false])
  const c = stepEpisode(b.episode, { id: 'c', diagnosis: dx('emergency', ['hypoxaemia'], 120_000) })
  t.same([c.change, c.matters, c.episode!.peak], ['worsened', true, 'emergency'])
  const d = stepEpisode(c.episode, { id: 'd', diagnosis: dx('urgent', ['hypoxaemia', 'tachycardia'], 180_000) })
  t.same([d.change, d.matters], ['new-finding', true], 'a new finding, though less severe than the peak')
  const spo2 = (x: number, from: number): Diagnosis => ({ ...dx('urgent', ['hypoxaemia'], from), observations: { spo2: x } })
  const w1 = stepEpisode(d.episode, { id: 'w1', diagnosis: spo2(88, 200_000) })
  t.same([w1.change, w1.episode!.reported.spo2], ['continuing', undefined], 'a first value is no change (none was reported)')
  const w1b = stepEpisode(w1.episode, { id: 'w1b', diagnosis: { ...spo2(88, 205_000), findings: [...spo2(88, 0).findings, { code: 'fever', text: '', severity: 'low', snomed: '' }] } })
  t.same([w1b.change, w1b.episode!.reported.spo2], ['new-finding', 88], 'what a signed diagnosis reports is the reference')
  const w2 = stepEpisode(w1b.episode, { id: 'w2', diagnosis: spo2(86, 210_000) })
  t.equal(w2.change, 'continuing', 'two points lower: within the noise')
  const w3 = stepEpisode(w2.episode, { id: 'w3', diagnosis: spo2(85, 220_000) })
  t.same([w3.change, w3.matters, w3.episode!.reported.spo2], ['worsened', true, 85], 'a slow drift, three points below what was reported: worse, at the same severity')
  const e = stepEpisode(w3.episode, { id: 'e', diagnosis: dx('low', ['tachycardia'], 240_000) })
  t.equal(e.change, 'continuing', 'improving is not news until it is over')
  const f = stepEpisode(e.episode, { id: 'f', diagnosis: dx('routine', [], 300_000) }, { recoveryMs: 120_000 })
  t.same([f.change, f.matters], ['recovering', false], 'normal for less than the recovery time')
  const g = stepEpisode(f.episode, { id: 'g', diagnosis: dx('urgent', ['hypoxaemia'], 360_000) }, { recoveryMs: 120_000 })
  t.equal(g.change, 'continuing', 'abnormal again while recovering: the same episode')
  t.equal(g.episode!.normalSince, undefined, 'and the recovery starts over')
  const h = stepEpisode(g.episode, { id: 'h', diagnosis: dx('routine', [], 420_000) }, { recoveryMs: 0 })
  t.same([h.change, h.ref, h.episode!.closed, h.episode!.batches.length], ['resolved', { id: 'a', change: 'resolved', opened: 0 }, 475_000, 12])
})

t.test('grouping for the pages: by episode, duplicates dropped, newest group first', async (t) => {
  const items = [
    { id: 'x1', ep: 'A', at: 1, what: 'opened' },
    { id: 'x2', ep: 'A', at: 2, what: 'opened' },
    { id: 'x3', ep: undefined, at: 3, what: 'single' },
    { id: 'x4', ep: 'A', at: 4, what: 'resolved' }
  ]
  const g = groupByEpisode(items, (x) => ({ own: x.id, ...(x.ep === undefined ? {} : { episode: x.ep }), at: x.at }), (a, b) => a.what === b.what)
  t.same(g.map((x) => [x.id, x.items.map((i) => i.id)]), [['A', ['x1', 'x4']], ['x3', ['x3']]])
})
