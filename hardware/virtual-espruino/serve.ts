/**
 * Attach a VirtualEspruino to a transport: a pty end opened with
 * serialport (the way a USB CDC board appears), or a TCP port (the
 * espruino CLI's `-p tcp://host:port`, like an Espruino behind a
 * serial-to-Wi-Fi bridge).
 *
 *   node hardware/virtual-espruino/serve.ts [--scenario fever] [--tcp 2323 | --link /tmp/espruino]
 */
import { createServer } from 'node:net'
import type { Server, Socket } from 'node:net'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { SerialPort } from 'serialport'
import { Command } from 'commander'
import { VirtualEspruino } from './board.ts'
import { PatientModel, SCENARIOS } from '../sensors/models.ts'
import type { Scenario } from '../sensors/models.ts'
import { openPtyPair } from '../pty.ts'

export interface AttachedBoard {
  board: VirtualEspruino
  close (): Promise<void>
}

/** Run a board on an existing pty end (the board side of a pair). */
export async function boardOnPty (path: string, model?: PatientModel): Promise<AttachedBoard> {
  const port = new SerialPort({ path, baudRate: 9600, autoOpen: false })
  await new Promise<void>((resolve, reject) => port.open(err => err ? reject(err) : resolve()))
  const board = new VirtualEspruino({ model, write: s => { port.write(Buffer.from(s, 'latin1')) } })
  port.on('data', (d: Buffer) => board.input(d))
  port.on('error', () => {})
  return {
    board,
    async close () {
      board.close()
      if (port.isOpen) await new Promise<void>(resolve => port.close(() => resolve()))
    }
  }
}

/** Run a board on a TCP port on 127.0.0.1 (one host connection at a time). */
export async function boardOnTcp (port = 0, model?: PatientModel): Promise<AttachedBoard & { port: number }> {
  let client: Socket | null = null
  const board = new VirtualEspruino({ model, write: s => { client?.write(Buffer.from(s, 'latin1')) } })
  const server: Server = createServer(sock => {
    client?.destroy()
    client = sock
    sock.on('data', d => board.input(d))
    sock.on('error', () => {})
    sock.on('close', () => { if (client === sock) client = null })
  })
  await new Promise<void>(resolve => server.listen(port, '127.0.0.1', resolve))
  const address = server.address()
  return {
    board,
    port: typeof address === 'object' && address !== null ? address.port : port,
    async close () {
      board.close()
      client?.destroy()
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  }
}

if (resolve(process.argv[1] ?? '') === fileURLToPath(import.meta.url)) {
  const program = new Command('virtual-espruino')
    .description('A virtual Espruino board backed by a patient model; flash it with `npm run flash -- <sketch> --port <path>`')
    .option('--scenario <name>', `patient model: ${SCENARIOS.join(', ')}`, 'normal')
    .option('--onset <s>', 'seconds before the abnormal pattern starts', '0')
    .option('--tcp <port>', 'listen on 127.0.0.1:<port> instead of a pty')
    .option('--dir <dir>', 'folder for the pty links (board, host)')
    .action(async (o: { scenario: string, onset: string, tcp?: string, dir?: string }) => {
      if (!(SCENARIOS as readonly string[]).includes(o.scenario)) program.error(`unknown scenario ${o.scenario}; one of ${SCENARIOS.join(', ')}`)
      const model = new PatientModel(o.scenario as Scenario, { onset: Number(o.onset) })
      if (o.tcp !== undefined) {
        const b = await boardOnTcp(Number(o.tcp), model)
        console.log(`virtual Espruino (${o.scenario}) on tcp://127.0.0.1:${b.port}`)
        return
      }
      const pair = await openPtyPair(o.dir)
      await boardOnPty(pair.board, model)
      console.log(`virtual Espruino (${o.scenario}) on ${pair.host}`)
      for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => { void pair.close().then(() => process.exit(0)) })
    })
  await program.parseAsync()
}
