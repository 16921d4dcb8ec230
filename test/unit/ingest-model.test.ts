/**
 * The reading model around the line: FHIR Observation with LOINC codes,
 * replay marks per (device, boot), the bounded line splitter, and the
 * aggregation rules (window, size, event thresholds).
 */
import t from 'tap'
import { parseLine, formatLine } from '../../hub/src/ingest/line.ts'
import type { Reading } from '../../hub/src/ingest/line.ts'
import { toObservation } from '../../hub/src/ingest/fhir.ts'
import { BOOTS_PER_DEVICE, ReplayGuard } from '../../hub/src/ingest/replay.ts'
import { LineSplitter } from '../../hub/src/ingest/lines.ts'
import { Aggregator, DEFAULT_WINDOW_MS, crosses, parseFlushCondition, parseThreshold } from '../../hub/src/ingest/aggregate.ts'
import { Batcher } from '../../hub/src/nodered/batcher.ts'
import { BadFieldError } from '../../hub/src/ingest/errors.ts'

const R = (t: Reading['type'], v: number | number[], s = 0): Reading => parseLine(formatLine({ d: 'dev-1', b: 1, s, t, v, ts: 0 }))

t.test('FHIR Observation with LOINC codes and UCUM units', async (t) => {
  const ctx = { user: 'alice', receivedAt: Date.UTC(2026, 0, 1) }
  const code = (r: Reading): unknown => (toObservation(r, ctx).code as { coding: Array<{ system: string, code: string }> }).coding[0]
  t.match(code(R('hr', 72)), { system: 'http://loinc.org', code: '8867-4' })
  t.match(code(R('spo2', 97)), { system: 'http://loinc.org', code: '59408-5' })
  t.match(code(R('temp', 37)), { system: 'http://loinc.org', code: '8310-5' })
  t.match(code(R('rr', 14)), { system: 'http://loinc.org', code: '9279-1' })
  t.match(code(R('bp', [120, 80])), { system: 'http://loinc.org', code: '85354-9' })
  const hr = toObservation(R('hr', 72), ctx)
  t.match(hr, { resourceType: 'Observation', status: 'final', valueQuantity: { value: 72, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' }, effectiveDateTime: '2026-01-01T00:00:00.000Z', subject: { identifier: { value: 'alice' } } })
  const bp = toObservation(R('bp', [132, 85]), ctx) as { component: Array<{ code: { coding: Array<{ code: string }> }, valueQuantity: { value: number, code: string } }>, valueQuantity?: unknown }
  t.same(bp.component.map((c) => [c.code.coding[0]!.code, c.valueQuantity.value, c.valueQuantity.code]), [['8480-6', 132, 'mm[Hg]'], ['8462-4', 85, 'mm[Hg]']], 'systolic and diastolic components')
  t.equal(bp.valueQuantity, undefined, 'the panel itself has no value')
  const ecg = toObservation(R('ecg', [0.1, 0.2, -0.3]), { ...ctx, ecgPeriodMs: 2 }) as { valueSampledData: { data: string, period: number, origin: { code: string } } }
  t.same(ecg.valueSampledData, { origin: { value: 0, unit: 'mV', system: 'http://unitsofmeasure.org', code: 'mV' }, period: 2, dimensions: 1, data: '0.1 0.2 -0.3' })
  const fall = toObservation(R('fall', 1), ctx)
  t.equal(fall.valueBoolean, true)
  t.match(fall.code, { coding: [{ system: 'http://snomed.info/sct', code: '1912002' }] })
  t.equal(toObservation(R('hr', 72, 9), ctx).id, 'dev-1-1-9', 'id from (device, boot, seq)')
})

t.test('replay guard per (device, boot, seq)', async (t) => {
  const g = new ReplayGuard()
  t.ok(g.isFresh('a', 1, 0))
  g.accept('a', 1, 0)
  t.notOk(g.isFresh('a', 1, 0), 'same reading again')
  t.ok(g.isFresh('a', 1, 1))
  g.accept('a', 1, 5)
  t.notOk(g.isFresh('a', 1, 3), 'older seq of the same boot')
  t.ok(g.isFresh('a', 2, 0), 'a new boot restarts the sequence')
  t.ok(g.isFresh('b', 1, 0), 'other devices are independent')
  g.accept('a', 2, 0)
  t.notOk(g.isFresh('a', 1, 5), 'the old boot is still remembered')
  g.rollback('a', 2, 0, undefined)
  t.ok(g.isFresh('a', 2, 0), 'rollback after a failed write lets the retransmission in')
  // seq 6..8 written in one commit that failed: rejections arrive in order 6, 7, 8
  g.accept('a', 3, 5)
  g.accept('a', 3, 6)
  g.accept('a', 3, 7)
  g.accept('a', 3, 8)
  g.rollback('a', 3, 6, 5)
  g.rollback('a', 3, 7, 6)
  g.rollback('a', 3, 8, 7)
  t.equal(g.mark('a', 3), 5, 'a whole failed commit rolls back to before its first reading')
  for (let b = 10; b < 10 + BOOTS_PER_DEVICE; b++) g.accept('a', b, 0)
  t.equal(g.mark('a', 1), undefined, 'memory per device is bounded')
})

t.test('line splitter: chunks, CRLF, oversize skipped to the newline', async (t) => {
  const sp = new LineSplitter(16)
  t.same(sp.push(Buffer.from('abc\r\nde')), [{ kind: 'line', text: 'abc' }])
  t.same(sp.push(Buffer.from('f\n\n')), [{ kind: 'line', text: 'def' }], 'empty lines ignored')
  t.same(sp.push(Buffer.from('x'.repeat(10))), [])
  t.same(sp.push(Buffer.from('x'.repeat(30))), [], 'nothing until the newline')
  t.same(sp.push(Buffer.from('yy\nok\n')), [{ kind: 'oversize', bytes: 43 }, { kind: 'line', text: 'ok' }])
  t.same(sp.push(Buffer.from('x'.repeat(15) + '\n')), [{ kind: 'line', text: 'x'.repeat(15) }], 'exactly the bound (newline included)')
  t.same(sp.push(Buffer.from('x'.repeat(16) + '\n')), [{ kind: 'oversize', bytes: 17 }])
  sp.push(Buffer.from('partial'))
  sp.reset()
  t.same(sp.push(Buffer.from('new\n')), [{ kind: 'line', text: 'new' }], 'reset drops a partial line')
})

t.test('aggregation: window, size, event thresholds', async (t) => {
  t.equal(new Aggregator().windowMs, DEFAULT_WINDOW_MS, 'default window 10 min')
  t.equal(DEFAULT_WINDOW_MS, 600_000)
  const a = new Aggregator({ windowMs: 1000, maxReadings: 3 })
  t.equal(a.add('u', R('spo2', 97), 60, 0), null)
  t.equal(a.add('u', R('spo2', 96), 60, 10), null)
  t.equal(a.nextDeadline(), 1000)
  t.same(a.due(999), [])
  t.same(a.due(1000), ['u'], 'window elapsed')
  t.equal(a.add('u', R('spo2', 95), 60, 20), 'size', 'third reading fills the batch')
  a.reset('u')
  t.equal(a.nextDeadline(), undefined)
  t.equal(a.add('u', R('spo2', 89), 60, 30), 'event', 'SpO2 < 90 flushes at once')
  t.equal(a.add('v', R('fall', 1), 60, 30), 'event', 'a fall flushes at once')
  t.equal(a.add('w', R('hr', 140), 60, 30), 'event', 'tachycardia')
  t.equal(a.add('x', R('bp', [85, 60]), 60, 30), 'event', 'systolic below 91')
  t.equal(a.add('y', R('bp', [120, 80]), 60, 30), null, 'normal blood pressure')
  const e = new Aggregator({ windowMs: 1000 })
  t.equal(e.add('u', R('spo2', 89), 60, 30), 'event', 'the crossing flushes')
  t.equal(e.add('u', R('spo2', 87), 60, 31), null, 'SpO2 still < 90: the rest of the desaturation waits for the window (one flush per crossing, not one paid batch per reading)')
  t.equal(e.add('u', R('fall', 1), 60, 32), 'event', 'a fall always flushes')
  t.equal(e.add('u', R('spo2', 95), 60, 33), null, 'SpO2 recovers')
  t.equal(e.add('u', R('spo2', 88), 60, 34), 'event', 'and crosses again: flushes again')
  t.equal(e.add('u', { ...R('spo2', 86), device: 'ox-2' }, 60, 35), 'event', 'another device\'s crossing is its own')
  const big = new Aggregator({ maxBytes: 200 })
  t.equal(big.add('u', R('hr', 70), 90, 0), null)
  t.equal(big.add('u', R('hr', 70), 90, 0), 'bytes', 'next reading would pass the byte bound')
  const custom = new Aggregator({ thresholds: [parseThreshold('spo2<94')] })
  t.equal(custom.add('u', R('spo2', 93), 60, 0), 'event', 'configurable threshold')
  t.equal(custom.add('u', R('fall', 1), 60, 0), null, 'only the configured thresholds fire')
  // the batch node's rules (news2>=N) and the aggregator's thresholds are one rule (ingest/flush-rule.ts)
  const news2 = new Aggregator({ thresholds: [parseFlushCondition('news2>=3'), parseFlushCondition('fall')] })
  t.equal(news2.add('u', R('spo2', 95), 60, 0), null, 'SpO2 95 % scores NEWS2 1: waits')
  t.equal(news2.add('u', R('spo2', 91), 60, 1), 'event', 'SpO2 91 % scores 3: flushes')
  t.equal(news2.add('u', R('spo2', 88), 60, 2), null, 'still red: waits')
  t.equal(news2.add('v', R('spo2', 88), 60, 2), 'event', 'another user\'s crossing is its own')
  t.equal(news2.add('u', R('fall', 1), 60, 3), 'event', 'a fall always flushes')
  const batcher = new Batcher({ size: 0, eventTypes: ['spo2<90'] })
  t.same(batcher.add({ d: 'ox-1', b: 1, s: 1, t: 'spo2', v: 89, u: '%', ts: 1 }).map((b) => b.trigger), ['event'], 'and the batch node reads the aggregator\'s threshold syntax')
  t.same(batcher.add({ d: 'ox-1', b: 1, s: 2, t: 'spo2', v: 88, u: '%', ts: 2 }), [], 'with the same crossing rule')
})

t.test('threshold syntax', async (t) => {
  t.same(parseThreshold('spo2<90'), { type: 'spo2', op: '<', limit: 90 })
  t.same(parseThreshold('bp[1]>120'), { type: 'bp', op: '>', limit: 120, index: 1 })
  t.same(parseThreshold('fall'), { type: 'fall', op: 'any', limit: 0 })
  t.throws(() => parseThreshold('glucose<3'), BadFieldError)
  t.throws(() => parseThreshold('spo2<<9'), BadFieldError)
  t.ok(crosses(parseThreshold('bp[1]>120'), R('bp', [130, 125])))
  t.notOk(crosses(parseThreshold('bp[1]>120'), R('bp', [130, 85])))
})
