/**
 * A pseudo-terminal pair from socat (`socat pty,raw,echo=0,link=A pty,…,link=B`):
 * an emulated board holds end A through serialport, the host software
 * (espruino CLI, hub ingest, johnny-five) opens end B as if it were
 * /dev/ttyACM0. socat keeps the pair when either side closes and reopens.
 */
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

export interface PtyPair {
  /** the board's end */
  board: string
  /** the host's end (give this to the CLI / ingest / johnny-five) */
  host: string
  close (): Promise<void>
}

export function haveSocat (): boolean {
  return spawnSync('socat', ['-V'], { stdio: 'ignore' }).status === 0
}

export async function openPtyPair (dir?: string): Promise<PtyPair> {
  const base = dir ?? mkdtempSync(join(tmpdir(), 'hc-pty-'))
  const board = join(base, 'board')
  const host = join(base, 'host')
  const child: ChildProcess = spawn('socat', [`pty,raw,echo=0,link=${board}`, `pty,raw,echo=0,link=${host}`], { stdio: 'ignore' })
  let exited = false
  child.on('exit', () => { exited = true })
  for (let i = 0; i < 200 && !(existsSync(board) && existsSync(host)); i++) {
    if (exited) throw new Error('socat exited before creating the pty pair')
    await sleep(25)
  }
  if (!existsSync(board) || !existsSync(host)) {
    child.kill()
    throw new Error('socat did not create the pty pair within 5 s')
  }
  return {
    board,
    host,
    async close () {
      if (!exited) {
        const done = new Promise(resolve => child.once('exit', resolve))
        child.kill()
        await done
      }
      if (dir === undefined) rmSync(base, { recursive: true, force: true })
    }
  }
}
