/**
 * The light user node against a lying core node (issue #6; paper §III-A:
 * light nodes keep headers only and ask core nodes for their transactions).
 * The liar is a real core node, synced with an honest one, whose usertxs/1
 * answers are tampered with: a forged proof, a forged transaction, a header
 * off the chain, someone else's transaction, an omitted transaction. The
 * light node verifies every proof against its own PoW-checked header chain
 * and cross-checks core nodes, so each lie is caught and the liar penalised.
 */
import t from 'tap'
import type { PeerId } from '@libp2p/interface'
import { bodyTx } from '../../hub/src/core/index.ts'
import { CoreNode } from '../../hub/src/roles/core/node.ts'
import { CoreNet } from '../../hub/src/net/service.ts'
import { coreChain } from '../../hub/src/net/core-chain.ts'
import { ForgedProofError, OmittedTxError } from '../../hub/src/net/errors.ts'
import { LightNode } from '../../hub/src/roles/light/light-node.ts'
import { tempDir } from '../helpers/userchain.ts'
import { who } from '../helpers/core.ts'
import { lying, type Lie } from '../helpers/light-liar.ts'
import { aliceIot, aliceKey, mine, NETTEST, NOW, startPeer, until } from './net-helpers.ts'

const alice = who('alice')
const bob = who('bob')
const doctor = who('doctor')

t.test('the light node catches a core node that forges or omits a transaction proof', async (t) => {
  const a = await startPeer(t, 'a')
  // Alice's txs spread over two blocks, among bob's, so the proofs have depth.
  const txs = [aliceKey(alice, doctor), aliceKey(bob, doctor), aliceIot(alice, 1), aliceIot(alice, 2)]
  for (const tx of txs) t.ok((await a.node.submitTx(tx)).accepted)
  await mine(a)
  for (const tx of [aliceIot(alice, 3), aliceIot(bob, 1), aliceIot(alice, 4)]) t.ok((await a.node.submitTx(tx)).accepted)
  await mine(a)
  await mine(a)

  let mode: Lie = 'honest'
  const dir = await tempDir(t, 'net-liar')
  const xnode = await CoreNode.open({ dir, params: NETTEST, now: () => NOW, verifyThreads: 1 })
  const xchain = coreChain(xnode)
  const x = await CoreNet.start({ chain: lying(xchain, () => mode, { foreign: async () => (await xchain.userTxProofs(bob.id, 10))[1]!, substitute: () => bodyTx(aliceIot(alice, 999)) }), params: NETTEST, bootstrap: [a.addr], redialMs: 0, sync: { intervalMs: 500 } })
  t.teardown(async () => { await x.stop(); await xnode.close() })
  await until('liar synced', () => xnode.store.tip.hex === a.node.store.tip.hex)

  const light = await LightNode.start({ params: NETTEST, user: alice.id, now: () => NOW, bootstrap: [a.addr, x.net.addrs()[0]!.toString()], redialMs: 0, peerBook: { banScore: -1e9 } })
  t.teardown(async () => { await light.stop() })
  await until('light node connected to both', () => light.corePeers().length === 2)
  const A = light.corePeers().find((p) => p.equals(a.net.peerId))!
  const X = light.corePeers().find((p) => p.equals(x.net.peerId))!
  await light.syncHeaders(A)
  t.equal(light.headers.height, 3, 'headers only, checked: height 3')

  const honest = await light.checkPeers([A, X])
  t.equal(honest.liars.length, 0, 'while it tells the truth, nobody is a liar')
  t.equal(honest.reports[0]!.txs.length, 5, "alice's 5 txs (2 blocks, the coinbase is not hers) proven by A")
  t.same(honest.reports[1]!.txs.map((c) => c.block), honest.reports[0]!.txs.map((c) => c.block))

  const expectLie = async (m: Lie, cls: typeof ForgedProofError | typeof OmittedTxError, field: RegExp): Promise<void> => {
    mode = m
    const before = light.net.peers.score(X.toString())
    const err = await light.myTransactions(X).then(() => null, (e: unknown) => e)
    t.ok(err instanceof cls, `${m}: ${(err as Error | null)?.message ?? 'not detected'}`)
    if (err instanceof ForgedProofError) t.match(err.field, field)
    t.ok(light.net.peers.score(X.toString()) < before, `${m}: the liar is penalised`)
  }
  await expectLie('forge-proof', ForgedProofError, /\.proof$/)
  await expectLie('forge-tx', ForgedProofError, /\.proof$/)
  await expectLie('fake-header', ForgedProofError, /\.header$/)
  await expectLie('foreign', ForgedProofError, /^txs\[0\]$/)
  await expectLie('omit', OmittedTxError, /txs/)

  // A fresh light node asking the liar first: the cross-check still catches the omission.
  const fresh = await LightNode.start({ params: NETTEST, user: alice.id, now: () => NOW, bootstrap: [x.net.addrs()[0]!.toString(), a.addr], redialMs: 0 })
  t.teardown(async () => { await fresh.stop() })
  await until('fresh light node connected', () => fresh.corePeers().length === 2)
  const order: PeerId[] = [fresh.corePeers().find((p) => p.equals(x.net.peerId))!, fresh.corePeers().find((p) => p.equals(a.net.peerId))!]
  const { reports, liars } = await fresh.checkPeers(order)
  t.same(liars.map((l) => l.peer), [x.net.peerId.toString()], 'the omitting core node is named')
  t.ok(liars[0]!.error instanceof OmittedTxError)
  t.same(reports.map((r) => r.peer), [a.net.peerId.toString()], 'the honest one is kept')
  t.equal(fresh.confirmed.size, 5)
  t.ok(fresh.net.peers.isBanned(x.net.peerId.toString()), 'with the default ban score, one lie bans the liar')

  // Headers only, kept across restarts in the data dir (and checked again on load).
  const ldir = await tempDir(t, 'net-light')
  const keeper = await LightNode.start({ params: NETTEST, user: alice.id, now: () => NOW, dataDir: ldir, bootstrap: [a.addr], redialMs: 0 })
  await until('keeper connected', () => keeper.corePeers().length === 1)
  await keeper.syncHeaders()
  const tipHex = keeper.headers.tip.hex
  await keeper.stop()
  const again = await LightNode.start({ params: NETTEST, user: alice.id, now: () => NOW, dataDir: ldir })
  t.teardown(async () => { await again.stop() })
  t.equal(again.headers.tip.hex, tipHex, 'the header chain survives a restart')
  t.equal(again.headers.height, 3)
  t.equal(again.net.peerId.toString(), keeper.net.peerId.toString(), 'and so does the peer id')
})
