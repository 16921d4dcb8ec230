/**
 * Debian's Mosquitto for tests, started with the config that
 * hub/src/ingest/mosquitto.ts generates (it cannot take port 0: a free port
 * is picked and the start retried when it was taken meanwhile).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { userInfo } from 'node:os'
import { createInterface } from 'node:readline'
import { mosquittoAcl, mosquittoConf, type MosquittoConfigOptions } from '../../hub/src/ingest/mosquitto.ts'
import { freePort } from '../integration/ingest-helpers.ts'
import { findTool, skipUnlessTools } from './tools.ts'

export const MOSQUITTO_SKIP = skipUnlessTools('mosquitto', 'mosquitto_passwd')

interface Teardown { teardown: (fn: () => unknown) => void }

/** A password file holding `users` (mosquitto_passwd -b) and the generated ACL of `hubId`, in `dir`. */
export async function mosquittoFiles (dir: string, hubId: string, hubUser: string, users: Record<string, string>): Promise<{ passwordFile: string, aclFile: string }> {
  const passwd = findTool('mosquitto_passwd')!
  const passwordFile = join(dir, 'passwd')
  const aclFile = join(dir, 'acl')
  let first = true
  for (const [u, p] of Object.entries(users)) {
    execFileSync(passwd, ['-b', ...(first ? ['-c'] : []), passwordFile, u, p])
    first = false
  }
  await writeFile(aclFile, mosquittoAcl(hubId, hubUser))
  return { passwordFile, aclFile }
}

/** Starts mosquitto with the generated config (+ `extra` options); every log line goes to `onLog`. */
export async function startMosquitto (t: Teardown, dir: string, files: { passwordFile: string, aclFile: string }, onLog: (l: string) => void, extra: Partial<MosquittoConfigOptions> = {}): Promise<{ proc: ChildProcess, port: number }> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort()
    const conf = join(dir, 'mosquitto.conf')
    await writeFile(conf, mosquittoConf({ port, ...files, logDebug: true, runAsUser: userInfo().username, ...extra }))
    const proc = spawn(findTool('mosquitto')!, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] })
    const log: string[] = []
    const up = await new Promise<boolean>((resolve) => {
      createInterface({ input: proc.stderr! }).on('line', (l) => {
        log.push(l)
        onLog(l)
        if (/ running$/.test(l)) resolve(true)
      })
      proc.once('exit', () => { resolve(false) })
    })
    if (up) {
      t.teardown(() => { proc.kill('SIGTERM') })
      return { proc, port }
    }
    if (!log.some((l) => /in use/i.test(l))) throw new Error(`mosquitto failed to start:\n${log.join('\n')}`)
  }
  throw new Error('no free port for mosquitto after 5 attempts')
}
