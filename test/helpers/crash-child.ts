/**
 * The child side of a crash test (the parent is crash.ts): a child loads its
 * modules (static imports), then `await go()` — it waits for the parent's
 * "go" before it opens its data dir or port, so a spare can load while the
 * previous child still works. `say` prints an acknowledgement line. A child
 * whose parent went away (stdin or stdout closed) exits.
 */
import { flushCompileCache } from 'node:module'

export async function go (): Promise<void> {
  process.stdout.on('error', () => process.exit(0))
  flushCompileCache() // a SIGKILLed process never writes its compile cache at exit: write it now, so the next child loads faster
  say('loaded')
  await new Promise<void>((resolve) => {
    let buf = ''
    process.stdin.on('data', (d: Buffer) => { buf += d.toString(); if (buf.includes('go\n')) resolve() })
    process.stdin.on('end', () => process.exit(0))
  })
}

export function say (line: string): void {
  process.stdout.write(line + '\n')
}
