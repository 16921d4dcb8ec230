/**
 * The `healthchain` command however a user reaches it, on a fresh clone of
 * this repository (its node_modules linked to the installed tree): `npx`,
 * `npm exec`, a global install, `bin/healthchain.js` as the systemd units
 * run it, and an unsupported system Node. npx and a global install reach
 * the bin through a symlink; npx must not change its mode (git stays clean).
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { symlink } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

t.setTimeout(300_000)
const run = promisify(execFile)
const root = fileURLToPath(new URL('../../', import.meta.url))
// the Node 24 that package.json pins first on PATH (the system's npm and npx then run on it): a user whose Node is supported
const pinnedBin = join(root, 'node_modules', 'node', 'bin')
const supportedPath = `${pinnedBin}:/usr/local/bin:/usr/bin:/bin`
const env = (path: string): NodeJS.ProcessEnv => {
  const e: NodeJS.ProcessEnv = { HOME: process.env.HOME, PATH: path, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' }
  return e
}
type Out = { code: number, stdout: string, stderr: string }
const exec = async (file: string, args: string[], cwd: string, path: string): Promise<Out> =>
  await run(file, args, { cwd, env: env(path) }).then((r) => ({ code: 0, ...r }), (e: Out) => e)

t.test('a fresh clone: npx, npm exec, the systemd path, a global install', async (t) => {
  const dir = t.testdir()
  const clone = join(dir, 'healthchain')
  await run('git', ['clone', '--quiet', root, clone])
  await symlink(join(root, 'node_modules'), join(clone, 'node_modules'))
  t.equal((await run('git', ['-C', clone, 'ls-files', '-s', 'bin/healthchain.js'])).stdout.slice(0, 6), '100755', 'the bin is committed executable')

  const npx = await exec('npx', ['healthchain', '--help'], clone, supportedPath)
  t.equal(npx.code, 0, 'npx healthchain --help exits 0')
  t.match(npx.stdout, /Usage: healthchain/)
  t.match(npx.stdout, /\bhub \[options\]/, 'lists the hub command')
  t.equal(npx.stderr, '', `nothing on stderr (no engine warnings): ${npx.stderr}`)
  t.equal((await run('git', ['-C', clone, 'status', '--porcelain'])).stdout.replace(/^\?\? node_modules\n/m, ''), '', 'npx left the clone unchanged (no mode flip)')

  const exe = await exec('npm', ['exec', '--', 'healthchain', '--version'], clone, supportedPath)
  t.equal(exe.stdout.trim(), '0.1.0', 'npm exec')
  t.equal(exe.stderr, '')

  const unit = readFileSync(join(root, 'hub', 'healthchain-hub.service'), 'utf8')
  t.match(unit, /^ExecStart=\/opt\/healthchain\/bin\/healthchain\.js hub /m, 'the systemd unit runs the launcher')
  const direct = await exec(join(clone, 'bin', 'healthchain.js'), ['--version'], '/', supportedPath)
  t.equal(direct.stdout.trim(), '0.1.0', 'bin/healthchain.js from any directory, as systemd runs it')

  const prefix = join(dir, 'global')
  const g = await exec('npm', ['install', '--global', '--offline', '--prefix', prefix, clone], dir, supportedPath)
  t.equal(g.code, 0, `npm install --global: ${g.stderr}`)
  const global = await exec(join(prefix, 'bin', 'healthchain'), ['keys', '--help'], dir, supportedPath)
  t.match(global.stdout, /Usage: healthchain keys/, 'the globally installed command, reached through its symlink')
})

t.test('an unsupported system Node: hands over to the pinned Node 24, or says which Node to install', async (t) => {
  const old = (await run('/usr/bin/node', ['--version']).catch(() => ({ stdout: '' }))).stdout.trim()
  if (old === '' || !/^v(1\d|20|21|22\.(1[0-8]|\d)\.|23)/.test(old)) { t.comment(`/usr/bin/node is ${old || 'absent'}, not an unsupported version: nothing to hand over`); return }
  const launcher = join(root, 'bin', 'healthchain.js')
  const handed = await exec('/usr/bin/node', [launcher, '--version'], root, '/usr/bin:/bin')
  t.equal(handed.stdout.trim(), '0.1.0', `${old} hands over to the pinned Node`)
  t.ok(existsSync(join(pinnedBin, 'node')))
  // as after `npm ci --omit=dev`: no pinned Node to hand over to (HEALTHCHAIN_LAUNCHED marks a hand-over already made)
  const r = await run('/usr/bin/node', [launcher, '--version'], { env: { PATH: '/usr/bin:/bin', HEALTHCHAIN_LAUNCHED: '1' } }).then(() => null, (e: Out) => e)
  t.equal(r?.code, 1)
  t.match(r?.stderr, new RegExp(`needs Node\\.js 22\\.19\\+ or 24\\.3\\+ .*this is Node ${old.replace(/\./g, '\\.')}.*Which Node`))
})
