/**
 * Attacks on guardian recovery, through the real CLI (`keys guardians`,
 * `keys guardian-reseal`, `keys recover start|add|status`) on real
 * keystores: a share from the wrong guardian, of the wrong set, of the
 * wrong patient, the same share twice, and a share resealed for an earlier
 * recovery session are each refused with exit 1 and a clear reason; fewer
 * than m shares restore nothing; m shares restore the patient's ID.
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'

// every step runs the real CLI as a child process: past tap's default 120 s on a busy 2-core machine
t.setTimeout(600_000)

const run = promisify(execFile)
const CLI = new URL('../../hub/src/cli.ts', import.meta.url).pathname
const env = { ...process.env, HEALTHCHAIN_PASSPHRASE: 'guardian recovery cli test 7' }
const hc = async (...args: string[]): Promise<string> => (await run(process.execPath, [CLI, ...args], { env })).stdout.trim()
const refused = async (...args: string[]): Promise<{ code: number, stderr: string }> =>
  await run(process.execPath, [CLI, ...args], { env }).then(() => ({ code: 0, stderr: '' }), (e: { code: number, stderr: string }) => e)

t.test('guardian recovery through the CLI', async (t) => {
  const dir = t.testdir({})
  const d = (name: string): string[] => ['--data-dir', join(dir, name)]
  for (const who of ['patient', 'other-patient', 'g1', 'g2', 'g3']) await hc('keys', 'new', ...d(who))
  const rec = await Promise.all(['g1', 'g2', 'g3'].map(async (g) => await hc('keys', 'export-public', ...d(g))))
  const patient = await hc('keys', 'show', '--no-unlock', ...d('patient'))
  const split = async (who: string, out: string): Promise<string[]> => {
    const r = JSON.parse(await hc('keys', 'guardians', '--threshold', '2', '--guardian', ...rec, '--out', join(dir, out), '--json', ...d(who)))
    return (r.guardians as Array<{ file: string }>).map((g) => g.file)
  }
  const shares = await split('patient', 'set-a')
  const setB = await split('patient', 'set-b')
  const strangers = await split('other-patient', 'set-x')
  t.equal((await readdir(join(dir, 'set-a'))).length, 3, 'one file per guardian')

  const fresh = d('new-hub')
  const s1 = JSON.parse(await hc('keys', 'recover', 'start', '--patient', patient, '--json', ...fresh))
  const reseal = async (g: number, share: string, to: string, out: string): Promise<string> => {
    await hc('keys', 'guardian-reseal', '--share', share, '--to', to, '--out', join(dir, out), ...d(`g${g}`))
    return join(dir, out)
  }
  const earlier = await reseal(1, shares[0]!, s1.record, 'earlier-1.json')
  // the patient restarts the session (say, the first hub was lost too): shares resealed to the first one are now stale
  const s2 = JSON.parse(await hc('keys', 'recover', 'start', '--patient', patient, '--restart', '--json', ...fresh))

  t.test('wrong guardian', async (t) => {
    const r = await refused('keys', 'guardian-reseal', '--share', shares[0]!, '--to', s2.record, '--out', join(dir, 'x.json'), ...d('g2'))
    t.equal(r.code, 1)
    t.match(r.stderr, /share 1 of set .* is sealed to guardian .*not to you.*yours is share 2/, r.stderr.trim())
  })

  t.test('replayed share from an earlier recovery session', async (t) => {
    const r = await refused('keys', 'recover', 'add', earlier, ...fresh)
    t.equal(r.code, 1)
    t.match(r.stderr, /resealed for recovery session .* not this session/, r.stderr.trim())
  })

  const first = await reseal(1, shares[0]!, s2.record, 'share-1.json')
  t.test('fewer than m shares restore nothing', async (t) => {
    const r = await refused('keys', 'recover', 'add', first, ...fresh)
    t.equal(r.code, 1)
    t.match(r.stderr, /1 share\(s\) collected, 2 needed: fewer than the threshold reveal nothing/, r.stderr.trim())
    await t.rejects(stat(join(dir, 'new-hub', 'keystore.json')), /ENOENT/, 'no keystore')
    t.same(JSON.parse(await hc('keys', 'recover', 'status', '--json', ...fresh)).have, [1], 'the share stays collected')
  })

  t.test('replayed share', async (t) => {
    const r = await refused('keys', 'recover', 'add', first, ...fresh)
    t.equal(r.code, 1)
    t.match(r.stderr, /share 1 was already collected in this recovery/, r.stderr.trim())
  })

  t.test('wrong set', async (t) => {
    const other = await reseal(2, setB[1]!, s2.record, 'set-b-2.json')
    const r = await refused('keys', 'recover', 'add', other, ...fresh)
    t.equal(r.code, 1)
    t.match(r.stderr, /the share is of set [0-9a-f]+, the shares collected so far are of set/, r.stderr.trim())
  })

  t.test('wrong patient', async (t) => {
    const other = await reseal(2, strangers[1]!, s2.record, 'stranger-2.json')
    const r = await refused('keys', 'recover', 'add', other, ...fresh)
    t.equal(r.code, 1)
    t.match(r.stderr, /the share belongs to patient [0-9a-f]+…, this recovery restores/, r.stderr.trim())
  })

  t.test('m shares restore the patient', async (t) => {
    const second = await reseal(3, shares[2]!, s2.record, 'share-3.json')
    const r = JSON.parse(await hc('keys', 'recover', 'add', second, '--json', ...fresh))
    t.equal(r.restored.id, patient)
    t.equal(await hc('keys', 'show', '--no-unlock', ...fresh), patient, 'the new hub\'s keystore is the patient\'s identity')
    t.equal((await stat(join(dir, 'new-hub', 'keystore.json'))).mode & 0o777, 0o600)
    const again = await refused('keys', 'recover', 'status', ...fresh)
    t.match(again.stderr, /no recovery session/, 'the session is gone')
  })
})
