/**
 * Attack: a withdrawal of consent the patient did not sign — a stranger's
 * signature under the patient's ID — sent to the accounting nodes (to stop
 * emergency access to the patient) or to a storage node (to drop the
 * patient's batches). Both refuse it on the signature; nothing reaches
 * Docchain and nothing is unpinned. The patient's own withdrawal commits,
 * and from then on no emergency request for that patient is admitted.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { buildTxIoT, buildTxWithdrawal, encodeTx, sealBatch, sha256, toHex, utf8Bytes } from '../../hub/src/core/index.ts'
import { cidFromDigest } from '../../hub/src/ipfs/cid.ts'
import { HAVE } from '../../hub/src/ipfs/protocol.ts'
import { requestErase, serveErase } from '../../hub/src/roles/storage/index.ts'
import { multiaddr } from '@multiformats/multiaddr'
import { emergencyWorld, patient, stranger } from '../helpers/emergency-world.ts'
import { until } from '../helpers/doctor-world.ts'
import { addr, ipfsNode, storageNode, tempDir } from '../helpers/ipfs.ts'

const now = (): number => Math.floor(Date.now() / 1000) - 5

t.test('a withdrawal not signed by the patient is refused by the accounting and storage nodes', async (t) => {
  const w = await emergencyWorld(t, t.testdir({}))
  await w.epoch({ kind: 'init' })
  const forged = { ...buildTxWithdrawal(stranger, { ts: now() }), patient: patient.id }

  t.match(await w.submit(encodeTx(forged)), { ok: false, code: 'ERR_BAD_SIGNATURE' }, 'the accounting node refuses it')
  t.equal((await w.docchain()).length, 0, 'nothing reached Docchain')

  // a storage node holding the patient's batch
  const uploader = await ipfsNode(t, await tempDir(t, 'forged-uploader'))
  const node = await storageNode(t, await tempDir(t, 'forged-storage'))
  const erase = await serveErase(node.ipfs.libp2p, node)
  t.teardown(erase.stop)
  const sealed = sealBatch(w.keys.current!.ik, new Uint8Array(randomBytes(12)), patient.id, 1, utf8Bytes('readings'))
  await uploader.put(sealed)
  const iot = buildTxIoT(patient, { ts: now(), heiot: sha256(sealed), epoch: 1 })
  t.equal((await node.onTx(iot, [addr(uploader)]))?.state, 'pinned')
  await t.rejects(requestErase(uploader.libp2p, multiaddr(addr(node)), forged), { message: /signature does not verify/ }, 'the storage node refuses it')
  t.equal(erase.refused['bad-signature'], 1, 'and counts it')
  t.equal(await uploader.peerHas(addr(node), cidFromDigest(iot.heiot)), HAVE.PINNED, 'the batch is still pinned and served')
  t.notOk(node.isErased(toHex(patient.id)))

  // an emergency request is still admitted before the patient withdraws; the patient's own withdrawal commits, and after it none is
  const genuine = buildTxWithdrawal(patient, { ts: now() })
  t.match(await w.submit(encodeTx(genuine)), { ok: true }, 'the patient\'s own withdrawal commits on Docchain')
  await until('every member folds the withdrawal', async () => w.nodes.every((n) => n.registry.withdrawn(patient.id) !== undefined) ? true : undefined, 30_000)
  t.match(await w.submit(encodeTx(w.request([1]))), { ok: false, code: 'ERR_CONSENT_WITHDRAWN', reason: /no emergency access/ }, 'no emergency request for a withdrawn patient')
  t.match(await w.submit(encodeTx(buildTxWithdrawal(patient, { ts: now() + 1 }))), { ok: false, code: 'ERR_CONSENT_WITHDRAWN', reason: /already on Docchain/ }, 'nor a second withdrawal')
  t.equal(await requestErase(uploader.libp2p, multiaddr(addr(node)), genuine), 1, 'the same signed bytes erase the patient\'s batch on the storage node')
  t.equal(await uploader.peerHas(addr(node), cidFromDigest(iot.heiot)), HAVE.ABSENT)
})
