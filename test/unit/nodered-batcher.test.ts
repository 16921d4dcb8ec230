/**
 * Batching (paper Alg. 2 line 1; DESIGN §4 1 MiB sealed batches): the pure
 * Batcher behind the batch node — byte-limit, size and event triggers, the
 * exact plaintext size it tracks, and the batch plaintext format that the
 * doctor role (roles/doctor parseBatch) reads back.
 */
import t from 'tap'
import { Batcher, MAX_PLAINTEXT_BYTES, decodeBatch, encodeBatch } from '../../hub/src/nodered/batcher.ts'
import { MAX_SEALED_BYTES, utf8Bytes } from '../../hub/src/core/index.ts'
import { parseBatch } from '../../hub/src/roles/doctor/doctor.ts'
import { reading } from '../helpers/nodered-runtime.ts'

t.test('byte limit: a batch never passes maxBytes and its tracked size is exact', async (t) => {
  const one = encodeBatch([reading('hr', 70, 1)]).length
  const b = new Batcher({ size: 0, maxBytes: one * 3 })
  const closed = []
  for (let s = 1; s <= 20; s++) closed.push(...b.add(reading('hr', 70, s)))
  const last = b.flush('flush')
  t.ok(closed.length >= 5)
  for (const x of [...closed, last!]) {
    t.equal(x.bytes, encodeBatch(x.readings).length, 'tracked size = encoded size')
    t.ok(x.bytes <= one * 3)
  }
  t.ok(closed.every((x) => x.trigger === 'bytes'))
  t.same([...closed, last!].flatMap((x) => x.readings.map((r) => r.s)), Array.from({ length: 20 }, (_, i) => i + 1), 'nothing lost or reordered')
  t.ok(MAX_PLAINTEXT_BYTES + 28 === MAX_SEALED_BYTES, 'default limit leaves room for nonce and tag')
})

t.test('an event reading that also overflows closes two batches: the full one, then itself', async (t) => {
  const one = encodeBatch([reading('hr', 70, 1)]).length
  const b = new Batcher({ size: 0, maxBytes: one * 2, eventTypes: ['fall'] })
  t.same(b.add(reading('hr', 70, 1)), [])
  const out = b.add(reading('fall', 1, 2))
  t.same(out.map((x) => [x.trigger, x.readings.map((r) => r.s)]), [['event', [1, 2]]])
  b.add(reading('hr', 70, 3))
  b.add(reading('hr', 70, 4))
  const two = b.add(reading('fall', 1, 5))
  t.same(two.map((x) => [x.trigger, x.readings.map((r) => r.s)]), [['bytes', [3, 4]], ['event', [5]]])
  t.equal(b.pending, 0)
  t.throws(() => new Batcher({ size: 0, maxBytes: 10 }).add(reading('hr', 70, 1)), /exceeds the batch limit/)
  t.throws(() => new Batcher({ size: -1 }), /size/)
})

t.test('batch plaintext: round-trips, is checked on the way back, and the doctor role reads it', async (t) => {
  const rs = [reading('bp', [120, 80], 1), reading('ecg', [0.1, 0.4, -0.2], 2), reading('fall', 1, 3)]
  t.same(decodeBatch(encodeBatch(rs)), rs)
  t.same(parseBatch(encodeBatch(rs)), rs, 'roles/doctor parseBatch reads the same readings')
  t.throws(() => decodeBatch(utf8Bytes('[1,2]')), /"v":1/)
  t.throws(() => decodeBatch(Uint8Array.of(0xff, 0xfe)), /UTF-8 JSON/)
  t.throws(() => decodeBatch(utf8Bytes(JSON.stringify({ v: 1, readings: [{ ...rs[0], u: 'kPa' }] }))), /readings\[0\]\.u/)
})

t.test('flush rules: an abnormal vital sign by NEWS2 closes its batch at once; normal ones wait for the window', async (t) => {
  const b = new Batcher({ size: 0, eventTypes: ['fall', 'news2>=3'] })
  t.same(b.add(reading('spo2', 95, 1)), [], 'SpO₂ 95 % (NEWS2 1) waits')
  t.same(b.add(reading('hr', 120, 2)), [], 'pulse 120 /min (NEWS2 2) waits')
  const out = b.add(reading('spo2', 91, 3))
  t.same(out.map((x) => [x.trigger, x.readings.map((r) => r.s)]), [['event', [1, 2, 3]]], 'SpO₂ 91 % (NEWS2 3) closes the batch with the readings before it')
  for (const [type, v, what] of [['hr', 131, 'pulse 131'], ['temp', 35, 'temperature 35.0'], ['rr', 25, 'respiration 25'], ['bp', [90, 60], 'systolic 90'], ['fall', 1, 'a fall']] as const) {
    t.equal(b.add(reading(type, v as number | number[], 10))[0]?.trigger, 'event', `${what} closes it`)
  }
  t.same(b.add(reading('spo2', 88, 11)), [], 'SpO₂ still red: the episode\'s later readings wait for the window (one flush per episode, not one batch per reading)')
  t.same(b.add(reading('hr', 40, 12)), [], 'pulse still red (131 → 40): waits too')
  t.same(b.add(reading('fall', 1, 13))[0]?.trigger, 'event', 'a fall always closes it')
  t.same(b.add(reading('spo2', 96, 14)), [], 'SpO₂ recovers (NEWS2 0)')
  t.same(b.add(reading('spo2', 90, 15))[0]?.trigger, 'event', 'and turns red again: a new episode closes the batch at once')
  const other = { ...reading('spo2', 85, 16), d: 'another-oximeter' }
  t.same(b.add(other)[0]?.trigger, 'event', 'another device\'s first red reading closes it: the state is per device and vital sign')
  t.same(new Batcher({ size: 0, eventTypes: ['fall'] }).add(reading('spo2', 80, 1)), [], 'without the news2 rule a low SpO₂ waits (the rule is what flushes)')
  t.throws(() => new Batcher({ size: 0, eventTypes: ['news2>3'] }), /neither a sensor type, a threshold \(spo2<90\) nor news2>=N/, 'a rule it cannot read is refused at deploy')
})

t.test('the shipped flow flushes on NEWS2 red scores and falls', async (t) => {
  const { readFile } = await import('node:fs/promises')
  const flow = JSON.parse(await readFile(new URL('../../flows/hub.json', import.meta.url), 'utf8')) as Array<{ type: string, events?: string }>
  const batch = flow.find((n) => n.type === 'healthchain-batch')!
  const b = new Batcher({ size: 0, eventTypes: batch.events!.split(',').map((s) => s.trim()) })
  t.equal(b.add(reading('spo2', 89, 1))[0]?.trigger, 'event', 'a desaturation reading (SpO₂ 89 %) is sent at once')
  t.equal(b.add(reading('fall', 1, 2))[0]?.trigger, 'event', 'a fall too')
})
