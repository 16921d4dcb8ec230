/**
 * `npm start` as a person runs it (issue "`npm start` devnet …"): the devnet
 * command in a child process comes up, the patient page (logged in) shows a
 * committed diagnosis, SIGINT exits 0, and a second start resumes the same
 * chains and diagnoses. The waits are bounds that turn a hang into a failure
 * with the output, not timing claims: bench/lifecycle.ts measures how long a
 * start and a stop take.
 */
import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const DEVNET = new URL('../../hub/src/devnet.ts', import.meta.url).pathname

// two whole devnet starts in one file: past tap's default 120 s per file on a busy 2-core machine
t.setTimeout(300_000)

interface Run { child: ChildProcess, out: () => string, waitFor: (re: RegExp, ms: number) => Promise<RegExpMatchArray> }

function start (dir: string): Run {
  const child = spawn(process.execPath, [DEVNET, '--data-dir', dir, '--port', '0', '--episode', '5'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout!.on('data', (b: Buffer) => { out += b.toString() })
  child.stderr!.on('data', (b: Buffer) => { out += b.toString() })
  const waitFor = async (re: RegExp, ms: number): Promise<RegExpMatchArray> => await new Promise((resolve, reject) => {
    const t0 = Date.now()
    const tick = (): void => {
      const m = out.match(re)
      if (m !== null) { resolve(m); return }
      if (child.exitCode !== null || Date.now() - t0 > ms) { reject(new Error(`no ${re} within ${ms} ms; output:\n${out.slice(-3000)}`)); return }
      setTimeout(tick, 100)
    }
    tick()
  })
  return { child, out: () => out, waitFor }
}

/** A bound on the exit after SIGINT: a devnet that does not stop fails here with its output. */
const STOP_BOUND_MS = 60_000

async function stop (r: Run, t: { equal: (a: unknown, b: unknown, m: string) => void }): Promise<void> {
  const code = await new Promise<number | null | 'hung'>((resolve) => {
    const bound = setTimeout(() => { resolve('hung') }, STOP_BOUND_MS)
    r.child.once('exit', (c) => { clearTimeout(bound); resolve(c) })
    r.child.kill('SIGINT')
  })
  t.equal(code, 0, code === 0 ? 'SIGINT exits 0' : code === 'hung' ? `SIGINT exits 0; it had not exited ${STOP_BOUND_MS / 1000} s after SIGINT, output:\n${r.out().slice(-3000)}` : `SIGINT exits 0; it exited ${code}, output:\n${r.out().slice(-3000)}`)
}

/** Logs in through the JSON API and returns the patient page data. */
async function patientJson (origin: string, password: string): Promise<{ diagnoses: unknown[] }> {
  const get = await fetch(`${origin}/login`, { headers: { accept: 'application/json' } })
  const cookie = (get.headers.get('set-cookie') ?? '').split(';')[0]!
  const { csrf } = await get.json() as { csrf: string }
  const login = await fetch(`${origin}/login`, { method: 'POST', redirect: 'manual', headers: { accept: 'application/json', 'content-type': 'application/json', cookie, origin, 'x-csrf-token': csrf }, body: JSON.stringify({ username: 'admin', password }) })
  if (login.status !== 200) throw new Error(`login: ${login.status} ${await login.text()}`)
  const session = (login.headers.get('set-cookie') ?? cookie).split(';')[0]!
  const page = await fetch(`${origin}/api/patient`, { headers: { accept: 'application/json', cookie: session } })
  if (page.status !== 200) throw new Error(`patient page: ${page.status}`)
  return await page.json() as { diagnoses: unknown[] }
}

t.test('start, diagnose, stop, resume', { timeout: 300_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hc-npm-start-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const first = start(dir)
  t.teardown(() => { first.child.kill('SIGKILL') })
  const up = await first.waitFor(/patient page\s+(http:\/\/127\.0\.0\.1:\d+)\//, 60_000)
  const password = (await first.waitFor(/page login\s+admin \/ (\S+)/, 1000))[1]!
  t.pass(`up at ${up[1]}`)
  await first.waitFor(/\[patient\] Dblock \d+: (urgent|emergency) diagnosis/, 90_000)
  const page = await patientJson(up[1]!, password)
  t.ok(page.diagnoses.length >= 1, `the patient page shows ${page.diagnoses.length} committed diagnosis(es)`)
  const unauth = await fetch(`${up[1]}/api/patient`, { headers: { accept: 'application/json' } })
  t.equal(unauth.status, 401, 'not without a login')
  const height = Number((await first.waitFor(/blocks (\d+)/, 10_000))[1])
  await stop(first, t)

  const second = start(dir)
  t.teardown(() => { second.child.kill('SIGKILL') })
  const up2 = await second.waitFor(/patient page\s+(http:\/\/127\.0\.0\.1:\d+)\//, 60_000)
  t.notMatch(second.out(), /page login/, 'no new login on the second start')
  const again = await patientJson(up2[1]!, password)
  t.ok(again.diagnoses.length >= page.diagnoses.length, 'diagnoses are still there')
  const h2 = Number((await second.waitFor(/blocks (\d+)/, 10_000))[1])
  t.ok(h2 >= height, `the chain resumed at ${h2} (was ${height})`)
  await stop(second, t)
})
