/**
 * Options shared by command groups: the data directory and how a passphrase
 * is obtained (environment, file, or a hidden prompt on a terminal).
 */
import { readFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { InvalidFieldError } from '../core/index.ts'
import { EmptyPassphraseError } from '../store/keystore.ts'

export function dataDir (opt?: string): string {
  return resolve(opt ?? process.env.HEALTHCHAIN_DATA ?? join(homedir(), '.healthchain'))
}

export function keystorePath (opts: { keystore?: string, dataDir?: string }): string {
  return resolve(opts.keystore ?? join(dataDir(opts.dataDir), 'keystore.json'))
}

/** A file an option names, read as text; a failure names the option (`--passphrase-file /x: no such file`). */
export async function readOptionFile (option: string, file: string): Promise<string> {
  try { return await readFile(file, 'utf8') } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new InvalidFieldError(option, `${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (err as Error).message}`)
  }
}

/** HEALTHCHAIN_PASSPHRASE, then --passphrase-file, then a hidden prompt when stdin is a terminal. */
export async function passphrase (opts: { passphraseFile?: string }, prompt = 'Passphrase: ', option = '--passphrase-file'): Promise<string> {
  if (opts.passphraseFile !== undefined) return (await readOptionFile(option, opts.passphraseFile)).replace(/\r?\n$/, '')
  const env = process.env.HEALTHCHAIN_PASSPHRASE
  if (env !== undefined && env !== '') return env
  if (process.stdin.isTTY !== true) throw new EmptyPassphraseError()
  return await new Promise<string>((resolvePass) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true })
    const out = rl as unknown as { _writeToOutput: (s: string) => void }
    process.stderr.write(prompt)
    out._writeToOutput = () => {}
    rl.question('', (answer) => { rl.close(); process.stderr.write('\n'); resolvePass(answer) })
  })
}

/** A daemon's log line on stdout, stamped with the time. */
export function stamped (line: string): void { process.stdout.write(`${new Date().toISOString()} ${line}\n`) }

/** Runs a daemon until SIGINT or SIGTERM, then stops it, saying so on `out`. */
export async function untilSignal (stop: () => Promise<void>, out: (line: string) => void = stamped): Promise<void> {
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve)
    process.once('SIGTERM', resolve)
  })
  out('stopping')
  await stop()
  out('stopped')
}
