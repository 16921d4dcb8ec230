/**
 * A core node that lies to light nodes about a user's transactions (paper
 * §III-A: light nodes rely on core nodes to "search transactions"): a real
 * core node's NetChain whose usertxs/1 answers are tampered with as
 * `mode()` says, and the setup the light-* security tests share — an
 * honest core node with alice's transactions over three blocks, the liar
 * synced with it, and the hub's light chain (roles/light LightChain)
 * connected to both.
 */
import type { PeerId } from '@libp2p/interface'
import { bodyTx, type BodyTx } from '../../hub/src/core/index.ts'
import type { NetChain, ProvenTx } from '../../hub/src/net/chain.ts'
import { CoreNet } from '../../hub/src/net/service.ts'
import { coreChain } from '../../hub/src/net/core-chain.ts'
import { CoreNode } from '../../hub/src/roles/core/node.ts'
import { LightChain } from '../../hub/src/roles/light/light-chain.ts'
import { aliceIot, aliceKey, mine, NETTEST, NOW, startPeer, until, type Peer } from '../integration/net-helpers.ts'
import { who } from './core.ts'
import { tempDir } from './userchain.ts'
import { ForgedProofError } from '../../hub/src/net/errors.ts'

type Tap = { same: (a: unknown, b: unknown, m: string) => void, ok: (v: unknown, m: string) => void, equal: (a: unknown, b: unknown, m: string) => void }

/**
 * forge-proof: a hash of the first proof flipped; forge-tx: another of the
 * user's transactions (never on the chain) under the first one's proof;
 * fake-header: the first proof's header altered (a block off the chain);
 * foreign: someone else's transaction, with its valid proof, in place of
 * the first; omit: the last transaction left out.
 */
export type Lie = 'honest' | 'forge-proof' | 'forge-tx' | 'fake-header' | 'foreign' | 'omit'

export function lying (chain: NetChain, mode: () => Lie, o: { foreign: () => Promise<ProvenTx>, substitute: () => BodyTx }): NetChain {
  return {
    ...chain,
    async userTxProofs (user, limit, fromHeight) {
      const real = await chain.userTxProofs(user, limit, fromHeight)
      const [first, ...rest] = real
      if (first === undefined) return real
      switch (mode()) {
        case 'honest': return real
        case 'forge-proof': {
          const proof = first.proof.map((h) => h.slice())
          proof[0]![0]! ^= 0xff
          return [{ ...first, proof }, ...rest]
        }
        case 'forge-tx': return [{ ...first, tx: o.substitute() }, ...rest]
        case 'fake-header': return [{ ...first, header: { ...first.header, gtime: first.header.gtime + 1 } }, ...rest]
        case 'foreign': return [await o.foreign(), ...rest]
        case 'omit': return real.slice(0, -1)
      }
    }
  }
}

export const alice = who('alice')
export const bob = who('bob')
const doctor = who('doctor')

export interface LiarSetup {
  readonly honest: Peer
  readonly liar: CoreNet
  /** What the liar does now. */
  mode: Lie
  /** A core node over `chain` (synced from the honest one) that lies as `setup.mode` says. */
  readonly light: LightChain
  readonly honestId: PeerId
  readonly liarId: PeerId
  /** Another light chain for alice, connected to both core nodes (a liar dropped by one light node is a stranger to the next). */
  newLight: () => Promise<{ light: LightChain, honestId: PeerId, liarId: PeerId }>
}

/**
 * The honest core node with alice's 5 transactions over two blocks (among
 * bob's, so proofs have depth) and a third block; the liar synced with it;
 * the light chain connected to both, headers synced.
 */
