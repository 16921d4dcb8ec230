/**
 * The README's "From the devnet to real boards and a Raspberry Pi" → "Step
 * by step" code blocks, run as written on a fresh data dir (loopback
 * addresses, mosquitto_pub as the device, the installed node_modules): the
 * identity, pairing on the user's full ID, the config and its --check, the
 * hub's first start (key epoch 1, no doctor), a reading published as
 * documented, sealed and recorded on Userchain, the patient page showing
 * it, then `chain tx` once the hub is stopped. The consortium's storage
 * node is the one thing started beside the README (its own section); in
 * light mode ("A hub for small boards"), a mining core node too, the one
 * the light hub's `bootstrap` names. CI runs light mode (the one that
 * needs the most parts); WALKTHROUGH_MODES=core,light runs both (the
 * default off CI).
 */
import t from 'tap'
import { spawn, execFile, type ChildProcess } from 'node:child_process'
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { openAdmission, StorageNode } from '../../hub/src/roles/storage/index.ts'
import { DEVNET } from '../../hub/src/core/index.ts'
import { CoreNode } from '../../hub/src/roles/core/node.ts'
import { CoreNet } from '../../hub/src/net/service.ts'
import { coreChain } from '../../hub/src/net/core-chain.ts'
import { Miner } from '../../hub/src/roles/core/miner.ts'
import { who } from '../helpers/core.ts'
import { skipUnlessTools } from '../helpers/tools.ts'
import { fill, hubReady, patientPage, readmeBlocks, ROOT } from '../helpers/readme-steps.ts'

t.setTimeout(600_000)
const run = promisify(execFile)

/** A user whose Node is supported: the pinned Node 24 first on PATH (npx, npm and the bin's shebang run on it). */
export const userPath = `${join(ROOT, 'node_modules', 'node', 'bin')}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin`

const MODES = (process.env.WALKTHROUGH_MODES ?? (process.env.CI === undefined ? 'core,light' : 'light')).split(',').map((m) => m.trim())

