#!/usr/bin/env node
/**
 * The `healthchain` command as npm links it (npx, `npm exec`, a global
 * install, the systemd units). Plain JavaScript, so that any Node can start
 * it: the code it runs is TypeScript executed by Node's own type stripping,
 * which needs the Node versions package.json's `engines` names. On such a
 * Node it runs the CLI in this process; on an older one it hands over to
 * the Node 24 that `npm install` brings as a devDependency, when present;
 * otherwise it says which Node to install, instead of failing on a syntax
 * error. The path of this file is resolved through symlinks (npx and a
 * global install reach it through one).
 */
import { spawn } from 'node:child_process'
import { existsSync, realpathSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = join(dirname(realpathSync(fileURLToPath(import.meta.url))), '..')

/** package.json `engines.node`, "^22.19.0 || ^24.3.0 || >=26.0.0", with type stripping on. */
export function supported (version, typescript) {
  const [major, minor] = version.replace(/^v/, '').split('.').map(Number)
  const inRange = (major === 22 && minor >= 19) || (major === 24 && minor >= 3) || major >= 26
  return inRange && typescript !== undefined && typescript !== false
}

async function run () {
  if (supported(process.versions.node, process.features.typescript)) {
    const cli = await import(pathToFileURL(join(root, 'hub', 'src', 'cli.ts')).href)
    await cli.main(process.argv)
    return
  }
  const pinned = join(root, 'node_modules', 'node', 'bin', 'node')
  if (process.env.HEALTHCHAIN_LAUNCHED === undefined && existsSync(pinned)) {
    const child = spawn(pinned, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
      stdio: 'inherit', env: { ...process.env, HEALTHCHAIN_LAUNCHED: process.version }
    })
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => { child.kill(sig) })
    child.on('exit', (code, signal) => { process.exitCode = code ?? (signal === null ? 1 : 128 + 15) })
    return
  }
  process.stderr.write(`healthchain: needs Node.js 22.19+ or 24.3+ (24 recommended); this is Node ${process.version} (${process.execPath}). ` +
    'See "Which Node" in the README: on a Raspberry Pi, `sudo npm install -g node@24`.\n')
  process.exitCode = 1
}

if (process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url))) await run()
