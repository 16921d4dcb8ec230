// HIL (issue #10): build the oximeter sketch, flash it with the real
// espruino CLI into the virtual Espruino board over a pty, and the hub's
// serial ingest receives its readings with valid checksums, in sequence,
// following the patient model (tachycardia: HR 135, SpO2 98).
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openPtyPair } from '../../hardware/pty.ts'
import { skipUnlessTools } from '../helpers/tools.ts'
import { boardOnPty, boardOnTcp } from '../../hardware/virtual-espruino/serve.ts'
import { PatientModel } from '../../hardware/sensors/models.ts'
import { flash } from '../../device/flash.ts'
import { FlashError } from '../../device/errors.ts'
import { Ingest } from '../../hub/src/ingest/pipeline.ts'
import { SerialSource } from '../../hub/src/ingest/serial.ts'
import type { Reading } from '../../hub/src/ingest/line.ts'

// socat makes the pty pair for the virtual board
const skip = skipUnlessTools('socat')

t.test('flash over a pty with the espruino CLI, hub ingests the serial readings', { skip }, async t => {
  const dir = mkdtempSync(join(tmpdir(), 'hc-hil-espruino-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const pair = await openPtyPair()
  t.teardown(() => pair.close())
  const board = await boardOnPty(pair.board, new PatientModel('tachycardia'))
  t.teardown(() => board.close())

  const ingest = await Ingest.open(join(dir, 'ingest'))
  t.teardown(() => ingest.close())
  await ingest.registry.add('ox-7', { user: 'alice', sensors: ['hr', 'spo2'] })

  const r = await flash({ sketch: 'oximeter', port: pair.host, board: 'VIRTUAL', settings: { device: 'ox-7' }, listen: 0 })
  t.match(r.output, /Connected/)
  t.match(r.output, /Upload Complete/)
  t.notMatch(r.output, /Uncaught/)

  const readings: Reading[] = []
  const source = new SerialSource(ingest, { path: pair.host, device: 'ox-7' })
  t.teardown(() => source.stop())
  const enough = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${readings.length} readings in 25 s; dropped ${JSON.stringify(ingest.counters.dropped)}`)), 25_000)
    ingest.on('reading', (reading, user) => {
      t.equal(user, 'alice')
      readings.push(reading)
      if (readings.length >= 8) { clearTimeout(timer); resolve() }
    })
  })
  source.start()
  await enough

  t.ok(readings.every(x => x.device === 'ox-7'))
  for (let i = 1; i < readings.length; i++) {
    t.equal(readings[i]!.boot, readings[0]!.boot, 'one boot')
    t.equal(readings[i]!.seq, readings[i - 1]!.seq + 1, 'sequence numbers follow each other')
  }
  const hr = readings.filter(x => x.type === 'hr').map(x => x.value as number)
  const spo2 = readings.filter(x => x.type === 'spo2').map(x => x.value as number)
  t.ok(hr.length >= 3 && spo2.length >= 3)
  for (const v of hr) t.ok(Math.abs(v - 135) <= 5, `hr ${v} follows the tachycardia model (135)`)
  for (const v of spo2) t.ok(Math.abs(v - 98) <= 1, `spo2 ${v} follows the model (98)`)
  // at most the one line the CLI was cut off in can be corrupt
  const bad = (ingest.counters.dropped.ERR_LINE_CHECKSUM ?? 0) + (ingest.counters.dropped.ERR_LINE_JSON ?? 0)
  t.ok(bad <= 1, `corrupt lines: ${bad}`)
})

t.test('the flash wrapper reports a failed upload although the CLI exits 0', { skip }, async t => {
  const err = await flash({ sketch: 'thermometer', port: '/dev/hc-no-such-port', board: 'VIRTUAL', listen: 0, noBuild: false }).then(() => null, (e: unknown) => e)
  t.type(err, FlashError)
  t.match((err as FlashError).message, /no such serial port|could not connect/)
})

t.test('the CLI can also flash the virtual board over TCP (-p tcp://host:port)', async t => {
  const board = await boardOnTcp(0, new PatientModel('normal'))
  t.teardown(() => board.close())
  const r = await flash({ sketch: 'fall', port: `tcp://127.0.0.1:${board.port}`, board: 'VIRTUAL', listen: 0 })
  t.match(r.output, /Upload Complete/)
  t.equal(board.board.run('typeof hcFallStep'), 'function', 'the sketch is loaded on the board')
})
