/**
 * A user's first tx_key on a network whose relay policy asks for a
 * proof-of-work stamp on it (roles/core/relay-policy.ts; mainnet: 12 bits,
 * here 8): the hub's own submit path (app/hub-service.ts submitTo with
 * roles/user/stamp.ts firstTxStamper, as hub.ts and `healthchain keys` wire
 * it) grinds the stamp, and a peer that enforces the stamp relays and admits
 * it; the same first tx_key without the stamp is admitted by the hub's own
 * node (its own txs are local) but refused by the peer, counted and charged
 * to the hub's peer. Real core nodes (LevelDB, libp2p gossip) on loopback.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { openAsUser, toHex, txId, type TxKey } from '../../hub/src/core/index.ts'
import { submitTo, userchainStatus } from '../../hub/src/app/hub-service.ts'
import { publishEpoch, UserKeys } from '../../hub/src/roles/user/keys.ts'
import { firstTxStamper, stampTxKey } from '../../hub/src/roles/user/stamp.ts'
import { meetsStamp } from '../../hub/src/roles/core/relay-policy.ts'
import { who } from '../helpers/core.ts'
import { meshed, startPeer, TX_TS, until } from './net-helpers.ts'

const BITS = 8
const rng = (n: number): Uint8Array => new Uint8Array(randomBytes(n))
const nobody = { lookup: () => undefined }

t.test('stampTxKey: the same epoch keys, re-sealed until the id has the stamp; a tx_key naming a doctor of unknown key is refused', async (t) => {
  const u = who('stamp-unit')
  const keys = new UserKeys(u, { rng, now: () => TX_TS, directory: nobody })
  const tx = keys.init()
  let stamped: TxKey | null = null
  for (let from = 0; stamped === null; from += 64) stamped = stampTxKey(u, tx, BITS, { seed: rng(32), from, count: 64, doctors: nobody })
  t.ok(meetsStamp(txId(stamped), BITS), `id ${toHex(txId(stamped)).slice(0, 8)}… has ${BITS} zero bits`)
  t.same([stamped.epoch, stamped.ts, stamped.user], [tx.epoch, tx.ts, tx.user], 'epoch, time and user as built')
  t.same(openAsUser(stamped, u), openAsUser(tx, u), 'the same Ik and epoch secret (the keys built need nothing else)')
  const doctor = who('stamp-unit-doctor')
  const withDoctor = new UserKeys(who('stamp-unit-2'), { rng, now: () => TX_TS, directory: { lookup: () => ({ id: doctor.id, x25519: doctor.agreement.publicKey }) } })
  withDoctor.init()
  const granted = withDoctor.grant(doctor.id)
  t.throws(() => stampTxKey(who('stamp-unit-2'), granted, BITS, { seed: rng(32), from: 0, count: 1, doctors: nobody }), /no X25519 key known/)
})

t.test('the hub stamps its first tx_key: a peer enforcing the stamp relays it; unstamped, the peer refuses and counts it', async (t) => {
  const relay = { firstTxStampBits: BITS }
  const hub = await startPeer(t, 'stamp-hub', { core: { relay } })
  const peer = await startPeer(t, 'stamp-peer', { bootstrap: [hub.addr], core: { relay } })
  await meshed([hub, peer])
  const hubId = hub.net.peerId.toString()

  // the hub's user publishes its first epoch through the stamping submit
  const user = who('stamp-hub-user')
  const keys = new UserKeys(user, { rng, now: () => TX_TS, directory: nobody })
  const lines: string[] = []
  const submit = submitTo(hub.node, undefined, firstTxStamper(user, hub.node, { rng, doctors: nobody, log: (l) => lines.push(l) }))
  const built = keys.init()
  const id = await publishEpoch(keys, built, submit)
  t.not(id, toHex(txId(built)), 'what was submitted is a stamped copy of the tx_key built')
  t.ok(meetsStamp(Buffer.from(id, 'hex'), BITS), `its id ${id.slice(0, 8)}… has ${BITS} zero bits`)
  t.ok(lines.some((l) => l.includes('stamped after')), `progress logged: ${lines.join(' | ')}`)
  t.equal(keys.current?.epoch, 1, 'the keys keep epoch 1')
  await until('the peer admits the stamped first tx_key', () => peer.node.mempool.has(id))
  t.pass('relayed by the hub and admitted by the peer enforcing the stamp')
  const second = keys.rotate()
  const rotated = await publishEpoch(keys, second, submit)
  t.equal(rotated, toHex(txId(second)), 'a later epoch is submitted as built (no stamp asked of it)')
  await until('the peer admits the second epoch', () => peer.node.mempool.has(rotated))

  // another user's first tx_key submitted without the stamper: the hub's own node takes it (local), the peer refuses it
  const bare = who('stamp-bare-user')
  const bareKeys = new UserKeys(bare, { rng, now: () => TX_TS, directory: nobody })
  let unstamped = bareKeys.init()
  while (meetsStamp(txId(unstamped), BITS)) { bareKeys.withdraw(1); unstamped = bareKeys.init() } // (1 in 256 has it by chance)
  const before = peer.node.rejected.ERR_POLICY ?? 0
  const bareId = await publishEpoch(bareKeys, unstamped, submitTo(hub.node))
  t.ok(hub.node.mempool.has(bareId), 'the hub\'s own node admits it (its own transactions are local)')
  await until('the peer counts the refusal', () => (peer.node.rejected.ERR_POLICY ?? 0) > before)
  t.notOk(peer.node.mempool.has(bareId), 'the peer did not admit the unstamped first tx_key')
  const charged = peer.net.peers.penalties(hubId).find((p) => p.reason.includes('stamp'))
  t.ok(charged !== undefined, `the peer charged the hub for it: "${charged?.reason}"`)
  t.notOk(peer.net.peers.isBanned(hubId), 'one refusal does not ban the hub')
  const status = userchainStatus(peer.node, peer.cnet)
  t.ok((status.refused.ERR_POLICY ?? 0) >= 1 && status.gossip.tx!.rejected >= 1, `the peer's status shows the refusal (refused ${JSON.stringify(status.refused)}, gossip tx ${JSON.stringify(status.gossip.tx)})`)
  t.same(status.bans, { peers: 0, addresses: 0 }, 'and no ban in force')
})
