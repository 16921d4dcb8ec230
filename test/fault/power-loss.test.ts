/**
 * Durability under power loss, by syscall trace: a power cut loses what the
 * page cache held and no fsync/fdatasync had flushed, so an acknowledgement
 * is safe only if the sync of the data it acknowledges returned before the
 * acknowledgement left. Each process runs under Debian's strace
 * (test/helpers/strace.ts) with every fsync/fdatasync delayed by DELAY_US,
 * and the test checks, for each acknowledgement it receives at time R:
 * the bytes it acknowledges were written to the store's file, and a sync of
 * that same file entered after that write and returned before R.
 *  - hub (hub-child.ts): a device's reading and its MQTT PUBACK (the
 *    ingest store), a mined block and the "tip" line announcing it (the
 *    chain store's connect);
 *  - accounting node (accounting-child.ts, one of four over libp2p): every
 *    PREPARE/COMMIT vote the other three receive from it, and every
 *    certified Dblock it reports (the PBFT log, paper §IV-B3);
 *  - storage node (storage-child.ts): a block's upload acknowledgement
 *    (store-protocol PUT answered OK) after the block and its pin.
 * It does not cut power: see test/README.md for what that leaves out.
 */
import t, { type Test } from 'tap'
import mqtt from 'mqtt'
import { realpath } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { base36 } from 'multiformats/bases/base36'
import { equalBytes, sha256, toHex, utf8Bytes } from '../../hub/src/core/index.ts'
import { decodeMessage } from '../../hub/src/core/pbft/messages.ts'
import { formatLine } from '../../hub/src/ingest/line.ts'
import { readingsTopic } from '../../hub/src/ingest/mqtt.ts'
import { ingestDbPath } from '../../hub/src/ingest/hub.ts'
import { keys } from '../../hub/src/ingest/store.ts'
import { Ingest } from '../../hub/src/ingest/pipeline.ts'
import { cidFromDigest, KIND, loadOrCreateKey, okOrThrow } from '../../hub/src/ipfs/index.ts'
import { freePort, tempDir, until } from '../integration/ingest-helpers.ts'
import { ipfsNode } from '../helpers/ipfs.ts'
import { skipUnlessTools } from '../helpers/tools.ts'
import { realtimeNow, startTraced, syncedBefore, type Syscall } from '../helpers/strace.ts'
import { diag, PATIENT, peerId, peerMap, replicas, startReplica } from './accounting-setup.ts'

const skip = skipUnlessTools('strace')
/** Every sync returns this much later (µs): far above loopback and scheduling delays, so the order is not a race. */
const DELAY_US = 1_000_000

t.setTimeout(120_000) // a bound, not a goal

/** A LevelDB log record's put of a binary key: kTypeValue, key length, key (keys under 128 bytes). */
function putRecord (key: Uint8Array): Uint8Array { return Uint8Array.of(1, key.length, ...key) }
function u32 (n: number): Uint8Array { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, n); return b }
/** LevelDB write-ahead logs under `dir`. */
const logsUnder = (dir: string) => (path: string): boolean => path.startsWith(dir + '/') && path.endsWith('.log')

/** Every acknowledgement's data was synced before it arrived (the first few that were not are named). */
function checkAcks (t: Test, calls: Syscall[], what: string, file: (p: string) => boolean, acks: Array<{ label: string, bytes: Uint8Array, at: number }>): void {
  t.ok(acks.length > 0, `${what}: ${acks.length} acknowledgements to check`)
  let ok = 0
  let named = 0
  for (const a of acks) {
    const r = syncedBefore(calls, file, a.bytes, a.at)
    if (typeof r !== 'string') ok++
    else if (named++ < 3) t.fail(`${what}: ${a.label} acknowledged before its data was synced: ${r}`)
  }
  t.equal(ok, acks.length, `${what}: all ${acks.length} acknowledgements came after the fsync/fdatasync of what they acknowledge`)
}

t.test('hub: every PUBACK follows the sync of its reading, every announced tip the sync of its connect', { skip }, async (t) => {
  const dir = await realpath(await tempDir(t, 'power-hub'))
  const ing = await Ingest.open(ingestDbPath(dir))
  const secret = (await ing.registry.add('dev-0', { user: 'carol', sensors: ['hr'] })).secret
  await ing.close()
  const port = await freePort()
  const hub = await startTraced(fileURLToPath(new URL('./hub-child.ts', import.meta.url)), [dir, String(port)], dir, DELAY_US)
  const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, { username: 'dev-0', password: secret, clientId: 'dev-0', reconnectPeriod: 0 })
  t.teardown(() => { c.end(true) })
  await new Promise<void>((resolve, reject) => { c.once('connect', () => { resolve() }); c.once('error', reject) })
  const pubacks: Array<{ label: string, bytes: Uint8Array, at: number }> = []
  for (let s = 0; s < 4; s++) {
    await c.publishAsync(readingsTopic('crash', 'dev-0'), formatLine({ d: 'dev-0', b: 1, s, t: 'hr', v: 60 + s, ts: s }).trimEnd(), { qos: 1 })
    pubacks.push({ label: `PUBACK of reading dev-0/1/${s}`, bytes: utf8Bytes(keys.pending('carol', 'dev-0', 1, s)), at: realtimeNow() })
  }
  await c.endAsync()
  await hub.line((l) => /^tip [2-9]|^tip \d{2,}/.test(l), 60_000, 'two mined blocks')
  const calls = await hub.finish()
  checkAcks(t, calls, 'ingest', logsUnder(ingestDbPath(dir)), pubacks)
  const tips = hub.lines.filter((l) => l.text.startsWith('tip ')).map((l) => ({ h: Number(l.text.split(' ')[1]), at: l.at })).filter((x) => x.h > 0)
  checkAcks(t, calls, 'chain store', logsUnder(join(dir, 'chain')), tips.map((x) => ({ label: `tip ${x.h}`, bytes: putRecord(Uint8Array.of(0x48, ...u32(x.h))), at: x.at })))
})