export async function liarSetup (t: { teardown: (fn: () => Promise<void> | void) => void }): Promise<LiarSetup> {
  const honest = await startPeer(t, 'honest')
  for (const tx of [aliceKey(alice, doctor), aliceKey(bob, doctor), aliceIot(alice, 1), aliceIot(alice, 2)]) await honest.node.submitTx(tx)
  await mine(honest)
  for (const tx of [aliceIot(alice, 3), aliceIot(bob, 1), aliceIot(alice, 4)]) await honest.node.submitTx(tx)
  await mine(honest)
  await mine(honest)
  const dir = await tempDir(t, 'light-liar')
  const xnode = await CoreNode.open({ dir, params: NETTEST, now: () => NOW, verifyThreads: 1 })
  const xchain = coreChain(xnode)
  const setup = { mode: 'honest' as Lie }
  const liar = await CoreNet.start({
    chain: lying(xchain, () => setup.mode, { foreign: async () => (await xchain.userTxProofs(bob.id, 10))[1]!, substitute: () => bodyTx(aliceIot(alice, 999)) }),
    params: NETTEST, bootstrap: [honest.addr], redialMs: 0, sync: { intervalMs: 500 }
  })
  t.teardown(async () => { await liar.stop(); await xnode.close() })
  await until('liar synced', () => xnode.store.tip.hex === honest.node.store.tip.hex)
  const newLight = async (): Promise<{ light: LightChain, honestId: PeerId, liarId: PeerId }> => {
    const light = await LightChain.start({ params: NETTEST, user: alice.id, now: () => NOW, dataDir: await tempDir(t, 'light-node'), bootstrap: [honest.addr, liar.net.addrs()[0]!.toString()], redialMs: 0, refreshMs: 0 })
    t.teardown(async () => { await light.stop() })
    await until('light node connected to both', () => light.node.corePeers().length === 2)
    const honestId = light.node.corePeers().find((p) => p.equals(honest.net.peerId))!
    const liarId = light.node.corePeers().find((p) => p.equals(liar.net.peerId))!
    await light.node.syncHeaders(honestId)
    return { light, honestId, liarId }
  }
  return Object.assign(setup, { honest, liar, newLight }, await newLight())
}

/** The liar banned and hung up by `light`, the honest core node kept. */
export async function droppedLiar (light: LightChain, honestId: PeerId, liarId: PeerId): Promise<{ banned: boolean, connected: string[] }> {
  await until('the liar hung up', () => !light.node.net.libp2p.getConnections().some((c) => c.remotePeer.equals(liarId) && c.status === 'open'))
  return { banned: light.node.net.peers.isBanned(liarId.toString()), connected: light.node.corePeers().map(String) }
}

/**
 * For each lie: a light chain (the setup's first, then a fresh one each)
 * checks both core nodes while the liar tells it; the liar must be named
 * with a ForgedProofError on `field`, banned and hung up, the honest one
 * kept and alice's 5 transactions proven. Returns the light chains used.
 */
export async function expectForgedDropped (t: Tap, s: LiarSetup, lies: ReadonlyArray<readonly [Lie, RegExp]>): Promise<LightChain[]> {
  const used: LightChain[] = []
  for (const [lie, field] of lies) {
    const { light, honestId, liarId } = used.length === 0 ? s : await s.newLight()
    used.push(light)
    const liars: Array<{ peer: string, error: Error }> = []
    light.on('liar', (l: { peer: string, error: Error }) => liars.push(l))
    s.mode = lie
    await light.refresh()
    t.same(liars.map((l) => l.peer), [liarId.toString()], `${lie}: the liar is named`)
    t.ok(liars[0]?.error instanceof ForgedProofError && field.test(liars[0].error.field), `${lie}: ${liars[0]?.error.message}`)
    const after = await droppedLiar(light, honestId, liarId)
    t.ok(after.banned, `${lie}: banned`)
    t.same(after.connected, [honestId.toString()], `${lie}: only the honest core node is left`)
    t.equal(light.node.confirmed.size, 5, `${lie}: alice's 5 transactions proven by the honest node`)
    t.equal(light.status().liars, 1, `${lie}: the hub's status counts it`)
    s.mode = 'honest'
  }
  return used
}

