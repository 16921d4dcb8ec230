/**
 * A board on a serial port speaking for another device, or reporting what
 * its device was not paired with: each port is bound to its registered
 * device (hub/src/ingest/serial.ts), and a reading type the device did not
 * register is refused (pipeline.ts). Real pseudo-terminals (socat).
 */
import t from 'tap'
import { SerialPort } from 'serialport'
import { formatLine } from '../../hub/src/ingest/line.ts'
import { SerialSource } from '../../hub/src/ingest/serial.ts'
import { addDevices, openIngest, ptyPair, tempDir, until } from '../integration/ingest-helpers.ts'
import { skipUnlessTools } from '../helpers/tools.ts'

t.test('serial-other-device', { skip: skipUnlessTools('socat') }, async (t) => {
  const dir = await tempDir(t, 'serial-other')
  const ing = await openIngest(t, dir)
  await addDevices(ing, 'bob', [['th-1', 'temp']])
  await addDevices(ing, 'alice', [['ox-1', 'spo2']])
  const pty = await ptyPair(t, dir)
  const src = new SerialSource(ing, { path: pty.b, device: 'th-1', reconnectMs: 50 })
  t.teardown(() => src.stop())
  src.start()
  await until(() => src.isOpen, 10_000, 'hub opens the port')
  const dev = new SerialPort({ path: pty.a, baudRate: 115200, autoOpen: false })
  await new Promise<void>((resolve, reject) => { dev.open((e) => { if (e != null) reject(e); else resolve() }) })
  t.teardown(() => new Promise<void>((resolve) => { if (dev.isOpen) dev.close(() => { resolve() }); else resolve() }))
  const send = async (text: string): Promise<void> => { await new Promise<void>((resolve, reject) => { dev.write(text, (e) => { if (e != null) reject(e); else dev.drain(() => { resolve() }) }) }) }

  // th-1's port carries a line of alice's oximeter: it cannot speak for ox-1
  await send(formatLine({ d: 'ox-1', b: 1, s: 0, t: 'spo2', v: 80, ts: 0 }))
  await until(() => (ing.counters.dropped.ERR_PORT_DEVICE ?? 0) === 1, 10_000, 'the foreign line refused')
  t.equal(ing.counters.dropped.ERR_PORT_DEVICE, 1, 'a line of another registered device on this port: refused and counted')
  t.equal(ing.registry.get('th-1')!.dropped.ERR_PORT_DEVICE, 1, 'against the port\'s device')
  t.equal(ing.registry.get('ox-1')!.accepted, 0, 'nothing was stored for ox-1')
  t.equal(ing.pendingCount('alice'), 0, 'nor for its user')

  // th-1 itself reports a type it was not paired with
  await send(formatLine({ d: 'th-1', b: 1, s: 0, t: 'spo2', v: 99, ts: 0 }))
  await until(() => (ing.counters.dropped.ERR_SENSOR_TYPE ?? 0) === 1, 10_000, 'the unregistered type refused')
  t.equal(ing.registry.get('th-1')!.dropped.ERR_SENSOR_TYPE, 1, 'a reading type th-1 did not register: refused and counted')

  // its own readings still go through
  await send(formatLine({ d: 'th-1', b: 1, s: 1, t: 'temp', v: 36.9, ts: 1000 }))
  await until(() => ing.counters.accepted === 1, 10_000, 'th-1\'s reading')
  t.equal(ing.pendingCount('bob'), 1, 'th-1\'s temperature is stored for its user')

  // Firmata samples carry the same context (firmata.ts): the pipeline applies the same checks
  const r = await ing.submitReading({ device: 'ox-1', boot: 1, seq: 5, type: 'spo2', value: 97, unit: '%', ts: 0 }, { source: 'firmata', device: 'th-1', port: '/dev/ttyACM1' })
  t.equal(r.ok ? '' : r.error.code, 'ERR_PORT_DEVICE', 'a Firmata board bound to th-1 cannot report for ox-1')
  const r2 = await ing.submitReading({ device: 'th-1', boot: 1, seq: 6, type: 'hr', value: 60, unit: 'bpm', ts: 0 }, { source: 'firmata', device: 'th-1', port: '/dev/ttyACM1' })
  t.equal(r2.ok ? '' : r2.error.code, 'ERR_SENSOR_TYPE', 'nor report a type th-1 did not register')
})
