/**
 * `healthchain keys grant|revoke|doctors` on a real data dir: tx_keys go into
 * the node's persisted mempool, are mined, and the doctor list follows the chain.
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { stat } from 'node:fs/promises'
import { join } from 'node:path'

// each step runs the real CLI as a child process: past tap's default 120 s on a busy 2-core machine
t.setTimeout(300_000)

const run = promisify(execFile)
const CLI = new URL('../../hub/src/cli.ts', import.meta.url).pathname

t.test('grant, mine, revoke, list; errors are clear', async (t) => {
  const dir = t.testdir({ doc: {} })
  const env = { ...process.env, HEALTHCHAIN_PASSPHRASE: 'keys cli test' }
  const hc = async (...args: string[]): Promise<string> => (await run(process.execPath, [CLI, ...args], { env })).stdout.trim()
  await hc('keys', 'new', '--data-dir', dir)
  await hc('keys', 'new', '--data-dir', join(dir, 'doc'))
  const record = await hc('keys', 'export-public', '--data-dir', join(dir, 'doc'))
  const doctor = await hc('keys', 'show', '--no-unlock', '--data-dir', join(dir, 'doc'))
  t.match(await hc('keys', 'grant', record, '--data-dir', dir), new RegExp(`granted ${doctor} in epoch 2`))
  t.equal((await stat(join(dir, 'doctors.json'))).mode & 0o777, 0o600, 'the doctor book is private')
  const listed = JSON.parse(await hc('keys', 'doctors', '--json', '--data-dir', dir)) as { epoch: number, doctors: string[], pending: Array<{ epoch: number, kind: string, doctor?: string, accepted: boolean }> }
  t.same({ epoch: listed.epoch, doctors: listed.doctors }, { epoch: 2, doctors: [doctor] }, 'the accepted grant is in use')
  t.same(listed.pending.map((p) => [p.epoch, p.kind, p.doctor ?? null, p.accepted]), [[1, 'init', null, true], [2, 'grant', doctor, true]], 'and listed as pending until mined')
  await hc('mine', '--data-dir', dir, '--threads', '1', '--blocks', '1')
  t.match(await hc('chain', 'info', '--data-dir', dir), /height/, 'mined')
  t.match(await hc('keys', 'revoke', doctor, '--data-dir', dir), /epoch 3 has a fresh IoT key for 0 remaining doctor/)
  const after = JSON.parse(await hc('keys', 'doctors', '--json', '--data-dir', dir)) as { epoch: number, doctors: string[], pending: Array<{ epoch: number, kind: string }> }
  t.same({ epoch: after.epoch, doctors: after.doctors }, { epoch: 3, doctors: [] })
  t.same(after.pending.map((p) => [p.epoch, p.kind]), [[3, 'revoke']], 'the mined epochs left the pending list; the revocation waits for a block')
  const again = await run(process.execPath, [CLI, 'keys', 'revoke', doctor, '--data-dir', dir], { env }).then(() => null, (e: { code: number, stderr: string }) => e)
  t.ok(again !== null && again.code === 1 && /holds no keys/.test(again.stderr), 'revoking twice is a clear error')
  // Healthcoin: the block mined above paid this node's ID; pay the doctor from it
  const me = await hc('keys', 'show', '--no-unlock', '--data-dir', dir)
  const before = JSON.parse(await hc('coin', 'balance', '--json', '--data-dir', dir))
  t.equal(before.id, me)
  t.ok(before.balance > 0, `the coinbase paid ${before.balance}`)
  t.match(await hc('coin', 'pay', doctor, '1234', '--data-dir', dir), /queued transfer/)
  t.equal(JSON.parse(await hc('coin', 'balance', doctor, '--json', '--data-dir', dir)).pending, 1, 'the transfer waits in the mempool')
  await hc('mine', '--data-dir', dir, '--threads', '1', '--blocks', '1')
  t.equal(JSON.parse(await hc('coin', 'balance', doctor, '--json', '--data-dir', dir)).balance, 1234, 'mined: the doctor holds it')
  const broke = await run(process.execPath, [CLI, 'coin', 'pay', doctor, String(before.balance * 10), '--data-dir', dir], { env }).then(() => null, (e: { code: number, stderr: string }) => e)
  t.ok(broke !== null && broke.code === 1 && /holds/.test(broke.stderr), 'overspending is refused with the reason')
  const forged = record.slice(0, -2) + (record.endsWith('00') ? '01' : '00')
  const bad = await run(process.execPath, [CLI, 'keys', 'grant', forged, '--data-dir', dir], { env }).then(() => null, (e: { code: number, stderr: string }) => e)
  t.ok(bad !== null && bad.code === 1 && /signature/.test(bad.stderr), `a forged identity record is refused (${bad?.stderr.trim()})`)
})
