/**
 * The bounded fuzz run of `npm test` (issue "Reliability and security
 * suite"): every target of targets.ts — every decoder and parser that takes
 * bytes from the network, a device, a file or a decrypted batch — gets
 * FUZZ_CI_INPUTS mutated inputs (default 3,000) on a worker thread under the
 * hang watchdog, and must reject each bad one with its typed error. The long
 * run is `npm run fuzz` (≥ 1,000,000 inputs). Also: the engine itself finds a
 * planted crash and a planted hang (so a silent fuzzer cannot pass), every
 * seed is a valid input, and regressions for what the fuzzer found.
 */
import t from 'tap'
import { fuzz, runInWorker, type FuzzTarget } from './engine.ts'
import { feedFirmata, firmataGuard, TARGETS } from './targets.ts'
import { MAX_FIRMATA_FRAME } from '../../hub/src/ingest/firmata-guard.ts'
import { decodeSnapshot } from '../../hub/src/store/pbft-log.ts'
import { parseBatch } from '../../hub/src/roles/doctor/doctor.ts'
import { HealthchainError, UnknownVersionError, InvalidFieldError, utf8Bytes } from '../../hub/src/core/index.ts'

// A bound, not a goal: 29 s alone, but on a 2-core CI machine it shares the cores with
// the process-devnet and deployment tests, and tap's default of 120 s per file expired.
t.setTimeout(600_000)

const INPUTS = Number(process.env.FUZZ_CI_INPUTS ?? 3000)
const SEED = Number(process.env.FUZZ_SEED ?? 20261125)

t.test('every seed is a valid input of its target', async (t) => {
  for (const target of TARGETS) {
    for (const [i, s] of target.seeds().entries()) t.doesNotThrow(() => { target.run(s) }, `${target.name} seed ${i}`)
  }
})

t.test(`${TARGETS.length} targets × ${INPUTS} inputs: only clean rejections, no hang`, async (t) => {
  let total = 0
  const pending = [...TARGETS.entries()]
  const run = async (): Promise<void> => {
    for (let next = pending.shift(); next !== undefined; next = pending.shift()) {
      const [i, target] = next
      const r = await runInWorker(target.name, INPUTS, SEED + i)
      total += r.inputs
      t.equal(r.crashed, 0, `${target.name}: ${r.inputs} inputs, ${r.accepted} accepted, ${r.rejected} rejected${r.crashes[0] === undefined ? '' : ` — first crash ${r.crashes[0].error} on ${r.crashes[0].input.slice(0, 200)}`}`)
      t.equal(r.hang, null, `${target.name}: no hang${r.hang === null ? '' : ` — input ${r.hang.input.slice(0, 200)}`}`)
      t.ok(r.accepted + r.rejected === r.inputs && r.inputs === INPUTS, `${target.name}: every input ran`)
    }
  }
  await Promise.all([run(), run()])
  t.comment(`fuzzed ${total} inputs`)
})

t.test('the engine reports a planted crash and a planted hang', async (t) => {
  const planted: FuzzTarget = {
    name: 'planted', seeds: () => [Uint8Array.of(1, 2, 3)], clean: (e) => e instanceof HealthchainError,
    run: (b) => { if (b.length > 5) throw new TypeError('planted'); if (b.length === 0) throw new InvalidFieldError('x', 'empty') }
  }
  const r = fuzz(planted, 2000, 1)
  t.ok(r.crashed > 0 && r.crashes[0]?.error === 'TypeError: planted', 'an untyped error is a crash, with its input')
  t.ok(r.rejected > 0, 'a typed error is a clean rejection')
  const hang = await runInWorker('__hang', 10, 1, 1000)
  t.match(hang.hang?.error, /no progress/, 'a target that never returns is reported as a hang, not waited for')
})

// Regressions for what the fuzzer found (named after the bug).
t.test('firmata-io TypeError on a pin-state report for an unknown pin does not escape the hub port guard', async (t) => {
  const guard = firmataGuard()
  const before = guard.bad
  t.doesNotThrow(() => { feedFirmata(Buffer.from('e92e63720887f0f06e02021003f7', 'hex')) })
  t.doesNotThrow(() => { feedFirmata(Buffer.from('f06a7f7f0001f7', 'hex')) })
  t.ok(guard.bad > before, `counted as bad frames (${guard.bad - before})`)
})

t.test('an unterminated Firmata sysex is dropped past MAX_FIRMATA_FRAME instead of buffering forever', async (t) => {
  const guard = firmataGuard()
  const before = guard.bad
  feedFirmata(Uint8Array.of(0xf0, 0x71))
  for (let i = 0; i < 3; i++) feedFirmata(new Uint8Array(MAX_FIRMATA_FRAME).fill(0x41))
  t.ok(guard.bad > before, 'the oversize partial frame was dropped and counted')
})

t.test('pbft log snapshot with an unknown version is a typed error (was RangeError)', async (t) => {
  t.throws(() => decodeSnapshot(Uint8Array.of(0xd7, 0x26)), UnknownVersionError)
})

t.test('doctor batch reader: a batch that is not JSON is a typed error (was SyntaxError)', async (t) => {
  t.throws(() => parseBatch(utf8Bytes('{"v":1,')), InvalidFieldError)
})
