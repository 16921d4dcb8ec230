/**
 * A Docchain reader (roles/docchain/follower.ts; paper §IV-B3) on real
 * libp2p nodes on loopback: a member's publisher (net/docchain.ts) serves
 * docchain/1 and gossips Dblocks; the follower catches up at start, fills a
 * gap announced by gossip, refuses a short certificate from gossip and a
 * forged one from catch-up (counting both), refuses a diagnosis by a doctor
 * the registry does not know, and resumes after a restart from its
 * position, with the Dblocks it kept.
 */
import t from 'tap'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  buildIdentityRecord, buildTxDiag, dblockHash, dblockProposal, encodeIdentityRecord, sha256, signCommit, toHex, utf8Bytes, type Dblock, type Identity
} from '../../hub/src/core/index.ts'
import { DoctorRegistry } from '../../hub/src/core/pbft/registry.ts'
import { docchainGenesis, publishDocchain, type DocchainSource } from '../../hub/src/net/docchain.ts'
import { createNetNode, type NetNode } from '../../hub/src/net/node.ts'
import { DocchainFollower } from '../../hub/src/roles/docchain/follower.ts'
import { who } from '../helpers/core.ts'

const GTIME = 1_790_000_000
const members = [who('dc-acc1'), who('dc-acc2'), who('dc-acc3'), who('dc-acc4')]
const ids = members.map((m) => m.id)
const doctor = who('dc-doctor')
const stranger = who('dc-stranger')
const registry = new DoctorRegistry({ members: [members[0]!.id], threshold: 1 }, [encodeIdentityRecord(buildIdentityRecord(doctor, 1))])

/** Dblock `index` after `prev`, one tx_diag by `by`, certified by `signers`. */
function dblock (index: number, prev: Dblock, by: Identity = doctor, signers = members.slice(0, 3)): Dblock {
  const diag = buildTxDiag(by, { ts: GTIME + index, causes: [sha256(utf8Bytes(`cause-${index}-${toHex(by.id)}`))], hedm: sha256(utf8Bytes(`dm-${index}`)) })
  const b = dblockProposal({ index, gtime: GTIME + index, prehash: dblockHash(prev.header), view: 0, leader: members[0]!.id, txs: [diag] })
  return { ...b, cert: signers.map((m) => signCommit(m.signing, b.header, 0)) }
}

/** A member's Docchain: the first `height` of `chain` served. */
class Source implements DocchainSource {
  height = 0
  readonly chain: Dblock[]
  constructor (chain: Dblock[]) { this.chain = chain }
  async block (h: number): Promise<Dblock | undefined> { return h >= 1 && h <= this.height ? this.chain[h - 1] : undefined }
}

async function until (what: string, cond: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

t.test('follower: catch-up, gap, refused certificates, registry, restart', { timeout: 60_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'docchain-follow-'))
  const nodes: NetNode[] = []
  const stops: Array<() => Promise<void>> = []
  t.teardown(async () => {
    for (const s of stops.reverse()) await s().catch(() => {})
    for (const n of nodes) await n.stop()
    await rm(dir, { recursive: true, force: true })
  })
  const genesis = docchainGenesis(GTIME)
  const chain: Dblock[] = []
  for (let i = 1; i <= 8; i++) chain.push(dblock(i, chain[i - 2] ?? genesis))

  // an honest member and a lying one (its Dblocks carry 2 of the 4 signatures, 3 are needed)
  const good = new Source(chain)
  good.height = 3
  const liar = new Source(chain.map((b) => ({ ...b, cert: b.cert.slice(0, 2) })))
  liar.height = 8
  const member = await createNetNode({ network: 'devnet' })
  const bad = await createNetNode({ network: 'devnet' })
  const reader = await createNetNode({ network: 'devnet' })
  nodes.push(member, bad, reader)
  const pub = await publishDocchain(member, ids, good)
  stops.push(pub.stop)
  const badPub = await publishDocchain(bad, ids, liar)
  stops.push(badPub.stop)

  const delivered: number[] = []
  const open = async (): Promise<DocchainFollower> => await DocchainFollower.open({
    net: reader,
    members: ids,
    genesisTime: GTIME,
    registry,
    peers: [bad.addrs()[0]!.toString(), member.addrs()[0]!.toString()],
    dir: join(dir, 'reader'),
    onDblock: (b) => { delivered.push(b.header.index); return b.header.index % 2 === 0 }, // keeps the even ones
    pollMs: 0,
    retryMs: 200
  })

  let f = await open()
  f.start()
  t.equal(await f.catchUp(), 3, 'caught up to the honest member\'s height')
  t.same(delivered, [1, 2, 3], 'each Dblock handed on once, in order')
  t.ok(f.stats.refused >= 1, 'the short certificate from the lying member was refused and counted')
  t.ok(reader.peers.score(bad.peerId.toString()) < 0, 'and the lying member scored down')

  // a gap: the member commits 4 and 5 but only 5 reaches the reader by gossip
  good.height = 5
  await until('the reader subscribed at the member', () => member.pubsub.getSubscribers(member.topics.dblock).some((p) => p.equals(reader.peerId)))
  pub.publish(chain[4]!)
  await until('Dblock 5', () => f.height === 5)
  t.same(delivered, [1, 2, 3, 4, 5], 'the gap filled by catch-up, then the gossiped Dblock')
  t.ok(f.stats.gaps >= 1, 'the gap was seen')

  // a short certificate by gossip: refused, counted, not handed on
  const before = f.stats.refused
  pub.publish({ ...chain[5]!, cert: chain[5]!.cert.slice(0, 2) })
  await until('the refusal', () => f.stats.refused > before)
  t.equal(f.height, 5, 'a Dblock with 2 of 4 signatures is not handed on')

  // restart: the position and the kept Dblocks survive, nothing is handed on twice
  await f.stop()
  f = await open()
  t.equal(f.height, 5, 'the restarted reader resumes at its position')
  t.same((await f.kept()).map((b) => b.header.index), [2, 4], 'the Dblocks it asked to keep')
  const file = join(dir, 'reader', 'kept', '0000000002.dblock')
  const bytes = await readFile(file)
  bytes[bytes.length - 1]! ^= 1
  await writeFile(file, bytes)
  const refusedBeforeKept = f.stats.refused
  t.same((await f.kept()).map((b) => b.header.index), [4], 'a kept Dblock altered on disk is left out')
  t.equal(f.stats.refused, refusedBeforeKept + 1, 'and counted')
  good.height = 6
  f.start()
  t.equal(await f.catchUp(), 6, 'resumed from 6')
  t.same(delivered, [1, 2, 3, 4, 5, 6], 'no Dblock handed on twice across the restart')
  t.same(toHex(f.hash), toHex(dblockHash(chain[5]!.header)))

  // a certified Dblock whose tx_diag is by a doctor the registry does not know: refused
  const foreign = dblock(7, chain[5]!, stranger)
  good.chain[6] = foreign
  good.height = 7
  const refusedBefore = f.stats.refused
  await f.catchUp()
  t.equal(f.height, 6, 'a tx_diag by an unregistered doctor stops the reader before it')
  t.ok(f.stats.refused > refusedBefore, 'counted as refused')
  await f.stop()
})
