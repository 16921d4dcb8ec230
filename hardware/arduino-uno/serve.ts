/**
 * The emulated Uno on a pty: USART0 ⇄ the board end of a socat pair
 * (through serialport), so johnny-five / firmata open the host end like
 * /dev/ttyACM0.
 *
 *   node hardware/arduino-uno/serve.ts [--scenario fever]
 */
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { SerialPort } from 'serialport'
import { Command } from 'commander'
import { standardFirmataUno } from './uno.ts'
import type { ArduinoUno } from './uno.ts'
import { PatientModel, SCENARIOS } from '../sensors/models.ts'
import type { Scenario } from '../sensors/models.ts'
import { openPtyPair } from '../pty.ts'

export interface AttachedUno {
  uno: ArduinoUno
  close (): Promise<void>
}

export async function unoOnPty (path: string, model: PatientModel): Promise<AttachedUno> {
  const port = new SerialPort({ path, baudRate: 57600, autoOpen: false })
  await new Promise<void>((resolve, reject) => port.open(err => err ? reject(err) : resolve()))
  port.on('error', () => {})
  const uno = standardFirmataUno(model, b => { port.write(Buffer.of(b)) })
  port.on('data', (d: Buffer) => uno.receive(d))
  uno.start()
  return {
    uno,
    async close () {
      uno.stop()
      if (port.isOpen) await new Promise<void>(resolve => port.close(() => resolve()))
    }
  }
}

if (resolve(process.argv[1] ?? '') === fileURLToPath(import.meta.url)) {
  const program = new Command('arduino-uno')
    .description('An Arduino Uno running StandardFirmata in avr8js on a pty; A0 TMP36, A1 AD8232 ECG, A2 pulse sensor')
    .option('--scenario <name>', `patient model: ${SCENARIOS.join(', ')}`, 'normal')
    .option('--dir <dir>', 'folder for the pty links (board, host)')
    .action(async (o: { scenario: string, dir?: string }) => {
      if (!(SCENARIOS as readonly string[]).includes(o.scenario)) program.error(`unknown scenario ${o.scenario}; one of ${SCENARIOS.join(', ')}`)
      const pair = await openPtyPair(o.dir)
      await unoOnPty(pair.board, new PatientModel(o.scenario as Scenario))
      console.log(`Arduino Uno (StandardFirmata, ${o.scenario}) on ${pair.host}`)
      for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => { void pair.close().then(() => process.exit(0)) })
    })
  await program.parseAsync()
}
