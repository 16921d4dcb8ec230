/**
 * Attack: a stranger asks a storage node to drop a patient's batches — with
 * its own valid withdrawal, with a non-withdrawal transaction, with garbage
 * or an oversize frame. The erase protocol erases only the signer's own
 * data: the patient's pins stay and are served; the bad requests are
 * refused before any work and counted by reason.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { buildTxIoT, buildTxWithdrawal, encodeTx, sha256, toHex } from '../../hub/src/core/index.ts'
import { cidFromDigest } from '../../hub/src/ipfs/cid.ts'
import { HAVE } from '../../hub/src/ipfs/protocol.ts'
import { request } from '../../hub/src/net/reqresp.ts'
import { ERASE_PROTOCOL, requestErase, serveErase } from '../../hub/src/roles/storage/index.ts'
import { multiaddr } from '@multiformats/multiaddr'
import { who } from '../helpers/core.ts'
import { addr, ipfsNode, storageNode, tempDir } from '../helpers/ipfs.ts'

t.test('a stranger cannot unpin a patient\'s batches', async (t) => {
  const patient = who('unpin-patient')
  const stranger = who('unpin-stranger')
  const uploader = await ipfsNode(t, await tempDir(t, 'unpin-uploader'))
  const node = await storageNode(t, await tempDir(t, 'unpin-storage'))
  const erase = await serveErase(node.ipfs.libp2p, node, { rate: { perSecond: 100, burst: 100 } })
  t.teardown(erase.stop)
  const sealed = new Uint8Array(randomBytes(500))
  await uploader.put(sealed)
  const tx = buildTxIoT(patient, { ts: 1_790_000_000, heiot: sha256(sealed), epoch: 1 })
  t.equal((await node.onTx(tx, [addr(uploader)]))?.state, 'pinned')
  const cid = cidFromDigest(tx.heiot)
  const to = multiaddr(addr(node))

  t.equal(await requestErase(uploader.libp2p, to, buildTxWithdrawal(stranger, { ts: 1_790_000_100 })), 0, 'the stranger\'s own withdrawal erases nothing of the patient')
  t.ok(node.isErased(toHex(stranger.id)), 'only the stranger is recorded as withdrawn')

  // another signed kind is not a withdrawal; garbage does not decode; an oversize frame is not read
  await t.rejects(request(uploader.libp2p, to, ERASE_PROTOCOL, encodeTx(tx)), { message: /not a withdrawal of consent/ })
  await t.rejects(request(uploader.libp2p, to, ERASE_PROTOCOL, new Uint8Array(randomBytes(100))))
  await t.rejects(request(uploader.libp2p, to, { ...ERASE_PROTOCOL, maxRequestBytes: 4096 }, new Uint8Array(1000)), { message: /TOO_LARGE|at most 256 bytes/ })
  t.equal(erase.refused.malformed, 2, 'refusals counted')

  t.equal(await uploader.peerHas(addr(node), cid), HAVE.PINNED, 'the patient\'s batch is still pinned and served')
  t.notOk(node.isErased(toHex(patient.id)))
})
