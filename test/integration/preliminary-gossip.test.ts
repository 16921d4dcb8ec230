/**
 * Preliminary findings over gossip (net/preliminary.ts) between two real
 * libp2p nodes on loopback: a doctor's signed tx_diag reaches the
 * subscriber; a forged one (signature not the doctor's), one not for this
 * user, an oversize or malformed message are dropped with their reason
 * before anything is fetched.
 */
import t from 'tap'
import { buildTxDiag, encodeTx, sha256, toHex, txId, utf8Bytes, MAX_TX_BYTES, type TxDiag } from '../../hub/src/core/index.ts'
import { createNetNode } from '../../hub/src/net/node.ts'
import { onPreliminary, publishPreliminary } from '../../hub/src/net/preliminary.ts'
import { who } from '../helpers/core.ts'
import { until } from '../integration/net-helpers.ts'

t.test('a signed finding is delivered; forged, foreign, oversize and malformed ones are dropped', async (t) => {
  const hub = await createNetNode({ network: 'devnet' })
  const doctorNet = await createNetNode({ network: 'devnet' })
  t.teardown(async () => { await doctorNet.stop(); await hub.stop() })
  const doctor = who('prelim-doctor')
  const mine = sha256(utf8Bytes('prelim-own-iot'))
  const got: TxDiag[] = []
  const dropped: string[] = []
  onPreliminary(hub, 'devnet', {
    wanted: (tx) => toHex(tx.causes[0]!) === toHex(mine),
    onFinding: async (tx) => { got.push(tx) },
    dropped: (why) => { dropped.push(why) }
  })
  await doctorNet.libp2p.dial(hub.addrs()[0]!)
  await until('the doctor to see the hub subscribed', () => doctorNet.pubsub.getSubscribers('/healthchain/devnet/prelim/1').length > 0, 30_000)

  const good = buildTxDiag(doctor, { ts: 1_790_000_000, causes: [mine], hedm: sha256(utf8Bytes('hedm')) })
  await publishPreliminary(doctorNet, 'devnet', encodeTx(good))
  await until('the finding delivered', () => got.length === 1, 30_000)
  t.equal(toHex(txId(got[0]!)), toHex(txId(good)), 'the doctor\'s tx_diag arrives as sent')

  // preliminary-forged-signature: someone else's bytes under the doctor's ID
  const forged = encodeTx(buildTxDiag(doctor, { ts: 1_790_000_001, causes: [mine], hedm: sha256(utf8Bytes('hedm-2')) }))
  forged[forged.length - 1]! ^= 1
  await publishPreliminary(doctorNet, 'devnet', forged)
  const foreign = buildTxDiag(doctor, { ts: 1_790_000_002, causes: [sha256(utf8Bytes('someone else'))], hedm: sha256(utf8Bytes('hedm-3')) })
  await publishPreliminary(doctorNet, 'devnet', encodeTx(foreign))
  await publishPreliminary(doctorNet, 'devnet', new Uint8Array([1, 2, 3]))
  await publishPreliminary(doctorNet, 'devnet', new Uint8Array(MAX_TX_BYTES + 1))
  await until('four drops', () => dropped.length >= 4, 30_000)
  t.same([...dropped].sort(), ['bad signature', 'malformed', 'not for this user', 'oversize'], 'each dropped, with its reason')
  t.equal(got.length, 1, 'nothing else delivered')
})
