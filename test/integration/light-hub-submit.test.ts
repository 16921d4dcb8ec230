/**
 * A light hub's transactions and the core nodes' verdicts (paper §III-A:
 * lightweight user nodes "generate and publish transactions" through core
 * nodes; submit/1 in hub/src/net/protocols.ts). Two real core nodes on
 * loopback: an honest one, and one that stalls on every transaction longer
 * than the light node waits. The light hub's transactions are taken by the
 * honest one when the stalling one is asked first; a payment the honest
 * core node refuses (no funds) is reported to the caller with the core
 * node's code and reason, is not left pending, and shows in the hub's
 * status (what the control API's /status and the page read). A
 * submission larger than any transaction is refused unread.
 */
import t from 'tap'
import { bodyTx, fromHex, MAX_TX_BYTES, toHex, type Tx } from '../../hub/src/core/index.ts'
import { protocolsFor } from '../../hub/src/net/protocols.ts'
import { request } from '../../hub/src/net/reqresp.ts'
import { RemoteError } from '../../hub/src/net/errors.ts'
import { CoreNode } from '../../hub/src/roles/core/node.ts'
import { CoreNet } from '../../hub/src/net/service.ts'
import { coreChain } from '../../hub/src/net/core-chain.ts'
import { LightChain } from '../../hub/src/roles/light/light-chain.ts'
import { lightHubChain } from '../../hub/src/app/light-hub.ts'
import { TxRejectedError } from '../../hub/src/nodered/errors.ts'
import { who } from '../helpers/core.ts'
import { tempDir } from '../helpers/userchain.ts'
import { aliceIot, aliceKey, NETTEST, NOW, startPeer, until } from './net-helpers.ts'

/** How long the light node waits for a core node's verdict, and how long the stalling one takes (longer). */
const TIMEOUT_MS = 3000
const STALL_MS = 8000

t.test('a light hub learns each core node\'s verdict on its transactions', async (t) => {
  const alice = who('light-submit-alice')
  const honest = await startPeer(t, 'submit-honest')
  const dir = await tempDir(t, 'net-stall')
  const snode = await CoreNode.open({ dir, params: NETTEST, now: () => NOW, verifyThreads: 1 })
  const real = coreChain(snode)
  let stalled = 0
  const stalling = await CoreNet.start({
    chain: { ...real, submitTx: async (bytes, peer, banned) => { stalled++; await new Promise((resolve) => setTimeout(resolve, STALL_MS)); return await real.submitTx(bytes, peer, banned) } },
    params: NETTEST,
    redialMs: 0
  })
  t.teardown(async () => { await stalling.stop(); await snode.close() })

  const light = await LightChain.start({ params: NETTEST, user: alice.id, now: () => NOW, bootstrap: [stalling.net.addrs()[0]!.toString(), honest.addr], redialMs: 0, refreshMs: 0, timeoutMs: TIMEOUT_MS })
  t.teardown(async () => { await light.stop() })
  await until('connected to both core nodes', () => light.node.corePeers().length === 2)
  const hub = lightHubChain(light, alice)
  const inHonestPool = (tx: Tx): boolean => honest.node.mempool.has(bodyTx(tx).id)

  // the core nodes take turns: over two transactions the stalling one is asked first once, times out, and the honest one takes it
  for (const tx of [aliceKey(alice, who('light-submit-doctor')), aliceIot(alice, 1)]) {
    const { id } = await hub.runtime.chain!.txs.submit(tx)
    t.equal(id, toHex(bodyTx(tx).id), `${tx.kind} accepted`)
    t.ok(inHonestPool(tx), `${tx.kind}: in the honest core node's mempool`)
    t.ok(light.pooled(bodyTx(tx).id), `${tx.kind}: pending until a core node proves it`)
  }
  t.ok(stalled >= 1, `the stalling core node was asked first ${stalled} time(s) and passed over after ${TIMEOUT_MS} ms`)

  // a payment with nothing to pay from: refused by whichever core node gives a verdict, with its reason
  const err = await hub.coin.pay({ to: toHex(who('light-submit-bob').id), amount: 5 }).then(() => null, (e: unknown) => e)
  t.ok(err instanceof TxRejectedError, `the caller is told: ${(err as Error | null)?.message ?? 'nothing'}`)
  t.equal((err as TxRejectedError).code, 'ERR_FUNDS', 'with the core node\'s code')
  t.match((err as Error).message, /spends \d+, the account holds 0/, 'and its reason')
  const status = hub.status()
  const rejected = status.light?.rejected ?? []
  t.equal(rejected.length, 1, 'the status lists the refused transaction')
  t.match(rejected[0], { kind: 'coin', code: 'ERR_FUNDS', reason: /the account holds 0/ }, 'with its kind, code and reason')
  t.ok([honest.net.peerId.toString(), stalling.net.peerId.toString()].includes(rejected[0]!.peer), 'and the core node that refused it')
  t.same(status.refused, { ERR_FUNDS: 1 }, 'refusals counted by code, as a core hub counts them')
  t.notOk(light.pooled(fromHex('id', rejected[0]!.id)), 'not left pending')
  t.equal(status.mempool, 2, 'only the two accepted transactions are pending')
  t.same(honest.net.peers.penalties(light.node.net.peerId.toString()), [], 'a payment refused for want of funds costs the light node nothing with the core node (it is no attack)')

  // sizes first: a request larger than any transaction is refused from its length prefix, and costs its sender
  const big = await request(light.node.net.libp2p, honest.net.peerId, protocolsFor(NETTEST.name).submit, new Uint8Array(MAX_TX_BYTES + 1)).then(() => null, (e: unknown) => e)
  t.ok(big instanceof RemoteError && big.status === 'TOO_LARGE', `an oversize submission is refused: ${(big as Error | null)?.message ?? 'taken'}`)
  t.match(honest.net.peers.penalties(light.node.net.peerId.toString()), [{ reason: /oversize .*submit\/1/ }], 'and its sender penalised')
})
