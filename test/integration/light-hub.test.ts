/**
 * The light hub on a long Userchain (paper §III-A: a lightweight user node
 * keeps the headers and its own transactions, proven by core nodes): 1,000
 * blocks each carrying 500 other users' tx_IoT and one of the user's, built
 * directly into a core node's store (test/helpers/synthetic-chain.ts), then
 * served over libp2p by an honest core node and by a second one that lies.
 * The light node's Userchain store stays under 5 % of the core node's; it
 * holds every one of the user's transactions with a verified proof, also
 * after a restart with no core node around; the hub's chain interface
 * (app/light-hub.ts) answers from them; the liar is dropped.
 */
import t from 'tap'
import { join } from 'node:path'
import { fromHex } from '../../hub/src/core/index.ts'
import { CoreNet } from '../../hub/src/net/service.ts'
import { coreChain } from '../../hub/src/net/core-chain.ts'
import { LightChain } from '../../hub/src/roles/light/light-chain.ts'
import { checkProven } from '../../hub/src/roles/light/light-node.ts'
import { lightHubChain } from '../../hub/src/app/light-hub.ts'
import { OmittedTxError } from '../../hub/src/net/errors.ts'
import { dirBytes, syntheticChain } from '../helpers/synthetic-chain.ts'
import { lying, type Lie } from '../helpers/light-liar.ts'
import { who } from '../helpers/core.ts'
import { tempDir } from '../helpers/userchain.ts'
import { NETTEST, NOW, until } from './net-helpers.ts'

t.setTimeout(300_000)
const BLOCKS = 1000
const OTHERS = 500

t.test('a light hub on 1,000 blocks of 500 other users\' tx_IoT', async (t) => {
  const user = who('light-hub-user')
  const coreDir = await tempDir(t, 'light-core')
  const { node, own, txs } = await syntheticChain(join(coreDir, 'userchain'), { user, blocks: BLOCKS, others: OTHERS, ownEvery: 1 })
  t.teardown(async () => { await node.close() })
  t.equal(node.store.height, BLOCKS, `${BLOCKS} blocks, ${txs} transactions`)
  t.equal(own.length, BLOCKS, 'the user\'s tx_key and one tx_IoT in each later block: more than one usertxs/1 page')

  const honest = await CoreNet.start({ chain: coreChain(node), params: NETTEST, redialMs: 0 })
  t.teardown(async () => { await honest.stop() })
  let mode: Lie = 'honest'
  const liar = await CoreNet.start({ chain: lying(coreChain(node), () => mode, { foreign: async () => { throw new Error('unused') }, substitute: () => { throw new Error('unused') } }), params: NETTEST, redialMs: 0 })
  t.teardown(async () => { await liar.stop() })

  const lightDir = await tempDir(t, 'light-hub')
  const light = await LightChain.start({ params: NETTEST, user: user.id, now: () => NOW, dataDir: lightDir, bootstrap: [honest.net.addrs()[0]!.toString(), liar.net.addrs()[0]!.toString()], redialMs: 0, refreshMs: 0 })
  t.teardown(async () => { await light.stop() })
  await until('connected to both core nodes', () => light.node.corePeers().length === 2)
  await light.refresh()
  t.equal(light.height, BLOCKS, 'every header, each checked (PoW, linkage, time)')
  t.same([...light.node.confirmed.keys()].sort(), [...own].sort(), 'every one of its own transactions')
  t.ok([...light.node.confirmed.values()].every((c) => checkProven(light.node.headers, c.proven) === 'ok'), 'each with a proof that leads to its block\'s userroot on the best header chain')

  const lightBytes = await light.storeBytes()
  const coreBytes = await dirBytes(coreDir)
  const ratio = lightBytes / coreBytes
  t.ok(ratio < 0.05, `light store ${(lightBytes / 1024).toFixed(0)} KiB is ${(100 * ratio).toFixed(2)} % of the core node's ${(coreBytes / 1048576).toFixed(1)} MiB (< 5 %)`)

  // what the hub reads of its chain comes from the proven transactions
  const hub = lightHubChain(light, user)
  t.equal((await hub.keyHistory()).length, 1, 'key epoch 1, from its proven tx_key')
  t.equal(hub.batches.depth(fromHex('id', own[own.length - 1]!)), 1, 'its last tx_IoT is in the tip')
  t.equal((await hub.view.store.userTxs(user.id)).length, BLOCKS, 'FHIR and the page list its transactions')
  t.ok(await hub.ownIoT(fromHex('id', own[1]!)), 'a diagnosis citing its tx_IoT finds it')

  // the second core node starts leaving one out: it is dropped, the honest one carries on
  mode = 'omit'
  const liars: Error[] = []
  light.on('liar', (l: { error: Error }) => liars.push(l.error))
  const liarId = liar.net.peerId.toString()
  await light.refresh()
  t.ok(liars.length === 1 && liars[0] instanceof OmittedTxError, `the omission is caught: ${liars[0]?.message}`)
  t.ok(light.node.net.peers.isBanned(liarId), 'the lying core node is banned')
  await until('and hung up', () => !light.node.corePeers().some((p) => p.toString() === liarId))
  t.same(light.node.corePeers().map(String), [honest.net.peerId.toString()], 'the honest one is kept')
  t.equal(light.node.confirmed.size, BLOCKS, 'nothing lost')

  // a restart with no core node: headers and proofs from its own store, each checked again
  await light.stop()
  const again = await LightChain.start({ params: NETTEST, user: user.id, now: () => NOW, dataDir: lightDir, refreshMs: 0 })
  t.teardown(async () => { await again.stop() })
  t.equal(again.height, BLOCKS, 'the headers survive a restart')
  t.equal(again.node.confirmed.size, BLOCKS, 'and so do the proven transactions')
})
