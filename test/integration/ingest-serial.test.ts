/**
 * Serial ingest over a real pseudo-terminal pair (socat): lines in, readings
 * out; corrupt, oversize and replayed lines dropped and counted; unplugging
 * (socat killed, the pty gone) and replugging (a new pty at the same path)
 * recovers without restarting the hub.
 */
import t from 'tap'
import { SerialPort } from 'serialport'
import { formatLine } from '../../hub/src/ingest/line.ts'
import { SerialSource } from '../../hub/src/ingest/serial.ts'
import { addDevices, openIngest, ptyPair, tempDir, until } from './ingest-helpers.ts'
import { skipUnlessTools } from '../helpers/tools.ts'

const board = async (path: string): Promise<SerialPort> => {
  const p = new SerialPort({ path, baudRate: 115200, autoOpen: false })
  await new Promise<void>((resolve, reject) => { p.open((e) => { if (e != null) reject(e); else resolve() }) })
  return p
}
const send = async (p: SerialPort, text: string): Promise<void> => {
  await new Promise<void>((resolve, reject) => { p.write(text, (e) => { if (e != null) reject(e); else p.drain(() => { resolve() }) }) })
}
const close = async (p: SerialPort): Promise<void> => { if (p.isOpen) await new Promise<void>((resolve) => { p.close(() => { resolve() }) }) }
const temp = (s: number, v = 36.8): string => formatLine({ d: 'th-1', b: 5, s, t: 'temp', v, ts: s * 500 })

t.test('serial lines over a pty pair, with unplug and replug', { skip: skipUnlessTools('socat') }, async (t) => {
  const dir = await tempDir(t, 'serial')
  const ing = await openIngest(t, dir)
  await addDevices(ing, 'bob', [['th-1', 'temp']])
  let pty = await ptyPair(t, dir)
  const src = new SerialSource(ing, { path: pty.b, device: 'th-1', reconnectMs: 50 })
  t.teardown(() => src.stop())
  src.start()
  await until(() => src.isOpen, 10_000, 'hub opens the port')

  let dev = await board(pty.a)
  t.teardown(() => close(dev))
  // three good lines, written in odd chunks
  const good = temp(0) + temp(1) + temp(2)
  await send(dev, good.slice(0, 10))
  await send(dev, good.slice(10, 100))
  await send(dev, good.slice(100))
  await until(() => ing.counters.accepted === 3, 10_000, '3 readings')
  t.same((await ing.store.get<{ w: { v: number } }>('pend!bob!th-1!0000000000000005!0000000000000002'))?.w.v, 36.8, 'reading stored under its user')

  // corrupt (bit flip), oversize, replayed and malformed lines: dropped and counted
  await send(dev, temp(3).replace('36.8', '38.6'))
  await send(dev, 'x'.repeat(700) + '\n')
  await send(dev, temp(1))
  await send(dev, '{"d":"th-1"*00000000\n')
  await send(dev, temp(3))
  await until(() => ing.counters.accepted === 4, 10_000, 'the fourth good reading')
  t.equal(ing.counters.dropped.ERR_LINE_CHECKSUM, 2, 'corrupt and malformed lines counted (checksum first)')
  t.equal(ing.counters.dropped.ERR_LINE_OVERSIZE, 1, 'oversize line counted')
  t.equal(ing.counters.dropped.ERR_REPLAY, 1, 'replayed line counted')
  t.equal(ing.registry.get('th-1')!.dropped.ERR_REPLAY, 1, 'replay counted on the device')

  // unplug: the pty disappears; the hub notices and keeps retrying
  const closed = new Promise<void>((resolve) => src.once('close', () => { resolve() }))
  await close(dev)
  await pty.stop()
  await closed
  t.equal(src.isOpen, false, 'port closed after unplug')

  // replug at the same path: the hub reopens by itself
  pty = await ptyPair(t, dir)
  await until(() => src.opens === 2 && src.isOpen, 15_000, 'hub reopens the port')
  dev = await board(pty.a)
  await send(dev, temp(4) + temp(5))
  await until(() => ing.counters.accepted === 6, 10_000, 'readings after replug')
  t.equal(ing.pendingCount('bob'), 6, 'six readings, none lost or doubled')
  await close(dev)
})
