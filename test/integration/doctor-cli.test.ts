/**
 * `healthchain doctor --config` as a process (cli/doctor.ts), killed with
 * SIGKILL — no clean stop, nothing flushed — once it has signed a tx_diag
 * that no accounting node has answered yet, then started again on the same
 * data dir: it prints its ready block (doctor ID, peer, page, the login only
 * on the first start), analyses nothing again, sends the journalled tx_diag
 * once and keeps the receipt; SIGTERM then stops it cleanly (exit 0).
 */
import t, { type Test } from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { toHex, txId } from '../../hub/src/core/index.ts'
import { saveKeystore } from '../../hub/src/store/keystore.ts'
import { tempDir } from '../helpers/ipfs.ts'
import { seed } from '../helpers/core.ts'
import { aiDoctor, doctorWorld, until } from '../helpers/doctor-world.ts'

t.setTimeout(120_000) // a bound, not a goal: two daemon starts, a few devnet blocks and one PBFT commit

const CLI = new URL('../../hub/src/cli.ts', import.meta.url).pathname

interface Daemon { child: ChildProcess, out: () => string }

async function startDaemon (t: Test, config: string, passFile: string): Promise<Daemon> {
  const child = spawn(process.execPath, [CLI, 'doctor', '--config', config, '--passphrase-file', passFile], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { child.kill('SIGKILL') })
  let out = ''
  child.stdout!.on('data', (b: Buffer) => { out += b.toString() })
  child.stderr!.on('data', (b: Buffer) => { out += b.toString() })
  await until('the doctor ready block', () => (/\n {2}journal /.test(out) || child.exitCode !== null ? true : undefined), 90_000)
  if (!/doctor ready\n/.test(out)) throw new Error(`no ready block:\n${out}`)
  return { child, out: () => out }
}

t.test('a doctor killed after signing sends its tx_diag once after the restart and analyses nothing again', async (t) => {
  const dir = await tempDir(t, 'doctor-cli')
  const world = await doctorWorld(t, dir)
  const iot = await world.batch(85)
  const passFile = join(dir, 'passphrase')
  await writeFile(passFile, 'doctor passphrase\n', { mode: 0o600 })
  await saveKeystore(join(dir, 'doctor', 'keystore.json'), seed('daemon-ai-doctor'), 'doctor passphrase', { scrypt: { N: 2 ** 10, r: 8, p: 1 } })
  const config = join(dir, 'doctor.json')
  await writeFile(config, JSON.stringify({ $schema: '../schemas/doctor.schema.json', ...world.cfgFile, dataDir: 'doctor', mode: 'ai' }))

  const d1 = await startDaemon(t, config, passFile)
  t.match(d1.out(), new RegExp(`doctor ID +${toHex(aiDoctor.id)}\\n`), 'the ready block names the doctor')
  t.match(d1.out(), /\n {2}peer +\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/12D3KooW\w+\n/, 'its peer address')
  t.match(d1.out(), /\n {2}doctor page +http:\/\/127\.0\.0\.1:\d+\/\n(?:.*\n)*? {2}page login +admin \/ \S+/, 'its page and the login, made on this first start')
  const signed = await until('a signed tx_diag', () => /diagnosis (\w+)… signed for (\w+)…/.exec(d1.out()) ?? undefined)
  t.equal(signed[2], toHex(txId(iot)).slice(0, 12), 'for the batch')
  d1.child.kill('SIGKILL')
  await new Promise((resolve) => d1.child.once('exit', resolve))

  await world.serve()
  const d2 = await startDaemon(t, config, passFile)
  t.notMatch(d2.out(), /page login/, 'the login is shown only once')
  // (its receipt may already be in by the time the ready block is printed)
  t.match(d2.out(), /journal +1 batch\(es\) done, 0 queued, (1 tx_diag pending, 0|0 tx_diag pending, 1) committed/, 'the journal held the batch and its tx_diag across the kill')
  const line = await until('the receipt', () => /tx_diag (\w+)… committed in Dblock (\d+)/.exec(d2.out()) ?? undefined)
  t.equal(line[1], signed[1], 'the tx_diag signed before the kill')
  t.equal(world.received.length, 1, 'sent once')
  t.equal(world.received[0]!.slice(0, 12), signed[1])
  t.notMatch(d2.out(), /signed for/, 'nothing analysed or signed again')
  const code = await new Promise<number | null>((resolve) => { d2.child.once('exit', resolve); d2.child.kill('SIGTERM') })
  t.equal(code, 0, 'SIGTERM stops it cleanly')
  t.match(d2.out(), /stopping\n.*stopped\n/, 'and says so')
})