for (const mode of MODES) t.test(`the Pi walkthrough, as the README writes it (${mode} hub)`, { skip: skipUnlessTools('mosquitto_pub') }, async (t) => {
  const light = mode === 'light'
  const dir = t.testdir()
  const blocks = readmeBlocks('### Step by step')
  t.equal(blocks.length, 6, 'six command blocks: identity, pairing, config, start, a reading, the chain')
  const storage = await StorageNode.create({ dataDir: join(dir, 'storage'), admission: openAdmission })
  t.teardown(async () => { await storage.stop() })
  // a light hub's core node: it keeps Userchain, serves the proofs and mines the hub's transactions
  let coreAddr: string | undefined
  if (light) {
    const node = await CoreNode.open({ dir: join(dir, 'core-node'), params: DEVNET, verifyThreads: 1 })
    const net = await CoreNet.start({ chain: coreChain(node), params: DEVNET, listen: ['/ip4/127.0.0.1/tcp/0'], redialMs: 0 })
    const miner = new Miner(node, { miner: who('walkthrough-core-node').id, threads: 1 })
    miner.start()
    t.teardown(async () => { await miner.close(); await net.stop(); await node.close() })
    coreAddr = net.net.addrs()[0]!.toString()
  }

  const env: NodeJS.ProcessEnv = { HOME: process.env.HOME, PATH: userPath, HEALTHCHAIN_PASSPHRASE: 'walkthrough test passphrase', npm_config_update_notifier: 'false' }
  const map: Record<string, string> = { '/opt/healthchain': ROOT, '/var/lib/healthchain': join(dir, 'var-lib'), '/etc/healthchain': join(dir, 'etc'), '<pi>': '127.0.0.1' }
  let cwd = dir
  let hub: ChildProcess | undefined
  let hubOut = ''
  t.teardown(() => { try { process.kill(-hub!.pid!, 'SIGKILL') } catch {} })
  const outputs: string[] = []

  // the commands, one by one; the steps between them are what the README tells the user to do or look at
  const exec = async (raw: string): Promise<string> => {
    const cmd = fill(raw, map).replace(/^sudo /, '')
    const words = cmd.split(' ')
    if (words[0] === 'cd') { cwd = words[1]!; return '' }
    if (words[0] === 'export') { const [k, v] = words[1]!.split('='); env[k!] = v; return '' }
    if (words[0] === 'nano') {
      // the edits step 3 lists, on loopback (port 0 everywhere, one mining thread)
      const file = words[1]!
      const cfg = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>
      Object.assign(cfg, {
        dataDir: map['/var/lib/healthchain'], storageNodes: [storage.ipfs.multiaddrs[0]!.toString()], serial: [], bootstrap: coreAddr === undefined ? [] : [coreAddr],
        listen: ['/ip4/127.0.0.1/tcp/0'], broker: { embedded: { host: '127.0.0.1', port: 0 } }, http: { host: '127.0.0.1', port: 0 }, editor: { host: '127.0.0.1', port: 0 }, threads: 1,
        // the light hub's edits, as step 3 lists them
        ...(light ? { mode: 'light', mine: false } : {})
      })
      delete cfg.docchain
      await writeFile(file, JSON.stringify(cfg, null, 2))
      return ''
    }
    if (words[0] === 'mkdir') { await mkdir(words[2]!, { recursive: true }); return '' }
    if (words[0] === 'cp') { await copyFile(join(cwd, words[1]!), words[2]!); return '' }
    if (/^npx healthchain hub --config \S+$/.test(cmd)) {
      // its own process group, as a terminal's foreground job: Ctrl-C signals npx and the hub it runs
      hub = spawn('/bin/sh', ['-c', `exec ${cmd}`], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
      hub.stdout!.on('data', (b: Buffer) => { hubOut += b.toString() })
      hub.stderr!.on('data', (b: Buffer) => { hubOut += b.toString() })
      await until(() => /\n {2}logins /.test(hubOut) || hub!.exitCode !== null, 120_000)
      return hubOut
    }
    const r = await run('/bin/sh', ['-c', cmd], { cwd, env }).catch((e: { stdout: string, stderr: string, code: number }) => { t.fail(`${cmd}: exit ${e.code}\n${e.stderr}`); return e })
    return r.stdout
  }

  // 1. identity
  for (const c of blocks[0]!) outputs.push(await exec(c))
  const id = /id: ([0-9a-f]{64})/.exec(outputs.join('\n'))?.[1]
  t.ok(id, 'keys new printed the ID')
  // 2. pairing, on the full ID
  const paired = await exec(blocks[1]![0]!)
  t.match(paired, new RegExp(`paired ox-1 for user ${id}`), 'the device is paired to the user\'s full ID')
  map['<secret of ox-1>'] = /secret: (\S+)/.exec(paired)![1]!
  // 3. the config, checked
  let checked = ''
  for (const c of blocks[2]!) checked = await exec(c)
  t.match(checked, /config ok/, '--check passes the edited config')
  // 4. the hub's first start
  await exec(blocks[3]![0]!)
  t.match(hubOut, /hub ready/, `hub ready:\n${hubOut}`)
  const ready = await hubReady(hubOut, map['/var/lib/healthchain']!)
  t.ok(ready.login, 'the first start writes the page login to the logins file')
  t.notMatch(hubOut, ready.login?.password ?? '(none)', 'and never prints it')
  t.equal((await patientPage(ready.url, ready.login!)).epoch, 1, 'key epoch 1 before any grant: readings are sealed from the start')
  // 5. a reading, published as documented
  t.match(blocks[4]![0], /^mosquitto_pub -h 127.0.0.1 -p 1883 /)
  map['-p 1883'] = `-p ${ready.mqttPort}`
  await exec(blocks[4]![0]!)
  await until(() => /batch recorded: tx_IoT/.test(hubOut) || hub!.exitCode !== null, 150_000)
  const rec = /batch recorded: tx_IoT ([0-9a-f]{64}) \(key epoch (\d+)\) in Ublock (\d+)/.exec(hubOut)
  t.ok(rec, `the batch was sealed and its tx_IoT mined:\n${hubOut}`)
  if (light) t.match(hubOut, /in Ublock \d+, its Merkle proof verified/, 'the light hub holds it with a proof it checked')
  t.equal(rec?.[2], '1', 'sealed with key epoch 1')
  // 6. the patient page shows it
  const page = await patientPage(ready.url, ready.login!)
  t.match(page.readings, [{ device: 'ox-1', type: 'spo2', value: 97 }], 'the reading on the patient page')
  t.match(page.devices, [{ id: 'ox-1', accepted: 1, dropped: 0 }], 'the device with its accepted line')
  // two mistakes on the wire (hub/src/ingest/README.md): a bad CRC, a wrong hub id; then the next good line
  const pub = async (topic: string, line: string): Promise<{ code: number, stderr: string }> =>
    await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(ready.mqttPort), '-q', '1', '-u', 'ox-1', '-P', map['<secret of ox-1>']!, '-t', topic, '-m', line], { env })
      .then(() => ({ code: 0, stderr: '' }), (e: { code: number, stderr: string }) => e)
  const second = '{"d":"ox-1","b":1,"s":2,"t":"hr","v":72,"u":"/min","ts":2000}'
  t.equal((await pub('healthchain/hub/devices/ox-1/readings', `${second}*00000000`)).code, 0, 'a bad CRC is acknowledged (counted, not kept)')
  const wrongHub = await pub('healthchain/hub1/devices/ox-1/readings', `${second}*0052bf65`)
  t.not(wrongHub.code, 0, `a wrong hub id: the broker closes the connection, nothing acknowledged (${wrongHub.stderr.trim()})`)
  await until(() => /ERR_ACL/.test(hubOut), 30_000)
  t.match(hubOut, /dropped from ox-1: ERR_LINE_CHECKSUM crc: /, 'the hub prints the CRC drop')
  t.match(hubOut, /dropped from ox-1: ERR_ACL topic: device "ox-1" may not use "healthchain\/hub1\/devices\/ox-1\/readings": its readings go to healthchain\/hub\/devices\/ox-1\/readings/, 'the wrong hub id names the right topic')
  t.equal((await pub('healthchain/hub/devices/ox-1/readings', `${second}*0052bf65`)).code, 0, 'the resent line is accepted')
  const after = await patientPage(ready.url, ready.login!)
  t.match(after.devices, [{ id: 'ox-1', accepted: 2, dropped: 2 }], 'nothing lost: both good lines accepted, both mistakes counted')
  const drops = after.devices[0]?.drops ?? []
  t.match(drops.find((d) => d.code === 'ERR_LINE_CHECKSUM'), { count: 1, reason: /bad CRC/, last: /crc/ }, 'the page gives the CRC drop\'s reason')
  t.match(drops.find((d) => d.code === 'ERR_ACL'), { count: 1, reason: /wrong topic/, last: /its readings go to healthchain\/hub\/devices\/ox-1\/readings/ }, 'and the wrong hub id\'s')
  // Ctrl-C, then the chain
  await new Promise<void>((resolve) => { hub!.once('exit', () => { resolve() }); process.kill(-hub!.pid!, 'SIGINT') })
  t.match(hubOut, /stopping …/, 'Ctrl-C stops the hub (and the next command opens its databases)')
  map['<htxI>'] = rec![1]!
  const onChain = await exec(blocks[5]![0]!)
  t.match(onChain, new RegExp(`height ${rec![3]!}`), `chain tx finds the tx_IoT in Ublock ${rec![3]!}`)
  t.match(onChain, /iot|IoT/, onChain)
})

async function until (cond: () => boolean, ms: number): Promise<void> {
  const t0 = Date.now()
  while (!cond() && Date.now() - t0 < ms) await new Promise((resolve) => setTimeout(resolve, 200))
}
