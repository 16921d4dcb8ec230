/**
 * Crash consistency of an accounting node (issue "Reliability and security
 * suite"): one of four PBFT accounting nodes runs as a child process over
 * real libp2p and is SIGKILLed at random moments while doctors' tx_diag keep
 * committing among the others (2f+1 = 3 stay up). After every kill it
 * restarts on the same LevelDB log and port; it must reopen without repair,
 * and rejoin by state transfer. At the end every Dblock it acknowledged
 * (printed once durably committed) is still in its Docchain with the same
 * hash, and its Docchain equals the others', block for block.
 */
import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { dblockHash, toHex, verifyCertificate } from '../../hub/src/core/index.ts'
import type { AccountingNode } from '../../hub/src/roles/accounting/node.ts'
import { freePort, until } from '../integration/ingest-helpers.ts'
import { CrashLoop, faultRandom, faultTrials } from '../helpers/crash.ts'
import { diag, PATIENT, peerId, peerMap, replicas, startReplica } from './accounting-setup.ts'

const CHILD = fileURLToPath(new URL('./accounting-child.ts', import.meta.url))
const TRIALS = faultTrials('accounting')
const VICTIM = 3

t.setTimeout(360_000) // a bound, not a goal: the file took about 150 s (25–30 trials) on a loaded 2-core machine

t.test(`accounting node SIGKILLed ${TRIALS} times during commits: nothing acknowledged is lost`, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hc-crash-acct-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const ports = await Promise.all([0, 1, 2, 3].map(async () => await freePort()))
  const addrs = await Promise.all(ports.map(async (p, i) => `/ip4/127.0.0.1/tcp/${p}/p2p/${await peerId(i)}`))
  const peers = peerMap(addrs)
  const honest: AccountingNode[] = []
  const stops: Array<() => Promise<void>> = []
  t.teardown(async () => { for (const s of stops) await s() })
  for (const i of [0, 1, 2]) {
    const { node, libp2p } = await startReplica(i, join(dir, `n${i}`), ports[i]!, peers, PATIENT)
    honest.push(node)
    stops.push(async () => { await node.stop(); await libp2p.stop() })
  }

  // doctors keep submitting to the honest nodes for the whole run, at most 24 waiting (so Dblocks keep coming)
  let n = 0
  let waiting = 0
  let running = true
  const receipts: Array<Promise<unknown>> = []
  const load = (async () => {
    while (running) {
      while (waiting < 24) {
        waiting++
        receipts.push(honest[n % 3]!.submit(diag(n++)).finally(() => { waiting-- }))
      }
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  })()

  const acked = new Map<number, string>()
  const victimArgs = [join(dir, 'victim'), String(ports[VICTIM]), String(VICTIM), JSON.stringify(addrs)]
  const { between } = faultRandom('crash-accounting')
  const loop = new CrashLoop(CHILD, victimArgs, { ahead: 1 })
  t.teardown(async () => { await loop.close() })
  const moments: number[] = []
  let restarts = 0
  for (let trial = 0; trial < TRIALS; trial++) {
    moments.push(between(300, 2000))
    const { lines } = await loop.trial(moments.at(-1)!)
    if (process.env.DEBUG_CRASH !== undefined) console.error(`trial ${trial}: honest views ${honest.map((h) => h.view).join(',')} heights ${honest.map((h) => h.height).join(',')}; victim said ${lines.filter((l) => l.startsWith('commit')).length} commits`)
    restarts++
    for (const l of lines.filter((x) => x.startsWith('commit '))) {
      const [, h, hash] = l.split(' ')
      const before = acked.get(Number(h))
      if (before !== undefined && before !== hash) t.fail(`Dblock ${h} acknowledged as ${before} and later as ${hash}`)
      acked.set(Number(h), hash!)
    }
  }
  t.comment(`kill moments (ms after ready): ${moments.join(' ')}; ${loop.summary()}`)
  await loop.close()
  running = false
  await load
  const all = await Promise.all(receipts)
  const failed = all.filter((r) => !(r as { ok: boolean }).ok)
  t.equal(failed.length, 0, `every one of ${all.length} tx_diag committed while the fourth node kept dying`)

  // the last restart: it must catch up with the others and keep what it acknowledged
  const victim = await startReplica(VICTIM, join(dir, 'victim'), ports[VICTIM]!, peers, PATIENT)
  stops.push(async () => { await victim.node.stop(); await victim.libp2p.stop() })
  const height = honest[0]!.height
  await until(() => victim.node.height >= height && honest.every((h) => h.height === height), 60_000, `the restarted node reaching height ${height}`)
  let lost = 0
  for (const [h, hash] of acked) {
    const b = await victim.node.block(h)
    if (b === undefined || toHex(dblockHash(b.header)) !== hash) lost++
  }
  t.ok(acked.size > 0, `the killed node acknowledged ${acked.size} Dblocks in its lives (committed or state-transferred)`)
  t.equal(lost, 0, `${acked.size} Dblocks acknowledged by the killed node before its deaths, none lost or changed`)
  const members = replicas.map((r) => r.id)
  let same = 0
  for (let h = 1; h <= height; h++) {
    const blocks = await Promise.all([...honest, victim.node].map(async (x) => await x.block(h)))
    if (new Set(blocks.map((b) => (b === undefined ? 'missing' : toHex(dblockHash(b.header))))).size !== 1) { t.fail(`Dblock ${h} differs`); break }
    verifyCertificate(blocks[0]!, members)
    same++
  }
  t.equal(same, height, `all four Docchains identical up to height ${height}, every certificate valid`)
  console.log(`# accounting: ${restarts} kill/restart trials, ${acked.size} acknowledged Dblocks, lost ${lost} (${all.length} tx_diag committed)`)
})
