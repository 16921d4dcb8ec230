#!/usr/bin/env node
/**
 * The `healthchain` command. Each command group lives in its own module under
 * cli/ and exports `register(program)`; this file only assembles them, so a
 * new group never edits this file.
 */
import { realpathSync } from 'node:fs'
import { readdir } from 'node:fs/promises'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { join } from 'node:path'
import { Command, CommanderError } from 'commander'
import { exitCodeOf, EXIT } from './cli/_daemon.ts'

export async function buildProgram (): Promise<Command> {
  const program = new Command('healthchain')
    .description('Healthchain: private health monitoring on Userchain (PoW) and Docchain (PBFT)')
    .version('0.1.0')
    .showHelpAfterError()
    // usage errors exit 2 (README "Exit codes"); subcommands inherit this
    .exitOverride()
  const dir = fileURLToPath(new URL('./cli/', import.meta.url))
  const files = (await readdir(dir)).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')).sort()
  for (const f of files) {
    const mod = await import(pathToFileURL(join(dir, f)).href) as { register?: (p: Command) => void }
    mod.register?.(program)
  }
  return program
}

/** Runs the command line `argv` (process.argv form); a failure prints one line and exits with status 1. */
export async function main (argv: readonly string[]): Promise<void> {
  const program = await buildProgram()
  try {
    await program.parseAsync([...argv])
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander printed the message (or the help / version asked for)
      process.exitCode = err.exitCode === 0 ? EXIT.ok : EXIT.usage
    } else {
      process.stderr.write(`healthchain: ${(err as Error).message}\n`)
      // a daemon that failed half-way may leave handles behind (a worker, a socket): the error is final, exit now
      process.exit(exitCodeOf(err))
    }
  }
}

// `node hub/src/cli.ts …` (bin/healthchain.js is what npm links, and calls main)
if (process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) await main(process.argv)
