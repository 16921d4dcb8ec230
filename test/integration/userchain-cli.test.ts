/**
 * The `healthchain` commands of the core user node (issue #4): `mine`
 * mines on a data dir, `chain info|block|tx|balance` read it back (text and
 * --json), `node --mine` runs until SIGTERM and leaves a consistent store,
 * and bad arguments fail with a clear message and a non-zero exit.
 */
import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { tempDir } from '../helpers/userchain.ts'

// each step runs the real CLI as a child process: past tap's default 120 s on a busy 2-core machine
t.setTimeout(300_000)

const CLI = fileURLToPath(new URL('../../hub/src/cli.ts', import.meta.url))
const MINER = 'ab'.repeat(32)

// Node's compile cache, shared by the CLI runs of this file: each start costs a third of the CPU.
let cacheDir: string | undefined
function env (): NodeJS.ProcessEnv { return cacheDir === undefined ? process.env : { ...process.env, NODE_COMPILE_CACHE: cacheDir } }

async function run (args: string[]): Promise<{ code: number | null, out: string, err: string }> {
  const child = spawn(process.execPath, ['--no-warnings', CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: env() })
  return await collect(child)
}

async function collect (child: ChildProcess): Promise<{ code: number | null, out: string, err: string }> {
  let out = ''
  let err = ''
  child.stdout!.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr!.on('data', (d: Buffer) => { err += d.toString() })
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)))
  return { code, out, err }
}

t.before(async () => { cacheDir = await tempDir(t, 'cli-cc') })

t.test('mine, then inspect the chain', async (t) => {
  const dir = await tempDir(t, 'cli')
  const mined = await run(['mine', '--data-dir', dir, '--blocks', '2', '--threads', '2', '--miner', MINER, '--json'])
  t.equal(mined.code, 0, mined.err)
  const summary = JSON.parse(mined.out) as { blocks: Array<{ height: number, hash: string }>, threads: number }
  t.equal(summary.blocks.length, 2)
  t.equal(summary.threads, 2)

  const info = await run(['chain', 'info', '--data-dir', dir, '--check', '--json'])
  t.equal(info.code, 0, info.err)
  const i = JSON.parse(info.out) as { height: number, tip: string, problems: string[], network: string, mempool: number }
  t.equal(i.height, 2)
  t.equal(i.mempool, 0, 'no pending txs saved')
  t.equal(i.tip, summary.blocks[1]!.hash)
  t.same(i.problems, [])
  t.equal(i.network, 'devnet')

  const bal = await run(['chain', 'balance', MINER, '--data-dir', dir, '--json'])
  t.equal(bal.code, 0, bal.err)
  t.match(JSON.parse(bal.out), { balance: 100_000_000, nonce: 0, txs: 2 }, 'two coinbases paid the miner')

  const blk = await run(['chain', 'block', '1', '--data-dir', dir])
  t.equal(blk.code, 0, blk.err)
  t.match(blk.out, /best chain/)
  const coinbase = /\[0\] ([0-9a-f]{64})\s+coinbase height 1/.exec(blk.out)
  t.ok(coinbase, 'the block lists its coinbase')

  const tx = await run(['chain', 'tx', coinbase![1]!, '--data-dir', dir])
  t.equal(tx.code, 0, tx.err)
  t.match(tx.out, /height 1 position 0 \(2 confirmations\)/)

  const re = await run(['chain', 'reindex', '--data-dir', dir, '--json'])
  t.equal(re.code, 0, re.err)
  t.match(JSON.parse(re.out), { height: 2, tip: summary.blocks[1]!.hash, problems: [] }, 'reindex rebuilds to the same tip')
  const bal2 = await run(['chain', 'balance', MINER, '--data-dir', dir, '--json'])
  t.match(JSON.parse(bal2.out), { balance: 100_000_000 }, 'and the same balances')

  const missing = await run(['chain', 'tx', '00'.repeat(32), '--data-dir', dir])
  t.not(missing.code, 0)
  t.match(missing.err, /not on the best chain/)
  const badId = await run(['chain', 'balance', 'xyz', '--data-dir', dir])
  t.not(badId.code, 0)
  t.match(badId.err, /hex/)
  const noMiner = await run(['mine', '--data-dir', dir])
  t.not(noMiner.code, 0)
  t.match(noMiner.err, /no miner ID/)
  const badNet = await run(['chain', 'info', '--data-dir', dir, '--network', 'moon'])
  t.not(badNet.code, 0)
  t.match(badNet.err, /unknown network/)
})

t.test('node --mine runs until SIGTERM; the data dir is locked meanwhile', async (t) => {
  const dir = await tempDir(t, 'cli')
  const child = spawn(process.execPath, ['--no-warnings', CLI, 'node', '--data-dir', dir, '--mine', '--threads', '1', '--miner', MINER], { stdio: ['ignore', 'pipe', 'pipe'], env: env() })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  const done = collect(child)
  let seen = ''
  child.stdout.on('data', (d: Buffer) => { seen += d.toString() })
  await new Promise<void>((resolve) => { const tick = (): void => { if (/tip 3 /.test(seen) || child.exitCode !== null) resolve(); else setTimeout(tick, 20) }; tick() })
  const locked = await run(['chain', 'info', '--data-dir', dir])
  t.not(locked.code, 0)
  t.match(locked.err, /in use by another process/, 'a second process is told the node holds the data dir')
  child.kill('SIGTERM')
  const r = await done
  t.equal(r.code, 0, r.err)
  t.match(r.out, /mining on 1 thread/)
  t.match(r.out, /stopping/)
  const info = await run(['chain', 'info', '--data-dir', dir, '--check', '--json'])
  t.equal(info.code, 0, info.err)
  const i = JSON.parse(info.out) as { height: number, problems: string[] }
  t.ok(i.height >= 3, `mined to height ${i.height}`)
  t.same(i.problems, [])
})
