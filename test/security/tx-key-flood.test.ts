/**
 * Attack tx-key-flood (DESIGN §6 relay policy): tx_key paid no fee, needed
 * no balance and was never evicted, and a full mempool did not penalise the
 * sender — a fresh key chaining epochs filled the pool and the hub's own
 * tx_IoT and tx_key were refused. Real nodes on loopback: the hub's core
 * node (LevelDB, libp2p gossip, its miner) and a stranger's libp2p node
 * that floods the tx topic with fresh identities' tx_keys without the
 * proof-of-work stamp, one stamped identity chaining epochs, an
 * established identity's tx_IoT over its quota, and raw volume over the
 * per-peer rate. The hub's own tx_IoT and tx_key are admitted throughout
 * and mined; relayed txs never take more than their share of the pool;
 * the flooder is penalised and banned.
 */
import t from 'tap'
import { buildTxIoT, buildTxKey, encodeTx, sha256, txId, utf8Bytes, type Identity, type TxKey } from '../../hub/src/core/index.ts'
import { createNetNode } from '../../hub/src/net/node.ts'
import { meetsStamp } from '../../hub/src/roles/core/relay-policy.ts'
import { who } from '../helpers/core.ts'
import { mine, NETTEST, startPeer, txHex, TX_TS, until } from '../integration/net-helpers.ts'

const STAMP = 8
const h = (s: string): Uint8Array => sha256(utf8Bytes(s))

/** A tx_key opening `epoch`; for a first one with `stamp`, its HPKE seed ground until the id has STAMP zero bits. */
export function txKey (user: Identity, epoch: number, stamp: boolean, salt = ''): TxKey {
  for (let i = 0; ; i++) {
    const tx = buildTxKey(user, { ts: TX_TS, epoch, ik: h(`ik-${salt}-${epoch}`), epochSecret: h(`s-${salt}-${epoch}`), doctors: [], ikmE: h(`e-${salt}-${epoch}-${i}`) })
    if (meetsStamp(txId(tx), STAMP) === stamp) return tx // an unstamped one must not carry a stamp by chance (1 in 2^STAMP)
  }
}

t.test('tx-key-flood: a stranger floods tx_key chains and cheap txs; the hub\'s own txs are admitted and mined, the flooder banned', async (t) => {
  const hub = await startPeer(t, 'flood-hub', {
    core: { mempoolBytes: 64 * 1024, relay: { firstTxStampBits: STAMP, maxPendingKeys: 2, iotPerWindow: 20, windowSeconds: 600, peerRate: { perSecond: 200, burst: 400 } } }
  })
  await hub.miner.mineOnce()
  const flooder = await createNetNode({ network: NETTEST.name })
  t.teardown(async () => { await flooder.stop() })
  flooder.pubsub.subscribe(flooder.topics.tx)
  await flooder.connect(hub.addr)
  const fid = flooder.peerId.toString()
  await until('the flooder in the tx mesh', () => hub.net.pubsub.getSubscribers(hub.net.topics.tx).some((p) => p.equals(flooder.peerId)) && flooder.pubsub.getSubscribers(flooder.topics.tx).length > 0)

  // What the stranger sends: a stamped first tx_key (which a new identity may relay) and its chain of epochs,
  // fresh identities' unstamped tx_keys, and tx_IoT of the stamped identity far over its quota.
  const sybil = who('flood-sybil')
  const chain = [txKey(sybil, 1, true, 'sybil'), ...Array.from({ length: 40 }, (_, i) => txKey(sybil, i + 2, false, 'sybil'))]
  const fresh = Array.from({ length: 300 }, (_, i) => txKey(who(`flood-fresh-${i}`), 1, false, `fresh-${i}`))
  const spam = Array.from({ length: 300 }, (_, i) => buildTxIoT(sybil, { ts: TX_TS, heiot: h(`spam-${i}`), epoch: 1 }))
  // (in this order: each kind of refusal costs the flooder, and twenty ban it)
  const flood = [chain[0]!, ...spam.slice(0, 30), ...chain.slice(1, 10), ...fresh, ...spam.slice(30), ...chain.slice(10)].map(encodeTx)
  t.ok(fresh.every((tx) => !meetsStamp(txId(tx), STAMP)), 'the fresh identities\' tx_keys carry no stamp')

  // The hub's own user: its first tx_key, then a tx_IoT per round, submitted to its own node during the flood.
  const me = who('flood-hub-user')
  const mine1 = txKey(me, 1, false, 'me')
  const own = [mine1, ...Array.from({ length: 10 }, (_, i) => buildTxIoT(me, { ts: TX_TS, heiot: h(`own-${i}`), epoch: 1 }))]
  const ownVerdicts: boolean[] = []
  let sent = 0
  const flooding = (async () => {
    for (const b of flood) {
      try { await flooder.pubsub.publish(flooder.topics.tx, b); sent++ } catch { /* hung up */ }
    }
  })()
  for (const tx of own) {
    ownVerdicts.push((await hub.node.submitTx(tx)).accepted)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  await flooding
  await until('the flooder banned', () => hub.net.peers.isBanned(fid))
  t.same(ownVerdicts, own.map(() => true), `every one of the hub's own ${own.length} txs was admitted during the flood`)
  const pool = hub.node.mempool
  t.ok(pool.relayBytes <= pool.maxBytes * 0.75, `relayed txs hold at most their share of the pool (${pool.relayBytes} of ${pool.maxBytes} bytes)`)
  t.ok(pool.pendingKeys(sybil.id) <= 2, `the chaining identity got at most 2 tx_key pending (${pool.pendingKeys(sybil.id)} of 10 sent before the ban)`)
  t.ok(fresh.every((tx) => !pool.has(txId(tx))), 'no fresh identity\'s unstamped tx_key got in')
  const spamIn = spam.filter((tx) => pool.has(txId(tx))).length
  t.ok(spamIn <= 20 && spamIn > 0, `the established stranger got at most its quota of 20 tx_IoT in (${spamIn})`)
  const penalties = hub.net.peers.penalties(fid)
  for (const why of ['quota', 'stamp']) t.ok(penalties.some((p) => p.reason.includes(why)), `the flooder was penalised for ${why} (e.g. "${penalties.find((p) => p.reason.includes(why))?.reason}")`)
  t.ok(hub.net.peers.isBanned(fid), `and banned (score ${hub.net.peers.score(fid)}; ${sent} of ${flood.length} published before the hang-up)`)
  await until('the flooder hung up', () => hub.net.libp2p.getConnections().every((c) => !c.remotePeer.equals(flooder.peerId)))

  // The hub mines its own txs.
  await mine(hub)
  await until('the hub\'s own txs mined', () => own.every((tx) => hub.node.store.isConfirmed(txId(tx))))
  t.pass(`the hub's own tx_key and ${own.length - 1} tx_IoT are on Userchain (height ${hub.node.store.height})`)
  // And a later own tx still finds room, even when relayed entries fill what is theirs.
  const later = buildTxIoT(me, { ts: TX_TS, heiot: h('own-later'), epoch: 1 })
  t.ok((await hub.node.submitTx(later)).accepted, 'a later own tx_IoT is admitted')
  t.ok(hub.node.mempool.has(txHex(later)))
})
