/**
 * Firmata path: johnny-five (through firmata-io over our serialport 13)
 * reads analog channels from a Firmata board on a pty — the protocol-level
 * emulator in hardware/firmata-emulator.ts — at the configured rate, and
 * the samples become readings of the registered device, scaled to units.
 */
import t from 'tap'
import { FirmataEmulator } from '../../hardware/firmata-emulator.ts'
import { FirmataSource, scaleAdc } from '../../hub/src/ingest/firmata.ts'
import { openIngest, ptyPair, tempDir, until } from './ingest-helpers.ts'
import { skipUnlessTools } from '../helpers/tools.ts'

t.test('scaleAdc maps the 10-bit range linearly', async (t) => {
  t.equal(scaleAdc(0, [30, 45]), 30)
  t.equal(scaleAdc(1023, [30, 45]), 45)
  t.equal(scaleAdc(512, [0, 100], 2), 50.05)
})

t.test('johnny-five reads a Firmata board on a pty', { skip: skipUnlessTools('socat') }, async (t) => {
  const dir = await tempDir(t, 'firmata')
  const ing = await openIngest(t, dir)
  await ing.registry.add('uno-1', { user: 'erin', sensors: ['temp', 'rr'] })
  const pty = await ptyPair(t, dir)
  const board = await FirmataEmulator.open(pty.a)
  t.teardown(() => board.close())
  // A0: a thermistor front end at ADC 512; A1: a breathing-rate channel at ADC 300
  board.analog = (ch) => ch === 0 ? 512 : 300

  const src = new FirmataSource(ing, {
    path: pty.b,
    device: 'uno-1',
    rateMs: 50,
    reportVersionTimeoutMs: 300,
    channels: [{ pin: 'A0', type: 'temp', range: [30, 45] }, { pin: 'A1', type: 'rr', range: [0, 60], decimals: 0 }]
  })
  t.teardown(() => src.stop())
  await src.start()
  await until(() => board.reporting.has(0) && board.reporting.has(1) && board.samplingMs === 50, 10_000, 'analog reporting requests')
  t.pass('johnny-five enabled analog reporting for A0 and A1 and set the sampling interval to the configured rate')

  await until(() => ing.counters.accepted >= 10, 20_000, '10 Firmata readings')
  await src.stop()
  const readings = (await ing.flush('erin'))!.readings.map((p) => p.w)
  const temps = readings.filter((w) => w.t === 'temp')
  const rrs = readings.filter((w) => w.t === 'rr')
  t.ok(temps.length > 0 && rrs.length > 0, 'both channels sampled')
  t.ok(temps.every((w) => w.v === 37.5 && w.u === 'Cel'), 'A0 at 512 → 37.5 Cel')
  t.ok(rrs.every((w) => w.v === 18 && w.u === '/min'), 'A1 at 300 → 18 /min')
  t.same(readings.map((w) => w.s), readings.map((_, i) => i), 'one sequence per board, no gaps')
  t.ok(readings.every((w) => w.d === 'uno-1' && w.b === src.boot), 'readings of the registered device')
})
