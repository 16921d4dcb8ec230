/**
 * `healthchain registry sign|show|submit` as real child processes: two of
 * three consortium members sign a REGISTER record in turn (each with their
 * own keystore), `submit` sends it over libp2p to an accounting node of a
 * four-node Docchain (in-process transport, LevelDB), and the doctor is then
 * registered everywhere with the X25519 key of its identity record. A record
 * with one signature is refused with the reason (exit 1).
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { decodeIdentityRecord, fromHex, toHex } from '../../hub/src/core/index.ts'
import { DoctorRegistry } from '../../hub/src/core/pbft/registry.ts'
import { AccountingNode } from '../../hub/src/roles/accounting/node.ts'
import { MemoryNetwork } from '../helpers/memory-network.ts'
import { serveDiagSubmissions } from '../../hub/src/roles/accounting/diag-protocol.ts'
import { createIpfsLibp2p } from '../../hub/src/ipfs/libp2p.ts'
import { GENESIS, ident } from '../fuzz/pbft-sim.ts'

// each step runs the real CLI as a child process: past tap's default 120 s on a busy 2-core machine
t.setTimeout(300_000)

const run = promisify(execFile)
const CLI = new URL('../../hub/src/cli.ts', import.meta.url).pathname

t.test('two members sign a REGISTER in turn, submit it over libp2p, the doctor is registered on Docchain', async (t) => {
  const dir = t.testdir({ c0: {}, c1: {}, c2: {}, doc: {}, acc: {} })
  const env = { ...process.env, HEALTHCHAIN_PASSPHRASE: 'registry cli test' }
  const hc = async (...args: string[]): Promise<string> => (await run(process.execPath, [CLI, ...args], { env })).stdout.trim()
  const fails = async (...args: string[]): Promise<{ code: number, stderr: string } | null> =>
    await run(process.execPath, [CLI, ...args], { env }).then(() => null, (e: { code: number, stderr: string }) => e)
  const ids: string[] = []
  for (const c of ['c0', 'c1', 'c2', 'doc']) {
    await hc('keys', 'new', '--data-dir', join(dir, c))
    ids.push(await hc('keys', 'show', '--no-unlock', '--data-dir', join(dir, c)))
  }
  const doctorRecord = await hc('keys', 'export-public', '--data-dir', join(dir, 'doc'))
  const doctorX = toHex(decodeIdentityRecord(fromHex('record', doctorRecord)).x25519)

  // four accounting nodes; node 0 serves submissions over libp2p
  const replicas = [0, 1, 2, 3].map((i) => ident(`reg-cli-replica-${i}`))
  const net = new MemoryNetwork()
  const registry = new DoctorRegistry({ members: ids.slice(0, 3).map((h) => fromHex('id', h)), threshold: 2 }, [])
  const nodes = await Promise.all(replicas.map(async (r, i) => await AccountingNode.start({
    identity: r,
    members: replicas.map((x) => x.id),
    genesis: GENESIS,
    dir: join(dir, 'acc', `n${i}`),
    transport: net.join(r.id),
    registry,
    userchain: { iotTx: async () => null, epochReaders: async () => null },
    payments: { paid: async () => Infinity, price: 1 },
    replica: { batchDelayMs: 5, requestTimeoutMs: 1000, viewChangeTimeoutMs: 1000 },
    tickMs: 5
  })))
  const libp2p = await createIpfsLibp2p()
  const unserve = await serveDiagSubmissions(libp2p, async (tx) => await nodes[0]!.submit(tx))
  t.teardown(async () => { await unserve(); await libp2p.stop(); for (const x of nodes) await x.stop() })
  const addr = libp2p.getMultiaddrs()[0]!.toString()
  const membersArg = replicas.map((r) => toHex(r.id)).join(',')

  const file = join(dir, 'register.hex')
  await hc('registry', 'sign', '--action', 'register', '--seq', '1', '--doctor-record', doctorRecord, '--out', file, '--data-dir', join(dir, 'c0'))
  t.same(JSON.parse(await hc('registry', 'show', file, '--json')).signers, [ids[0]], 'one signature so far')
  const one = await fails('registry', 'submit', file, '--to', addr)
  t.ok(one !== null && one.code === 1 && /ERR_REGISTRY_RECORD/.test(one.stderr) && /1 valid signer\(s\), 2 required/.test(one.stderr), `one of 2-of-3 is refused with the reason (${one?.stderr.trim()})`)

  await hc('registry', 'sign', '--add-to', file, '--data-dir', join(dir, 'c2'))
  const shown = JSON.parse(await hc('registry', 'show', file, '--json'))
  t.same([...shown.signers].sort(), [ids[0], ids[2]].sort(), 'the second member\'s signature added')
  t.equal(shown.doctor, ids[3])
  t.equal(shown.action, 'register')
  t.match((await readFile(file, 'utf8')).trim(), /^[0-9a-f]+$/, 'a record file is one hex line')
  const mismatch = await fails('registry', 'sign', '--add-to', file, '--action', 'suspend', '--seq', '1', '--doctor-record', doctorRecord, '--data-dir', join(dir, 'c1'))
  t.ok(mismatch !== null && mismatch.code === 1 && /another record/.test(mismatch.stderr), 'cosigning checks the record is the one described')

  t.match(await hc('registry', 'submit', file, '--to', addr, '--members', membersArg), /committed in Dblock \d+ .*certificate of 3 accounting nodes verified/)
  for (const [i, x] of nodes.entries()) {
    for (let k = 0; k < 500 && x.registry.seq < 1; k++) await new Promise((r) => setTimeout(r, 10))
    t.equal(x.registry.status(fromHex('id', ids[3]!)), 'active', `node ${i}: the doctor is registered`)
    t.equal(toHex(x.registry.x25519(fromHex('id', ids[3]!))!), doctorX, `node ${i}: with the X25519 key of its identity record`)
  }
  const replay = await fails('registry', 'submit', file, '--to', addr)
  t.equal(replay, null, 'the same record again answers with its committed Dblock')

  const forged = doctorRecord.slice(0, -2) + (doctorRecord.endsWith('00') ? '01' : '00')
  const bad = await fails('registry', 'sign', '--action', 'register', '--seq', '2', '--doctor-record', forged, '--data-dir', join(dir, 'c1'))
  t.ok(bad !== null && bad.code === 1 && /sig/.test(bad.stderr), `a forged identity record is refused before signing (${bad?.stderr.trim()})`)
})