t.test('accounting node: every vote and certified Dblock follows the sync of its PBFT log', { skip }, async (t) => {
  const dir = await realpath(await tempDir(t, 'power-pbft'))
  const ports = await Promise.all([0, 1, 2, 3].map(async () => await freePort()))
  const addrs = await Promise.all(ports.map(async (p, i) => `/ip4/127.0.0.1/tcp/${p}/p2p/${await peerId(i)}`))
  const peers = peerMap(addrs)
  const VICTIM = 3
  const votes = new Map<string, { label: string, bytes: Uint8Array, at: number }>()
  const tap = (bytes: Uint8Array): void => {
    const at = realtimeNow()
    const m = decodeMessage(bytes)
    if (!equalBytes(m.replica, replicas[VICTIM]!.id) || (m.kind !== 'prepare' && m.kind !== 'commit')) return
    const k = toHex(bytes)
    if (!votes.has(k)) votes.set(k, { label: `${m.kind.toUpperCase()} for seq ${m.body.seq}`, bytes, at })
  }
  const honest = []
  for (const i of [0, 1, 2]) {
    const { node, libp2p } = await startReplica(i, join(dir, `n${i}`), ports[i]!, peers, PATIENT, tap)
    t.teardown(async () => { await node.stop(); await libp2p.stop() })
    honest.push(node)
  }
  const vDir = join(dir, 'victim')
  const victim = await startTraced(fileURLToPath(new URL('./accounting-child.ts', import.meta.url)), [vDir, String(ports[VICTIM]), String(VICTIM), JSON.stringify(addrs)], dir, DELAY_US)
  for (let n = 0; n < 3; n++) {
    const r = await honest[n % 3]!.submit(diag(n))
    t.ok(r.ok, `tx_diag ${n} committed`)
  }
  const height = honest[0]!.height
  await victim.line((l) => l.startsWith(`commit ${height} `), 60_000, `the traced node's commit of Dblock ${height}`)
  await until(() => votes.size > 0, 10_000, 'a vote from the traced node')
  const calls = await victim.finish()
  checkAcks(t, calls, 'PBFT votes', logsUnder(vDir), [...votes.values()])
  const commits = victim.lines.filter((l) => l.text.startsWith('commit ')).map((l) => ({ h: Number(l.text.split(' ')[1]), at: l.at }))
  checkAcks(t, calls, 'certified Dblocks', logsUnder(vDir), commits.map((x) => ({ label: `Dblock ${x.h}`, bytes: putRecord(Uint8Array.of(0x62, ...u32(x.h))), at: x.at })))
})

t.test('storage node: every upload acknowledgement follows the sync of the block and its pin', { skip }, async (t) => {
  const dir = await realpath(await tempDir(t, 'power-storage'))
  const sDir = join(dir, 'storage')
  const port = await freePort()
  const id = (await loadOrCreateKey(sDir)).publicKey.toString()
  const target = `/ip4/127.0.0.1/tcp/${port}/p2p/${id}`
  const storage = await startTraced(fileURLToPath(new URL('./storage-child.ts', import.meta.url)), [sDir, String(port)], dir, DELAY_US)
  const user = await ipfsNode(t, join(dir, 'user'), { requestTimeoutMs: 30_000 })
  const blocks: Array<{ label: string, bytes: Uint8Array, at: number }> = []
  const pins: Array<{ label: string, bytes: Uint8Array, at: number }> = []
  for (let i = 0; i < 2; i++) {
    const block = new Uint8Array(4096)
    for (let k = 0; k < block.length; k += 32) block.set(sha256(utf8Bytes(`power ${i} ${k}`)), k)
    const res = okOrThrow(target, await user.request(target, { kind: KIND.PUT, block }))
    const at = realtimeNow()
    if (res.digest === undefined) throw new Error('a PUT answered without a digest')
    t.ok(equalBytes(res.digest, sha256(block)), `upload ${i} acknowledged with its digest`)
    blocks.push({ label: `upload ${i} (block)`, bytes: block, at })
    pins.push({ label: `upload ${i} (pin)`, bytes: utf8Bytes(`/pin/${cidFromDigest(res.digest).toString(base36)}`), at })
  }
  const calls = await storage.finish()
  checkAcks(t, calls, 'blockstore', logsUnder(join(sDir, 'blocks')), blocks)
  checkAcks(t, calls, 'pin store', logsUnder(join(sDir, 'datastore')), pins)
})
